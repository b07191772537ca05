"""draft-cavage behaviour the vector files do not pin down: header handling, key types, windows, limits."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from multidict import CIMultiDict, CIMultiDictProxy

from protocol import cavage, keys
from protocol.errors import LocalError, MalformedInput, SignatureError, TooLarge
from protocol.wire import (
    format_http_date,
    header_map,
    knock_order,
    parse_http_date,
    retry_with_other_scheme,
    sign_bytes,
    signature_scheme,
)

NOW = datetime(2026, 11, 22, 3, 0, 0, tzinfo=UTC)
KEY_ID = "https://a.example/users/alice#main-key"
BODY = b'{"type":"Follow","actor":"https://a.example/users/alice"}'


@pytest.fixture(scope="module")
def rsa_signing() -> keys.SigningKey:
    return keys.SigningKey(key_id=KEY_ID, private_key=keys.generate_rsa_key())


@pytest.fixture(scope="module")
def rsa_public(rsa_signing: keys.SigningKey) -> keys.PublicKey:
    return keys.public_key_of(rsa_signing, owner="https://a.example/users/alice")


def _post(signing: keys.SigningKey, **extra: str) -> list[tuple[str, str]]:
    headers = [("Host", "b.example"), ("Content-Type", "application/activity+json"), *extra.items()]
    added = cavage.sign_request(
        method="POST", path="/inbox", headers=headers, body=BODY, key=signing, now=NOW
    )
    return headers + list(added.items())


def test_post_round_trip_covers_mastodons_set(
    rsa_signing: keys.SigningKey, rsa_public: keys.PublicKey
) -> None:
    headers = _post(rsa_signing)
    signature = cavage.signature_from_headers(headers)
    assert signature.headers == ("(request-target)", "host", "date", "digest", "content-type")
    assert signature.algorithm == "rsa-sha256"
    verified = cavage.verify_request(
        method="POST", path="/inbox", headers=headers, body=BODY, key=rsa_public, now=NOW
    )
    assert (verified.key_id, verified.scheme, verified.algorithm) == (KEY_ID, "cavage", "rsa-v1_5-sha256")
    assert verified.created == int(NOW.timestamp())


def test_signature_is_bound_to_the_receiving_host(
    rsa_signing: keys.SigningKey, rsa_public: keys.PublicKey
) -> None:
    """A request signed for b.example replayed at another server: RFC 9421 binds @authority, cavage must
    bind the Host it covers to the server's own authority."""
    headers = _post(rsa_signing)  # signed for Host: b.example

    def verify(hdrs: list[tuple[str, str]], authority: str, **kw: object) -> None:
        cavage.verify_request(
            method="POST", path="/inbox", headers=hdrs, body=BODY, key=rsa_public, now=NOW,
            authority=authority, **kw,  # type: ignore[arg-type]
        )  # fmt: skip

    for authority in ("b.example", "B.Example", "b.example:443", "b.example:80"):
        verify(headers, authority)
    for authority in ("c.example", "b.example:8443", "b.example.c.example", "127.0.0.1:8700"):
        with pytest.raises(SignatureError, match=r"signed for host 'b\.example', not for this server"):
            verify(headers, authority)
    # a signature that does not cover host cannot be bound, whatever the coverage policy says
    uncovered = [("Host", "b.example"), ("Content-Type", "application/activity+json")]
    uncovered += list(
        cavage.sign_request(
            method="POST", path="/inbox", headers=uncovered, body=BODY, key=rsa_signing, now=NOW,
            covered=["(request-target)", "date", "digest"],
        ).items()
    )  # fmt: skip
    lax = cavage.CavagePolicy(require_coverage=False)
    cavage.verify_request(
        method="POST", path="/inbox", headers=uncovered, body=BODY, key=rsa_public, now=NOW, policy=lax
    )
    with pytest.raises(SignatureError, match="must cover host"):
        verify(uncovered, "b.example", policy=lax)


def test_header_names_case_and_mapping_input(
    rsa_signing: keys.SigningKey, rsa_public: keys.PublicKey
) -> None:
    headers = {name.upper(): value for name, value in _post(rsa_signing)}
    verified = cavage.verify_request(
        method="post", path="/inbox", headers=headers, body=BODY, key=rsa_public, now=NOW
    )
    assert verified.key_id == KEY_ID


def test_repeated_header_lines_are_joined(rsa_signing: keys.SigningKey, rsa_public: keys.PublicKey) -> None:
    signed = [("Host", "b.example"), ("X-Tag", "a, b")]
    added = cavage.sign_request(
        method="GET", path="/x", headers=signed, body=None, key=rsa_signing, now=NOW,
        covered=["(request-target)", "host", "date", "x-tag"],
    )  # fmt: skip
    received = [("Host", "b.example"), ("x-tag", " a "), ("X-TAG", "b"), *added.items()]
    assert header_map(received)["x-tag"] == "a, b"
    cavage.verify_request(method="GET", path="/x", headers=received, body=None, key=rsa_public, now=NOW)


