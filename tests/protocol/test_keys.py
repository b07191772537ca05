"""Key generation, PEM round trips (plain and encrypted) and the algorithm a stored key dictates."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa

from protocol import keys
from protocol.errors import LocalError, MalformedInput

KEYS = Path(__file__).resolve().parents[2] / "specs" / "test-vectors" / "keys"


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return keys.generate_rsa_key()


def test_generated_keys_have_the_documented_shape(rsa_key: rsa.RSAPrivateKey) -> None:
    assert rsa_key.key_size == 2048
    assert rsa_key.public_key().public_numbers().e == 65537
    ed = keys.generate_ed25519_key()
    assert isinstance(ed, ed25519.Ed25519PrivateKey)
    assert keys.generate_ed25519_key().public_key() != ed.public_key()


def test_weak_rsa_generation_is_refused() -> None:
    with pytest.raises(LocalError, match="2048, 3072 or 4096"):
        keys.generate_rsa_key(1024)


def test_plain_pem_round_trip(rsa_key: rsa.RSAPrivateKey) -> None:
    pem = keys.private_key_to_pem(rsa_key)
    assert pem.startswith("-----BEGIN PRIVATE KEY-----")
    loaded = keys.load_private_key_pem(pem)
    assert isinstance(loaded, rsa.RSAPrivateKey)
    assert loaded.private_numbers() == rsa_key.private_numbers()


def test_encrypted_pem_needs_the_right_passphrase() -> None:
    key = keys.generate_ed25519_key()
    pem = keys.private_key_to_pem(key, "correct horse")
    assert pem.startswith("-----BEGIN ENCRYPTED PRIVATE KEY-----")
    assert key.private_bytes_raw().hex() not in pem
    with pytest.raises(LocalError, match="encrypted: set the passphrase"):
        keys.load_private_key_pem(pem)
    with pytest.raises(LocalError, match="wrong passphrase"):
        keys.load_private_key_pem(pem, "battery staple")
    loaded = keys.load_private_key_pem(pem.encode(), b"correct horse")
    assert isinstance(loaded, ed25519.Ed25519PrivateKey)
    assert loaded.private_bytes_raw() == key.private_bytes_raw()


def test_passphrase_given_for_a_plain_key_is_ignored_not_fatal() -> None:
    key = keys.generate_ed25519_key()
    loaded = keys.load_private_key_pem(keys.private_key_to_pem(key), "unused")
    assert isinstance(loaded, ed25519.Ed25519PrivateKey)


def test_empty_passphrase_is_refused() -> None:
    with pytest.raises(LocalError, match="empty passphrase"):
        keys.private_key_to_pem(keys.generate_ed25519_key(), "")


def test_damaged_or_foreign_private_keys_are_local_errors() -> None:
    with pytest.raises(LocalError, match="not a readable PEM"):
        keys.load_private_key_pem("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
    p384 = ec.generate_private_key(ec.SECP384R1())
    with pytest.raises(LocalError, match="only RSA and Ed25519"):
        keys.load_private_key_pem(keys.private_key_to_pem(p384))  # type: ignore[arg-type]


def test_public_pem_round_trip_and_algorithm(rsa_key: rsa.RSAPrivateKey) -> None:
    pem = keys.public_key_to_pem(rsa_key)
    assert pem.startswith("-----BEGIN PUBLIC KEY-----")
    assert keys.public_key_to_pem(rsa_key.public_key()) == pem
    public = keys.load_public_key_pem(
        pem, key_id="https://a.example/actor#main-key", owner="https://a.example/actor"
    )
    assert public.algorithm == "rsa-v1_5-sha256"
    assert public.key.public_numbers() == rsa_key.public_key().public_numbers()  # type: ignore[union-attr]
    pss = keys.load_public_key_pem(pem, key_id="k", owner="o", rsa_pss=True)
    assert pss.algorithm == "rsa-pss-sha512"


def test_pkcs1_rsa_public_key_is_accepted() -> None:
    pem = (KEYS / "rfc9421-test-key-rsa-public.pem").read_text()
    assert pem.startswith("-----BEGIN RSA PUBLIC KEY-----")
    assert keys.load_public_key_pem(pem, key_id="k", owner="o").algorithm == "rsa-v1_5-sha256"


def test_ed25519_and_p256_public_keys() -> None:
    ed = keys.load_public_key_pem(
        (KEYS / "rfc9421-test-key-ed25519-public.pem").read_text(), key_id="k", owner="o"
    )
    assert ed.algorithm == "ed25519"
    p256 = keys.load_public_key_pem(
        (KEYS / "rfc9421-test-key-ecc-p256-public.pem").read_text(), key_id="k", owner="o"
    )
    assert p256.algorithm == "ecdsa-p256-sha256"


def test_unusable_public_keys_are_remote_errors() -> None:
    with pytest.raises(MalformedInput, match="not a readable PEM"):
        keys.load_public_key_pem("garbage", key_id="k", owner="o")
    p384 = ec.generate_private_key(ec.SECP384R1()).public_key()
    with pytest.raises(MalformedInput, match="only P-256"):
        keys.PublicKey(key_id="k", owner="o", key=p384)
    ed448_pem = keys.public_key_to_pem(ed448.Ed448PrivateKey.generate().public_key())  # type: ignore[arg-type]
    with pytest.raises(MalformedInput, match="unsupported public key type"):
        keys.load_public_key_pem(ed448_pem, key_id="k", owner="o")
    with pytest.raises(MalformedInput, match="longer than 16 KiB"):
        keys.load_public_key_pem("A" * 20_000, key_id="k", owner="o")
    with pytest.raises(MalformedInput, match="without a key id"):
        keys.PublicKey(key_id="", owner="o", key=keys.generate_ed25519_key().public_key())
    with pytest.raises(MalformedInput, match="not RSA"):
        keys.PublicKey(key_id="k", owner="o", key=keys.generate_ed25519_key().public_key(), rsa_pss=True)


def test_rsa_size_bounds() -> None:
    small = (KEYS / "cavage-test-public.pem").read_text()
    assert keys.load_public_key_pem(small, key_id="Test", owner="o").key.key_size == 1024  # type: ignore[union-attr]
    huge = rsa.generate_private_key(public_exponent=65537, key_size=1024).public_key()
    numbers = rsa.RSAPublicNumbers(e=65537, n=(1 << 8199) | huge.public_numbers().n)
    with pytest.raises(MalformedInput, match="1024 to 8192 accepted"):
        keys.PublicKey(key_id="k", owner="o", key=numbers.public_key())


@pytest.mark.parametrize(
    "exponent",
    [3, 17, 65539, (1 << 64) + 13, (1 << 2000) + 1],
    ids=["3", "17", "65539", "65-bit", "2001-bit"],
)
def test_rsa_exponents_other_than_65537_are_refused(rsa_key: rsa.RSAPrivateKey, exponent: int) -> None:
    """A large exponent makes every verification with the key cost many times more (a forger's requests
    included); a small one is a needless risk. Refused however the key arrives: object, SPKI or PKCS#1 PEM."""
    n = rsa_key.public_key().public_numbers().n
    odd = rsa.RSAPublicNumbers(e=exponent, n=n).public_key()
    with pytest.raises(MalformedInput, match="only 65537 is accepted"):
        keys.PublicKey(key_id="k", owner="o", key=odd)
    for form in (serialization.PublicFormat.SubjectPublicKeyInfo, serialization.PublicFormat.PKCS1):
        pem = odd.public_bytes(serialization.Encoding.PEM, form).decode()
        with pytest.raises(MalformedInput, match="public exponent"):
            keys.load_public_key_pem(pem, key_id="k", owner="o")
    normal = keys.load_public_key_pem(keys.public_key_to_pem(rsa_key), key_id="k", owner="o")
    assert normal.algorithm == "rsa-v1_5-sha256"


