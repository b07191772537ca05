"""RFC 9421 behaviour beyond the vectors, and a cross-check against http-message-signatures both ways."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import http_message_signatures as hms
import pytest

from protocol import keys, rfc9421, sfv
from protocol.errors import LocalError, MalformedInput, SignatureError, TooLarge

NOW = datetime(2026, 11, 22, 3, 0, 0, tzinfo=UTC)
KEY_ID = "https://a.example/users/alice#ed25519-key"
URL = "https://b.example/users/bob/inbox"
BODY = b'{"type":"Offer"}'
HEADERS = [("Host", "b.example"), ("Content-Type", "application/activity+json")]


@pytest.fixture(scope="module")
def ed_signing() -> keys.SigningKey:
    return keys.SigningKey(key_id=KEY_ID, private_key=keys.generate_ed25519_key())


@pytest.fixture(scope="module")
def ed_public(ed_signing: keys.SigningKey) -> keys.PublicKey:
    return keys.public_key_of(ed_signing, owner="https://a.example/users/alice")


def _signed(signing: keys.SigningKey, now: datetime = NOW, **options: Any) -> list[tuple[str, str]]:
    added = rfc9421.sign_request(
        method="POST", url=URL, headers=HEADERS, body=BODY, key=signing, now=now, **options
    )
    return HEADERS + list(added.items())


def test_default_coverage_and_round_trip(ed_signing: keys.SigningKey, ed_public: keys.PublicKey) -> None:
    headers = _signed(ed_signing)
    names = dict(headers)
    assert names["Signature-Input"] == (
        f'sig1=("@method" "@target-uri" "content-digest" "content-type");'
        f'created={int(NOW.timestamp())};keyid="{KEY_ID}"'
    )
    assert names["Content-Digest"].startswith("sha-256=:")
    verified = rfc9421.verify_request(
        method="POST", url=URL, headers=dict(headers), body=BODY, key=ed_public, now=NOW
    )
    assert (verified.scheme, verified.algorithm, verified.label) == ("rfc9421", "ed25519", "sig1")
    assert verified.covered == ("@method", "@target-uri", "content-digest", "content-type")


def test_rsa_with_alg_expires_and_sha512(ed_public: keys.PublicKey) -> None:
    signing = keys.SigningKey(key_id="https://a.example/actor#main-key", private_key=keys.generate_rsa_key())
    public = keys.public_key_of(signing, owner="o")
    headers = _signed(
        signing, include_alg=True, expires_in=300, digest_algorithm="sha-512", nonce="n1", tag="kith"
    )
    si = dict(headers)["Signature-Input"]
    assert ';alg="rsa-v1_5-sha256";expires=' in si and si.endswith(';nonce="n1";tag="kith"')
    assert dict(headers)["Content-Digest"].startswith("sha-512=:")
    kwargs: dict[str, Any] = {"method": "POST", "url": URL, "headers": headers, "body": BODY, "key": public}
    assert rfc9421.verify_request(**kwargs, now=NOW).expires == int(NOW.timestamp()) + 300
    with pytest.raises(SignatureError, match="expired"):
        rfc9421.verify_request(**kwargs, now=NOW + timedelta(seconds=300 + 3601))


def test_signature_is_chosen_by_key_or_label(ed_signing: keys.SigningKey, ed_public: keys.PublicKey) -> None:
    other = keys.SigningKey(key_id="https://proxy.example/key", private_key=keys.generate_ed25519_key())
    first = rfc9421.sign_request(
        method="POST", url=URL, headers=HEADERS, body=BODY, key=other, now=NOW, label="proxy"
    )
    mine = rfc9421.sign_request(method="POST", url=URL, headers=HEADERS, body=BODY, key=ed_signing, now=NOW)
    headers = [
        *HEADERS,
        ("Content-Digest", mine["Content-Digest"]),
        ("Signature-Input", first["Signature-Input"]),
        ("Signature-Input", mine["Signature-Input"]),
        ("Signature", f"{first['Signature']}, {mine['Signature']}"),
    ]
    kwargs: dict[str, Any] = {"method": "POST", "url": URL, "headers": headers, "body": BODY, "now": NOW}
    assert rfc9421.verify_request(**kwargs, key=ed_public).label == "sig1"
    with pytest.raises(SignatureError, match=r"names key 'https://proxy\.example/key'"):
        rfc9421.verify_request(**kwargs, key=ed_public, label="proxy")
    stranger = keys.PublicKey(key_id="https://c.example/k", owner="o", key=ed_public.key)
    with pytest.raises(SignatureError, match="no signature by key"):
        rfc9421.verify_request(**kwargs, key=stranger)
    inputs = rfc9421.signature_inputs_from_headers(headers)
    assert [(i.label, i.key_id, i.created) for i in inputs] == [
        ("proxy", "https://proxy.example/key", int(NOW.timestamp())),
        ("sig1", KEY_ID, int(NOW.timestamp())),
    ]


def test_get_needs_no_digest_but_must_cover_the_query(
    ed_signing: keys.SigningKey, ed_public: keys.PublicKey
) -> None:
    url = "https://b.example/outbox?page=2"
    added = rfc9421.sign_request(method="GET", url=url, headers=HEADERS, body=None, key=ed_signing, now=NOW)
    assert "Content-Digest" not in added
    headers = HEADERS + list(added.items())
    rfc9421.verify_request(method="GET", url=url, headers=headers, body=None, key=ed_public, now=NOW)
    with pytest.raises(SignatureError, match="does not verify"):
        rfc9421.verify_request(
            method="GET", url=url.replace("2", "3"), headers=headers, body=None, key=ed_public, now=NOW
        )
    split = rfc9421.sign_request(
        method="GET", url=url, headers=HEADERS, body=None, key=ed_signing, now=NOW,
        covered=["@method", "@authority", "@path"],
    )  # fmt: skip
    with pytest.raises(SignatureError, match="@query"):
        rfc9421.verify_request(
            method="GET", url=url, headers=HEADERS + list(split.items()), body=None, key=ed_public, now=NOW
        )


def test_derived_components_in_the_base() -> None:
    inputs = rfc9421.parse_signature_input(
        'x=("@method" "@target-uri" "@authority" "@scheme" "@request-target" "@path" "@query" '
        '"@query-param";name="a%20b");created=1'
    )
    base = rfc9421.signature_base(
        inputs[0], method="GET", url="HTTPS://Example.COM:443/p/q?a+b=c%2Fd&z", headers={}
    )
    assert base.split("\n")[:-1] == [
        '"@method": GET',
        '"@target-uri": HTTPS://Example.COM:443/p/q?a+b=c%2Fd&z',
        '"@authority": example.com',
        '"@scheme": https',
        '"@request-target": /p/q?a+b=c%2Fd&z',
        '"@path": /p/q',
        '"@query": ?a+b=c%2Fd&z',
        '"@query-param";name="a%20b": c%2Fd',
    ]
    port = rfc9421.parse_signature_input('x=("@authority" "@query");created=1')[0]
    assert rfc9421.signature_base(port, method="GET", url="http://h.example:8080/", headers={}).split("\n")[
        :2
    ] == [
        '"@authority": h.example:8080',
        '"@query": ?',
    ]


def test_unsupported_or_broken_inputs_are_refused(ed_public: keys.PublicKey) -> None:
    sf = rfc9421.parse_signature_input('x=("content-type";sf);created=1')[0]
    with pytest.raises(MalformedInput, match="parameter sf"):
        rfc9421.signature_base(sf, method="GET", url=URL, headers={"content-type": "a"})
    with pytest.raises(MalformedInput, match="twice"):
        rfc9421.parse_signature_input('x=("@method" "@method");created=1')
    with pytest.raises(MalformedInput, match="created must be a non-negative integer"):
        rfc9421.parse_signature_input('x=("@method");created="1"')
    with pytest.raises(MalformedInput, match="not an inner list"):
        rfc9421.parse_signature_input('x="@method"')
    with pytest.raises(MalformedInput, match="identifiers are strings"):
        rfc9421.parse_signature_input("x=(method);created=1")
    with pytest.raises(TooLarge):
        rfc9421.parse_signature_input("x=(" + '"a" ' * 40 + ")")
    rep = rfc9421.parse_signature_input('x=("@query-param";name="a");created=1')[0]
    with pytest.raises(SignatureError, match="absent or repeated"):
        rfc9421.signature_base(rep, method="GET", url="https://h/?a=1&a=2", headers={})
    with pytest.raises(SignatureError, match="no Signature-Input"):
        rfc9421.verify_request(method="GET", url=URL, headers={}, body=None, key=ed_public, now=NOW)


def test_signer_refuses_inconsistent_input(ed_signing: keys.SigningKey) -> None:
    with pytest.raises(LocalError, match="Content-Digest passed does not fit"):
        rfc9421.sign_request(
            method="POST", url=URL, headers={"Content-Digest": "sha-256=:AAAA:"}, body=BODY,
            key=ed_signing, now=NOW,
        )  # fmt: skip
    with pytest.raises(LocalError, match="cannot sign"):
        rfc9421.sign_request(
            method="GET", url=URL, headers={}, body=None, key=ed_signing, now=NOW, covered=["x-absent"]
        )
    with pytest.raises(LocalError, match="32 bytes"):
        rfc9421.HmacSecret(key_id="k", secret=b"short")


def test_sf_parser_is_strict_and_serialises_canonically() -> None:
    parsed = sfv.parse_dictionary('a=1, b="x\\"y";p=?0, c=:AQI=:, d=tok/en;q=-1.5, e, f=(1 2);z')
    assert parsed["a"] == sfv.Item(value=1, params={})
    assert parsed["b"] == sfv.Item(value='x"y', params={"p": False})
    assert parsed["c"] == sfv.Item(value=b"\x01\x02", params={})
    assert isinstance(parsed["d"], sfv.Item) and isinstance(parsed["d"].value, sfv.Token)
    assert parsed["e"] == sfv.Item(value=True, params={})
    inner = parsed["f"]
    assert isinstance(inner, sfv.InnerList)
    assert sfv.serialize_inner_list(inner) == "(1 2);z"
    assert [sfv.serialize_item(v) for v in ('x"y', b"\x01\x02", False, -1.5, sfv.Token("t"))] == [
        '"x\\"y"',
        ":AQI=:",
        "?0",
        "-1.5",
        "t",
    ]
    for bad in ("a=1,", "A=1", "a=1 b=2", 'a="\x01"', "a=1234567890123456", "a=:@@:", "a=(1,2)", 'a="é"'):
        with pytest.raises(MalformedInput):
            sfv.parse_dictionary(bad)


# --- http-message-signatures as an independent implementation ---------------------------------------


@dataclass
class _Message:
    method: str
    url: str
    headers: dict[str, str]


class _Resolver(hms.HTTPSignatureKeyResolver):
    def __init__(self, signing: keys.SigningKey) -> None:
        self.signing = signing

    def resolve_public_key(self, key_id: str) -> Any:
        return self.signing.private_key.public_key()

    def resolve_private_key(self, key_id: str) -> Any:
        return self.signing.private_key


@pytest.mark.parametrize("kind", ["ed25519", "rsa"])
def test_theirs_verify_ours_and_ours_verify_theirs(kind: str) -> None:
    private = keys.generate_ed25519_key() if kind == "ed25519" else keys.generate_rsa_key()
    signing = keys.SigningKey(key_id=KEY_ID, private_key=private)
    public = keys.public_key_of(signing, owner="o")
    algorithm = hms.algorithms.ED25519 if kind == "ed25519" else hms.algorithms.RSA_V1_5_SHA256
    resolver = _Resolver(signing)
    # Their verifier reads the wall clock (5 s skew), so our signature is made "now" here.
    now = datetime.now(UTC)
    ours = _Message(method="POST", url=URL, headers=dict(_signed(signing, now=now)))
    verifier = hms.HTTPMessageVerifier(signature_algorithm=algorithm, key_resolver=resolver)
    results = verifier.verify(
        ours, body=BODY, require_components=("@method", "@target-uri", "content-digest")
    )
    assert [r.parameters["keyid"] for r in results] == [KEY_ID]

    theirs = _Message(method="POST", url=URL, headers=dict(HEADERS))
    signer = hms.HTTPMessageSigner(signature_algorithm=algorithm, key_resolver=resolver)
    signer.sign(
        theirs,
        key_id=KEY_ID,
        created=now,
        covered_component_ids=("@method", "@target-uri"),
        body=BODY,
        label="hms",
    )
    verified = rfc9421.verify_request(
        method="POST", url=URL, headers=theirs.headers, body=BODY, key=public, now=now
    )
    assert (verified.label, verified.algorithm) == ("hms", public.algorithm)
    tampered = _Message(method="POST", url=URL + "x", headers=theirs.headers)
    with pytest.raises(SignatureError, match="does not verify"):
        rfc9421.verify_request(
            method=tampered.method, url=tampered.url, headers=tampered.headers, body=BODY, key=public, now=now
        )


def test_query_param_values_are_normalised_as_rfc9421_2_2_8_describes() -> None:
    """Names and values are form-decoded, then percent-encoded (modelled on RFC 9421 §2.2.8's examples)."""
    url = (
        "https://example.com/parameters?var=this%20is%20a%20big%0Avalue&bar=with+plus+whitespace"
        "&fa%C3%A7ade%22%3A%20=something&qux="
    )
    wanted = ['"var"', '"bar"', '"fa%C3%A7ade%22%3A%20"', '"qux"']
    inputs = rfc9421.parse_signature_input(
        "x=(" + " ".join(f'"@query-param";name={n}' for n in wanted) + ");created=1"
    )
    lines = rfc9421.signature_base(inputs[0], method="GET", url=url, headers={}).split("\n")[:-1]
    assert lines == [
        '"@query-param";name="var": this%20is%20a%20big%0Avalue',
        '"@query-param";name="bar": with%20plus%20whitespace',
        '"@query-param";name="fa%C3%A7ade%22%3A%20": something',
        '"@query-param";name="qux": ',
    ]


def test_an_invalid_port_is_malformed_not_a_crash() -> None:
    inputs = rfc9421.parse_signature_input('x=("@authority");created=1')
    with pytest.raises(MalformedInput, match="invalid port"):
        rfc9421.signature_base(inputs[0], method="GET", url="https://h.example:99999/", headers={})


def test_target_uri_is_composed_from_the_public_origin(
    ed_signing: keys.SigningKey, ed_public: keys.PublicKey
) -> None:
    url = rfc9421.target_uri(scheme="HTTPS", authority="B.example", path="/users/bob/inbox")
    assert url == URL
    assert rfc9421.target_uri(scheme="https", authority="b.example:8443", path="/o", query="page=2") == (
        "https://b.example:8443/o?page=2"
    )
    headers = _signed(ed_signing)
    rfc9421.verify_request(method="POST", url=url, headers=headers, body=BODY, key=ed_public, now=NOW)
    with pytest.raises(LocalError, match="start with '/'"):
        rfc9421.target_uri(scheme="https", authority="b.example", path="inbox")