def test_get_signs_accept_when_present(rsa_signing: keys.SigningKey, rsa_public: keys.PublicKey) -> None:
    headers = [("Host", "b.example"), ("Accept", "application/activity+json")]
    added = cavage.sign_request(
        method="GET", path="/users/bob", headers=headers, body=None, key=rsa_signing, now=NOW
    )
    assert set(added) == {"Date", "Signature"}
    assert 'headers="(request-target) host date accept"' in added["Signature"]
    cavage.verify_request(
        method="GET",
        path="/users/bob",
        headers=headers + list(added.items()),
        body=None,
        key=rsa_public,
        now=NOW,
    )


def test_authorization_header_form_is_accepted(
    rsa_signing: keys.SigningKey, rsa_public: keys.PublicKey
) -> None:
    headers = [(n, "Signature " + v if n == "Signature" else v) for n, v in _post(rsa_signing)]
    headers = [("Authorization", v) if n == "Signature" else (n, v) for n, v in headers]
    verified = cavage.verify_request(
        method="POST", path="/inbox", headers=headers, body=BODY, key=rsa_public, now=NOW
    )
    assert verified.key_id == KEY_ID


def test_ed25519_keys_sign_hs2019_and_verify() -> None:
    signing = keys.SigningKey(key_id=KEY_ID, private_key=keys.generate_ed25519_key())
    public = keys.public_key_of(signing, owner="o")
    headers = _post(signing)
    assert cavage.signature_from_headers(headers).algorithm == "hs2019"
    verified = cavage.verify_request(
        method="POST", path="/inbox", headers=headers, body=BODY, key=public, now=NOW
    )
    assert verified.algorithm == "ed25519"
    claimed_rsa = [(n, v.replace("hs2019", "rsa-sha256")) for n, v in headers]
    with pytest.raises(SignatureError, match="does not match the stored ed25519 key"):
        cavage.verify_request(
            method="POST", path="/inbox", headers=claimed_rsa, body=BODY, key=public, now=NOW
        )


def test_created_pseudo_header_sets_the_window(
    rsa_signing: keys.SigningKey, rsa_public: keys.PublicKey
) -> None:
    headers = [("Host", "b.example")]
    added = cavage.sign_request(
        method="POST", path="/inbox", headers=headers, body=BODY, key=rsa_signing, now=NOW,
        covered=["(request-target)", "(created)", "host", "digest"],
    )  # fmt: skip
    assert 'algorithm="hs2019"' in added["Signature"]
    received = headers + [(n, v) for n, v in added.items() if n != "Date"]
    kwargs = {"method": "POST", "path": "/inbox", "headers": received, "body": BODY, "key": rsa_public}
    assert cavage.verify_request(**kwargs, now=NOW + timedelta(minutes=64)).created == int(NOW.timestamp())  # type: ignore[arg-type]
    with pytest.raises(SignatureError, match="expired"):
        cavage.verify_request(**kwargs, now=NOW + timedelta(minutes=66))  # type: ignore[arg-type]


def _hand_signed(signing: keys.SigningKey, created: int, expires: int) -> list[tuple[str, str]]:
    fields = {"host": "b.example", "digest": "SHA-256=" + base64.b64encode(b"").decode()}
    covered = ["(request-target)", "(created)", "(expires)", "host"]
    base = cavage.signing_string(
        covered, method="GET", path="/x", query="", headers=fields, created=created, expires=expires
    )
    signature = base64.b64encode(sign_bytes(signing, base.encode())).decode()
    value = (
        f'keyId="{KEY_ID}",algorithm="hs2019",created={created},expires={expires},'
        f'headers="{" ".join(covered)}",signature="{signature}"'
    )
    return [("Host", "b.example"), ("Signature", value)]


def test_expires_is_honoured_and_capped_at_12_hours(
    rsa_signing: keys.SigningKey, rsa_public: keys.PublicKey
) -> None:
    t = int(NOW.timestamp())
    short = _hand_signed(rsa_signing, t, t + 10)
    kwargs = {"method": "GET", "path": "/x", "body": None, "key": rsa_public}
    cavage.verify_request(headers=short, now=NOW + timedelta(seconds=3600), **kwargs)  # type: ignore[arg-type]
    with pytest.raises(SignatureError, match="expired"):
        cavage.verify_request(headers=short, now=NOW + timedelta(seconds=3611), **kwargs)  # type: ignore[arg-type]
    week = _hand_signed(rsa_signing, t, t + 7 * 86400)
    cavage.verify_request(headers=week, now=NOW + timedelta(hours=12, minutes=59), **kwargs)  # type: ignore[arg-type]
    with pytest.raises(SignatureError, match="expired"):
        cavage.verify_request(headers=week, now=NOW + timedelta(hours=13, minutes=1), **kwargs)  # type: ignore[arg-type]


