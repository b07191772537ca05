"""Keys for wire signatures: generation, PEM in and out, and the public-key record verification works from.

Rules kept here (specs/HTTP-SIGNATURES.md §2, docs/ARCHITECTURE.md §4 "Keys"):
- The one exception to "no randomness" in ``protocol/``: key generation and the salt of an encrypted PEM use
  ``cryptography``'s CSPRNG. Nothing else here is random.
- The signature algorithm is a property of the stored key (``PublicKey.algorithm``), never of a request.
- Private keys at rest are PKCS#8 PEM, encrypted with the best scheme ``cryptography`` offers when the owner
  set a passphrase. Loading our own key file wrongly is a local fault (``LocalError``); a peer's unusable
  public key is a remote one (``MalformedInput``).
Multikey (FEP-521a) encoding lives in ``protocol/multikey.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, TypeAlias

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from protocol.errors import LocalError, MalformedInput

__all__ = [
    "MAX_RSA_BITS",
    "MIN_RSA_BITS",
    "RSA_EXPONENT",
    "KeyAlgorithm",
    "PrivateKey",
    "PublicKey",
    "PublicKeyObject",
    "SigningKey",
    "generate_ed25519_key",
    "generate_rsa_key",
    "load_private_key_pem",
    "load_public_key_pem",
    "private_key_to_pem",
    "public_key_of",
    "public_key_to_pem",
]

PrivateKey: TypeAlias = rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey
PublicKeyObject: TypeAlias = rsa.RSAPublicKey | ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey

# What a stored key may be used for. RFC 9421 names; cavage's rsa-sha256/hs2019 map onto "rsa-v1_5-sha256".
# rsa-pss-sha512 and ecdsa-p256-sha256 are verify-only (RFC 9421 Appendix B vectors); we never sign with them.
KeyAlgorithm: TypeAlias = Literal["rsa-v1_5-sha256", "rsa-pss-sha512", "ed25519", "ecdsa-p256-sha256"]

# 1024 is below what we generate but it is what draft-cavage's own test key and a few old servers use; more
# than 8192 bits would let a peer make every verification of theirs cost us hundreds of milliseconds.
MIN_RSA_BITS = 1024
MAX_RSA_BITS = 8192
# The only public exponent accepted. Verification costs about one modular multiplication per bit of the
# exponent: a peer publishing a key with a 2,000-bit exponent made each of its (or a forger's) requests cost
# several times the CPU of a normal one. Every server we know of (and every key we generate) uses 65537.
RSA_EXPONENT = 65537


@dataclass(frozen=True, kw_only=True, slots=True)
class PublicKey:
    """A peer's (or our own) public key as stored: its id, the actor that owns it, and the key itself.

    ``algorithm`` is derived from the key type: RSA keys are PKCS#1 v1.5 SHA-256 unless the key record says
    RSA-PSS (``rsa_pss=True``, only for RFC 9421 vectors); Ed25519 keys are Ed25519; P-256 keys are ECDSA.
    """

    key_id: str
    owner: str
    key: PublicKeyObject
    rsa_pss: bool = False
    # Derived once: isinstance checks against cryptography's ABCs cost microseconds on the inbox hot path.
    algorithm: KeyAlgorithm = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.key_id:
            raise MalformedInput("public key without a key id", field="key_id")
        if isinstance(self.key, rsa.RSAPublicKey):
            if not MIN_RSA_BITS <= self.key.key_size <= MAX_RSA_BITS:
                raise MalformedInput(
                    f"RSA key of {self.key.key_size} bits; {MIN_RSA_BITS} to {MAX_RSA_BITS} accepted",
                    field="key",
                )
            exponent = self.key.public_numbers().e
            if exponent != RSA_EXPONENT:
                shown = str(exponent) if exponent < 1 << 32 else f"of {exponent.bit_length()} bits"
                raise MalformedInput(
                    f"RSA key with public exponent {shown}; only {RSA_EXPONENT} is accepted: "
                    "publish a key generated with e = 65537",
                    field="key",
                )
        elif isinstance(self.key, ec.EllipticCurvePublicKey):
            if not isinstance(self.key.curve, ec.SECP256R1):
                raise MalformedInput(f"EC key on {self.key.curve.name}; only P-256 is accepted", field="key")
        elif not isinstance(self.key, ed25519.Ed25519PublicKey):
            raise MalformedInput(f"unsupported key type {type(self.key).__name__}", field="key")
        if self.rsa_pss and not isinstance(self.key, rsa.RSAPublicKey):
            raise MalformedInput("rsa_pss set on a key that is not RSA", field="rsa_pss")
        algorithm: KeyAlgorithm
        if isinstance(self.key, rsa.RSAPublicKey):
            algorithm = "rsa-pss-sha512" if self.rsa_pss else "rsa-v1_5-sha256"
        elif isinstance(self.key, ed25519.Ed25519PublicKey):
            algorithm = "ed25519"
        else:
            algorithm = "ecdsa-p256-sha256"
        object.__setattr__(self, "algorithm", algorithm)


@dataclass(frozen=True, kw_only=True, slots=True)
class SigningKey:
    """Our private key and the id peers will look it up by (the actor's ``publicKey.id``)."""

    key_id: str
    private_key: PrivateKey
    algorithm: KeyAlgorithm = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.key_id:
            raise LocalError("signing key without a key id", field="key_id")
        if not (self.key_id.isascii() and self.key_id.isprintable()):
            raise LocalError("a key id goes into HTTP headers: printable ASCII only", field="key_id")
        if not isinstance(self.private_key, rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey):
            raise LocalError("signing keys are RSA or Ed25519", field="private_key")
        ed = isinstance(self.private_key, ed25519.Ed25519PrivateKey)
        object.__setattr__(self, "algorithm", "ed25519" if ed else "rsa-v1_5-sha256")


def generate_rsa_key(bits: int = 2048) -> rsa.RSAPrivateKey:
    """A new RSA key for HTTP signatures (2048 bits: what Mastodon and everyone else verify)."""
    if bits not in (2048, 3072, 4096):
        raise LocalError("RSA keys are generated with 2048, 3072 or 4096 bits", field="bits")
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def generate_ed25519_key() -> ed25519.Ed25519PrivateKey:
    """A new Ed25519 key (record proofs, RFC 9421 between Kith peers)."""
    return ed25519.Ed25519PrivateKey.generate()


def _passphrase_bytes(passphrase: str | bytes | None) -> bytes | None:
    if passphrase is None:
        return None
    raw = passphrase.encode() if isinstance(passphrase, str) else passphrase
    if not raw:
        raise LocalError("an empty passphrase is no passphrase: pass None to store the key unencrypted")
    return raw


def private_key_to_pem(key: PrivateKey, passphrase: str | bytes | None = None) -> str:
    """PKCS#8 PEM; encrypted with ``BestAvailableEncryption`` when a passphrase is given."""
    raw = _passphrase_bytes(passphrase)
    encryption: serialization.KeySerializationEncryption = (
        serialization.NoEncryption() if raw is None else serialization.BestAvailableEncryption(raw)
    )
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    ).decode()