def test_signing_key_and_its_public_half(rsa_key: rsa.RSAPrivateKey) -> None:
    signing = keys.SigningKey(key_id="https://a.example/actor#main-key", private_key=rsa_key)
    assert signing.algorithm == "rsa-v1_5-sha256"
    public = keys.public_key_of(signing, owner="https://a.example/actor")
    assert (public.key_id, public.owner, public.algorithm) == (
        signing.key_id,
        "https://a.example/actor",
        "rsa-v1_5-sha256",
    )
    ed_signing = keys.SigningKey(key_id="k", private_key=keys.generate_ed25519_key())
    assert ed_signing.algorithm == "ed25519"
    with pytest.raises(LocalError, match="without a key id"):
        keys.SigningKey(key_id="", private_key=rsa_key)
    with pytest.raises(LocalError, match="printable ASCII"):
        keys.SigningKey(key_id="https://a.example/\r\nX-Injected: 1", private_key=rsa_key)


def test_traditional_openssl_encrypted_pem_is_recognised() -> None:
    key = keys.generate_rsa_key()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.BestAvailableEncryption(b"secret"),
    )
    assert b"Proc-Type: 4,ENCRYPTED" in pem
    with pytest.raises(LocalError, match="encrypted: set the passphrase"):
        keys.load_private_key_pem(pem)
    with pytest.raises(LocalError, match="wrong passphrase"):
        keys.load_private_key_pem(pem, "other")
    assert isinstance(keys.load_private_key_pem(pem, "secret"), rsa.RSAPrivateKey)


def test_a_key_of_our_own_loads_without_the_rsa_check_and_signs_the_same() -> None:
    # the check holds the interpreter ~90 ms a key: a server of 1,000 accounts skips it for the keys it made
    # (node/server.py actor_keys); what it loads must be the very same key, and garbage is still refused
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    from protocol.errors import LocalError
    from protocol.keys import generate_rsa_key, load_private_key_pem, private_key_to_pem

    key = generate_rsa_key()
    pem = private_key_to_pem(key, None)
    fast, checked = load_private_key_pem(pem, validate=False), load_private_key_pem(pem)
    assert isinstance(fast, rsa.RSAPrivateKey) and isinstance(checked, rsa.RSAPrivateKey)
    assert fast.private_numbers() == checked.private_numbers() == key.private_numbers()
    signature = fast.sign(b"hello", padding.PKCS1v15(), hashes.SHA256())
    key.public_key().verify(signature, b"hello", padding.PKCS1v15(), hashes.SHA256())
    sealed = private_key_to_pem(key, "passphrase")
    assert (
        load_private_key_pem(sealed, "passphrase", validate=False).private_numbers() == key.private_numbers()
    )
    for bad, passphrase in ((pem[:200], None), ("not a key", None), (sealed, "wrong"), (sealed, None)):
        with pytest.raises(LocalError):
            load_private_key_pem(bad, passphrase, validate=False)