def test_query_is_signed_when_present(rsa_signing: keys.SigningKey, rsa_public: keys.PublicKey) -> None:
    headers = [("Host", "b.example")]
    added = cavage.sign_request(
        method="GET", path="/outbox", query="page=2", headers=headers, body=None, key=rsa_signing, now=NOW
    )
    received = headers + list(added.items())
    cavage.verify_request(
        method="GET", path="/outbox", query="page=2", headers=received, body=None, key=rsa_public, now=NOW
    )
    with pytest.raises(SignatureError, match="does not verify"):
        cavage.verify_request(
            method="GET", path="/outbox", query="page=3", headers=received, body=None, key=rsa_public, now=NOW
        )


def test_request_must_carry_a_signature_by_the_given_key(
    rsa_signing: keys.SigningKey, rsa_public: keys.PublicKey
) -> None:
    with pytest.raises(SignatureError, match="not signed"):
        cavage.verify_request(
            method="GET", path="/", headers=[("Host", "b")], body=None, key=rsa_public, now=NOW
        )
    other = keys.PublicKey(key_id="https://c.example/actor#key", owner="o", key=rsa_public.key)
    with pytest.raises(SignatureError, match="not by the key"):
        cavage.verify_request(
            method="POST", path="/inbox", headers=_post(rsa_signing), body=BODY, key=other, now=NOW
        )


def test_p256_keys_are_not_cavage_keys(rsa_signing: keys.SigningKey) -> None:
    p256 = keys.PublicKey(key_id=KEY_ID, owner="o", key=ec.generate_private_key(ec.SECP256R1()).public_key())
    with pytest.raises(SignatureError, match="ecdsa-p256-sha256 keys are not accepted"):
        cavage.verify_request(
            method="POST", path="/inbox", headers=_post(rsa_signing), body=BODY, key=p256, now=NOW
        )


def test_post_with_empty_body_still_needs_digest(
    rsa_signing: keys.SigningKey, rsa_public: keys.PublicKey
) -> None:
    headers = [("Host", "b.example")]
    added = cavage.sign_request(
        method="POST", path="/inbox", headers=headers, body=None, key=rsa_signing, now=NOW
    )
    with pytest.raises(SignatureError, match="must cover digest"):
        cavage.verify_request(
            method="POST",
            path="/inbox",
            headers=headers + list(added.items()),
            body=b"",
            key=rsa_public,
            now=NOW,
        )


def test_signer_refuses_what_it_cannot_sign_honestly(rsa_signing: keys.SigningKey) -> None:
    with pytest.raises(LocalError, match="Host"):
        cavage.sign_request(method="GET", path="/", headers={}, body=None, key=rsa_signing, now=NOW)
    with pytest.raises(LocalError, match="Digest header passed does not match"):
        cavage.sign_request(
            method="POST", path="/", headers={"Host": "b", "Digest": "SHA-256=AAAA"}, body=BODY,
            key=rsa_signing, now=NOW,
        )  # fmt: skip
    with pytest.raises(LocalError, match="cannot sign"):
        cavage.sign_request(
            method="GET", path="/", headers={"Host": "b"}, body=None, key=rsa_signing, now=NOW,
            covered=["(request-target)", "host", "x-absent"],
        )  # fmt: skip
    with pytest.raises(LocalError, match="aware datetime"):
        cavage.sign_request(
            method="GET",
            path="/",
            headers={"Host": "b"},
            body=None,
            key=rsa_signing,
            now=datetime(2026, 1, 1),
        )


def test_parser_limits_and_shapes() -> None:
    with pytest.raises(TooLarge):
        cavage.parse_signature_header('keyId="' + "k" * 9000 + '"')
    with pytest.raises(MalformedInput, match='name="value"'):
        cavage.parse_signature_header('keyId="a" signature="AAAA"')
    with pytest.raises(MalformedInput, match="covers no headers"):
        cavage.parse_signature_header('keyId="a",algorithm="rsa-sha256",headers="",signature="AAAA"')
    with pytest.raises(MalformedInput, match="not base64"):
        cavage.parse_signature_header('keyId="a",algorithm="rsa-sha256",headers="date",signature="AA=A"')
    with pytest.raises(MalformedInput, match="repeats a name"):
        cavage.parse_signature_header('keyId="a",headers="date date",signature="AAAA"')
    with pytest.raises(MalformedInput, match="not a Unix time"):
        cavage.parse_signature_header('keyId="a",created="soon",signature="AAAA"')
    with pytest.raises(SignatureError, match="no signature"):
        cavage.parse_signature_header('keyId="a"')
    parsed = cavage.parse_signature_header('keyId="a\\"b", extension="x",signature="AAAA",created=12')
    assert (parsed.key_id, parsed.headers, parsed.created, parsed.signature) == (
        'a"b',
        ("date",),
        12,
        b"\0\0\0",
    )
    hs2019 = cavage.parse_signature_header('keyId="a",algorithm="hs2019",signature="AAAA"')
    assert hs2019.headers == ("(created)",)