def load_private_key_pem(
    pem: str | bytes, passphrase: str | bytes | None = None, *, validate: bool = True
) -> PrivateKey:
    """Our own key file back; every failure says what to do about it. ``validate=False`` skips the RSA key's
    consistency check, for keys this server made and keeps itself: the check takes about 90 ms a key and holds
    the interpreter lock throughout, so a server loading 1,000 accounts' keys stalled every request for over a
    minute (bench/bench_accounts.py)."""
    data = pem.encode() if isinstance(pem, str) else pem
    raw = _passphrase_bytes(passphrase)
    # PKCS#8 says so in its BEGIN line; traditional OpenSSL PEM in a "Proc-Type: 4,ENCRYPTED" line after it.
    encrypted = b"ENCRYPTED" in data.lstrip()[:120]
    if encrypted and raw is None:
        raise LocalError("the private key is encrypted: set the passphrase it was stored with")
    try:
        key = serialization.load_pem_private_key(
            data, password=raw if encrypted else None, unsafe_skip_rsa_key_validation=not validate
        )
    except TypeError as exc:
        raise LocalError(f"the private key could not be loaded with this passphrase setting: {exc}") from None
    except (ValueError, UnsupportedAlgorithm):
        if encrypted:
            raise LocalError("wrong passphrase for the private key (or the key file is damaged)") from None
        raise LocalError("the private key is not a readable PEM key") from None
    if not isinstance(key, rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey):
        raise LocalError(f"the private key is {type(key).__name__}; only RSA and Ed25519 are used")
    return key


def public_key_to_pem(key: PrivateKey | PublicKeyObject) -> str:
    """SubjectPublicKeyInfo PEM (``BEGIN PUBLIC KEY``), the form actors publish as ``publicKeyPem``."""
    public = key.public_key() if isinstance(key, rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey) else key
    return public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def load_public_key_pem(pem: str | bytes, *, key_id: str, owner: str, rsa_pss: bool = False) -> PublicKey:
    """A peer's ``publicKeyPem``: SubjectPublicKeyInfo, or PKCS#1 ``RSA PUBLIC KEY`` as some servers send."""
    data = pem.encode() if isinstance(pem, str) else pem
    if len(data) > 16_384:
        raise MalformedInput("public key PEM longer than 16 KiB", field="publicKeyPem")
    try:
        key = serialization.load_pem_public_key(data.strip())
    except (ValueError, UnsupportedAlgorithm):
        raise MalformedInput("publicKeyPem is not a readable PEM public key", field="publicKeyPem") from None
    if not isinstance(key, rsa.RSAPublicKey | ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey):
        raise MalformedInput(f"unsupported public key type {type(key).__name__}", field="publicKeyPem")
    return PublicKey(key_id=key_id, owner=owner, key=key, rsa_pss=rsa_pss)


def public_key_of(key: SigningKey, *, owner: str) -> PublicKey:
    """The public half of one of our signing keys, as a verifier would store it."""
    return PublicKey(key_id=key.key_id, owner=owner, key=key.private_key.public_key())