def test_aiohttp_style_multidict_headers_keep_every_line() -> None:
    headers = CIMultiDictProxy(CIMultiDict([("X-Tag", "a"), ("Host", "b.example"), ("x-tag", "b")]))
    assert header_map(headers) == {"x-tag": "a, b", "host": "b.example"}


def test_too_many_or_too_long_headers_are_refused() -> None:
    with pytest.raises(TooLarge, match="header fields"):
        header_map([("x", "y")] * 201)
    with pytest.raises(TooLarge, match="longer than"):
        header_map({"x": "y" * 20_000})


def test_http_date_arithmetic_matches_datetime() -> None:
    day = timedelta(days=1, seconds=3661)
    when = datetime(1899, 12, 28, tzinfo=UTC)
    while when.year < 2401:
        text = f"{when:%a}, {when:%d} {when:%b} {when:%Y} {when:%H:%M:%S} GMT"
        assert parse_http_date(text) == int(when.timestamp()), text
        when += day * 17
    assert parse_http_date("Tue, 29 Feb 2000 12:00:00 GMT") == 951825600
    for bad in (
        "Mon, 29 Feb 2100 00:00:00 GMT",
        "Sun, 31 Apr 2026 00:00:00 GMT",
        "Sun, 05 Jan 2014 24:00:00 GMT",
    ):
        with pytest.raises(SignatureError, match="IMF-fixdate"):
            parse_http_date(bad)


def test_http_dates() -> None:
    assert format_http_date(NOW) == "Sun, 22 Nov 2026 03:00:00 GMT"
    assert parse_http_date("Sun, 22 Nov 2026 03:00:00 GMT") == int(NOW.timestamp())
    for bad in (
        "Sunday, 22-Nov-26 03:00:00 GMT",
        "Sun, 22 Nov 2026 03:00:00 UTC",
        "Sun, 32 Nov 2026 03:00:00 GMT",
        "",
    ):
        with pytest.raises(SignatureError, match="IMF-fixdate"):
            parse_http_date(bad)


@pytest.mark.parametrize(
    "text",
    [
        'keyId="a",signature="AAAA"',
        ' keyId = "a" , created=12 ,signature="AAAA", ',
        'keyId="a" signature="AAAA"',
        'keyId="a",,signature="AAAA"',
        'keyId="a",created=,signature="AAAA"',
        'keyId="a",created=1x',
        'keyId="a',
        "keyId",
        'key-id="a"',
        'keyId="a",keyId="b"',
        'keyId="",headers="",signature=""',
        'keyId="a=b,c",signature="x"',
        'keyId="a",',
        'keyId="a",,',
        "",
        ",",
        'keyId="a""b"',
        'created=1,keyId="a",expires=2',
        'created=1, expires = 2 ,keyId = "a"',
        'keyId="a",created=1 2',
        'keyId=1"a"',
        'keyId="a"x,signature="b"',
        '=,"a"',
        'ke y="a"',
    ],
)
def test_fast_parameter_scanner_agrees_with_the_regex_grammar(text: str) -> None:
    """The hot-path scanner must accept and refuse exactly what the general grammar does."""
    outcomes = []
    for split in (cavage._split_params, cavage._split_params_regex):
        try:
            outcomes.append(split(text.strip()))
        except MalformedInput as exc:
            outcomes.append(type(exc))
    assert outcomes[0] == outcomes[1]


def test_signature_scheme_detection() -> None:
    assert signature_scheme([("Signature", 'keyId="a",signature="AAAA"')]) == "cavage"
    assert signature_scheme({"Authorization": 'Signature keyId="a"'}) == "cavage"
    assert signature_scheme({"Authorization": "Bearer x"}) is None
    assert signature_scheme({"Signature-Input": "sig1=()", "Signature": "sig1=:AAAA:"}) == "rfc9421"
    assert signature_scheme([]) is None


def test_double_knock_order() -> None:
    assert knock_order() == ("cavage", "rfc9421")
    assert knock_order(kith_peer=True) == ("rfc9421", "cavage")
    assert knock_order(remembered="rfc9421") == ("rfc9421", "cavage")
    assert knock_order(remembered="cavage", kith_peer=True) == ("cavage", "rfc9421")
    assert [s for s in (400, 401, 403, 404, 408, 429, 500) if retry_with_other_scheme(s)] == [401, 403]
