"""Canonical identities: ugly real-world spellings in, one key out (protocol/addresses.py)."""

from __future__ import annotations

import dataclasses

import pytest

from protocol import addresses
from protocol.addresses import (
    Address,
    IdentityKind,
    bluesky_identity,
    fediverse_guess,
    normalize,
    normalize_acct,
    normalize_bluesky,
    normalize_email,
    normalize_linkedin,
    normalize_tel,
    normalize_web,
    normalize_x,
    parse_kind,
    x_identity,
)
from protocol.errors import InvalidRecord, KithError

K = IdentityKind
PLC = "did:plc:ewvi7nxzyoun6zhxrhs64oiz"

# (raw, kind given, region given, expected kind, expected uri)
CASES: list[tuple[str, str | None, str | None, IdentityKind, str]] = [
    # --- fediverse accounts
    ("acct:bob@example.social", None, None, K.ACCT, "acct:bob@example.social"),
    ("ACCT:Bob@Example.Social", None, None, K.ACCT, "acct:bob@example.social"),
    ("@Bob@Example.Social", None, None, K.ACCT, "acct:bob@example.social"),
    ("  @bob@example.social.  ", None, None, K.ACCT, "acct:bob@example.social"),
    ("bob@example.social", "acct", None, K.ACCT, "acct:bob@example.social"),
    ("@bob@example.social", "mastodon", None, K.ACCT, "acct:bob@example.social"),
    ("bob@Bücher.example", "acct", None, K.ACCT, "acct:bob@xn--bcher-kva.example"),
    ("acct:bob@xn--bcher-kva.example", None, None, K.ACCT, "acct:bob@xn--bcher-kva.example"),
    ("@dev_user@localhost.test:3000", None, None, K.ACCT, "acct:dev_user@localhost.test:3000"),
    ("@first.last@friendica.example", None, None, K.ACCT, "acct:first.last@friendica.example"),
    ("\ufeff@bob@example.social\u200b", None, None, K.ACCT, "acct:bob@example.social"),
    # --- e-mail
    ("jane@example.com", None, None, K.EMAIL, "mailto:jane@example.com"),
    ("Jane@Example.COM", None, None, K.EMAIL, "mailto:jane@example.com"),
    ("mailto:jane@example.com", None, None, K.EMAIL, "mailto:jane@example.com"),
    ("MAILTO:Jane@Example.com?subject=Hello%20there", None, None, K.EMAIL, "mailto:jane@example.com"),
    ("Jane Doe <jane@example.com>", None, None, K.EMAIL, "mailto:jane@example.com"),
    ('"Doe, Jane" <Jane.Doe@Example.com>', None, None, K.EMAIL, "mailto:jane.doe@example.com"),
    ("<jane@example.com>", None, None, K.EMAIL, "mailto:jane@example.com"),
    ("jane+news@example.com", None, None, K.EMAIL, "mailto:jane+news@example.com"),
    ("j.a.n.e@gmail.com", None, None, K.EMAIL, "mailto:j.a.n.e@gmail.com"),
    ("jane@example.com.", None, None, K.EMAIL, "mailto:jane@example.com"),
    ("jane@bücher.example", None, None, K.EMAIL, "mailto:jane@xn--bcher-kva.example"),
    ("mailto:J%C3%BCrgen@example.com", None, None, K.EMAIL, "mailto:j%C3%BCrgen@example.com"),
    ("Jürgen@Example.com", None, None, K.EMAIL, "mailto:j%C3%BCrgen@example.com"),
    ("o'brien@example.ie", None, None, K.EMAIL, "mailto:o'brien@example.ie"),
    ("mailto:a%7Bb@example.com", "email", None, K.EMAIL, "mailto:a%7Bb@example.com"),
    ("jane@example.com", "e-mail", None, K.EMAIL, "mailto:jane@example.com"),
    # --- telephone
    ("+44 7700 900123", None, None, K.TEL, "tel:+447700900123"),
    ("+44 (0) 7700 900123", None, None, K.TEL, "tel:+447700900123"),
    ("+44-7700-900-123", None, None, K.TEL, "tel:+447700900123"),
    ("tel:+447700900123", None, None, K.TEL, "tel:+447700900123"),
    ("TEL:+44.7700.900123", None, None, K.TEL, "tel:+447700900123"),
    ("+44\u00a07700\u00a0900123", None, None, K.TEL, "tel:+447700900123"),
    ("07700 900123", None, "GB", K.TEL, "tel:+447700900123"),
    ("07700 900123", "phone", "gb", K.TEL, "tel:+447700900123"),
    ("0044 7700 900123", None, "GB", K.TEL, "tel:+447700900123"),
    ("(415) 555-2671", None, "US", K.TEL, "tel:+14155552671"),
    ("415.555.2671", "tel", "US", K.TEL, "tel:+14155552671"),
    ("+1 (415) 555-2671 ext. 12", None, None, K.TEL, "tel:+14155552671;ext=12"),
    ("+1 415 555 2671 x12", None, None, K.TEL, "tel:+14155552671;ext=12"),
    ("tel:+1-415-555-2671;ext=12", None, None, K.TEL, "tel:+14155552671;ext=12"),
    ("tel:555-2671;phone-context=+1-415", None, None, K.TEL, "tel:+14155552671"),
    ("+1 800 FLOWERS", "tel", None, K.TEL, "tel:+18003569377"),
    ("+49 30 901820", None, None, K.TEL, "tel:+4930901820"),
    ("+33 6 12 34 56 78", None, None, K.TEL, "tel:+33612345678"),
    ("(415) 555-2671", None, None, K.TEL, "tel:4155552671"),
    ("07700 900123", None, None, K.TEL, "tel:07700900123"),
    ("tel:07700900123", None, None, K.TEL, "tel:07700900123"),
    ("555-2671 ext 4", "tel", None, K.TEL, "tel:5552671;ext=4"),
    # --- web sites
    ("https://example.com", None, None, K.WEB, "https://example.com/"),
    ("example.com", None, None, K.WEB, "https://example.com/"),
    ("www.Example.com", None, None, K.WEB, "https://www.example.com/"),
    ("//example.com/a", None, None, K.WEB, "https://example.com/a"),
    ("HTTP://Example.COM:80/", None, None, K.WEB, "http://example.com/"),
    ("https://example.com:443/path", None, None, K.WEB, "https://example.com/path"),
    ("https://example.com:8443/path", None, None, K.WEB, "https://example.com:8443/path"),
    ("https://example.com./blog/", None, None, K.WEB, "https://example.com/blog/"),
    ("https://example.com/blog#about", None, None, K.WEB, "https://example.com/blog"),
    ("https://example.com/?", None, None, K.WEB, "https://example.com/"),
    ("https://example.com/a/./b/../c", None, None, K.WEB, "https://example.com/a/c"),
    ("https://example.com/%7ejane/%2f%41", None, None, K.WEB, "https://example.com/~jane/%2FA"),
    ("https://example.com/50%", None, None, K.WEB, "https://example.com/50%25"),
    ("https://example.com/Path?Q=1&b=%7e", None, None, K.WEB, "https://example.com/Path?Q=1&b=~"),
    ("https://Bücher.Example/Straße", None, None, K.WEB, "https://xn--bcher-kva.example/Stra%C3%9Fe"),
    ("https://ｅｘａｍｐｌｅ。com/", None, None, K.WEB, "https://example.com/"),
    ("http://[2001:DB8::1]:8080/x", "web", None, K.WEB, "http://[2001:db8::1]:8080/x"),
    ("http://192.0.2.1/", "web", None, K.WEB, "http://192.0.2.1/"),
    ("https://mastodon.social/@Gargron", "web", None, K.WEB, "https://mastodon.social/@Gargron"),
    (
        "https://www.linkedin.com/pulse/some-article",
        None,
        None,
        K.WEB,
        "https://www.linkedin.com/pulse/some-article",
    ),
    ("https://x.com/jack", "web", None, K.WEB, "https://x.com/jack"),
    ("https://alice.bsky.social", None, None, K.WEB, "https://alice.bsky.social/"),
    ("https://medium.com/@jane", None, None, K.URL, "https://medium.com/@jane"),
    # --- profile URLs (fediverse)
    ("https://mastodon.social/@Gargron", None, None, K.URL, "https://mastodon.social/@gargron"),
    ("mastodon.social/@Gargron/", None, None, K.URL, "https://mastodon.social/@gargron/"),
    (
        "https://mastodon.social/@bob@other.example",
        None,
        None,
        K.URL,
        "https://mastodon.social/@bob@other.example",
    ),
    ("https://example.social/users/bob", "url", None, K.URL, "https://example.social/users/bob"),
    ("https://Example.Social/@Bob", "profile", None, K.URL, "https://example.social/@bob"),
    # --- X / Twitter
    ("https://twitter.com/jack", None, None, K.X, "https://x.com/jack"),
    ("https://x.com/Jack", None, None, K.X, "https://x.com/jack"),
    ("http://mobile.twitter.com/Jack/", None, None, K.X, "https://x.com/jack"),
    ("www.twitter.com/jack?lang=en", None, None, K.X, "https://x.com/jack"),
    ("twitter.com/jack/with_replies", None, None, K.X, "https://x.com/jack"),
    ("https://twitter.com/#!/Jack", None, None, K.X, "https://x.com/jack"),
    ("https://twitter.com/intent/user?user_id=12", None, None, K.X, "https://x.com/i/user/12"),
    ("https://x.com/intent/user?user_id=0012", None, None, K.X, "https://x.com/i/user/12"),
    ("https://twitter.com/intent/user?screen_name=Jack", None, None, K.X, "https://x.com/jack"),
    ("https://x.com/i/user/783214", None, None, K.X, "https://x.com/i/user/783214"),
    ("x:783214", None, None, K.X, "https://x.com/i/user/783214"),
    ("X:783214", None, None, K.X, "https://x.com/i/user/783214"),
    ("783214", "x", None, K.X, "https://x.com/i/user/783214"),
    ("@Jack", "x", None, K.X, "https://x.com/jack"),
    ("jack_dorsey", "twitter", None, K.X, "https://x.com/jack_dorsey"),
    ("https://twitter.com/jack", "x", None, K.X, "https://x.com/jack"),
    # --- LinkedIn
    ("https://www.linkedin.com/in/jane-doe", None, None, K.LINKEDIN, "https://www.linkedin.com/in/jane-doe"),
    ("https://www.linkedin.com/in/Jane-Doe/", None, None, K.LINKEDIN, "https://www.linkedin.com/in/jane-doe"),
    (
        "http://uk.linkedin.com/in/jane-doe?trk=abc",
        None,
        None,
        K.LINKEDIN,
        "https://www.linkedin.com/in/jane-doe",
    ),
    (
        "linkedin.com/in/jane-doe-1a2b3c4",
        None,
        None,
        K.LINKEDIN,
        "https://www.linkedin.com/in/jane-doe-1a2b3c4",
    ),
    (
        "https://m.linkedin.com/in/jane-doe/details/experience/",
        None,
        None,
        K.LINKEDIN,
        "https://www.linkedin.com/in/jane-doe",
    ),
    (
        "https://www.linkedin.com/mwlite/in/jane-doe",
        None,
        None,
        K.LINKEDIN,
        "https://www.linkedin.com/in/jane-doe",
    ),
    (
        "https://www.linkedin.com/in/jos%C3%A9-garc%C3%ADa",
        None,
        None,
        K.LINKEDIN,
        "https://www.linkedin.com/in/jos%C3%A9-garc%C3%ADa",
    ),
    (
        "https://www.linkedin.com/in/José-García",
        None,
        None,
        K.LINKEDIN,
        "https://www.linkedin.com/in/jos%C3%A9-garc%C3%ADa",
    ),
    (
        "https://www.linkedin.com/company/Acme-Corp/about/",
        None,
        None,
        K.LINKEDIN,
        "https://www.linkedin.com/company/acme-corp",
    ),
    ("https://www.linkedin.com/school/mit/", None, None, K.LINKEDIN, "https://www.linkedin.com/school/mit"),
    ("jane-doe", "linkedin", None, K.LINKEDIN, "https://www.linkedin.com/in/jane-doe"),
    ("in/Jane-Doe", "linkedin", None, K.LINKEDIN, "https://www.linkedin.com/in/jane-doe"),
    ("company/acme", "linkedin", None, K.LINKEDIN, "https://www.linkedin.com/company/acme"),
    (
        "https://www.linkedin.com/in/ACoAAAbCdEfGhIjKlMnOpQrStUvWxYz0123456",
        None,
        None,
        K.LINKEDIN,
        "https://www.linkedin.com/in/ACoAAAbCdEfGhIjKlMnOpQrStUvWxYz0123456",
    ),
    # --- Bluesky
    (PLC, None, None, K.BLUESKY, PLC),
    (PLC.upper(), None, None, K.BLUESKY, PLC),
    ("did:web:Example.COM", None, None, K.BLUESKY, "did:web:example.com"),
    ("did:web:localhost.test%3A8080", None, None, K.BLUESKY, "did:web:localhost.test%3A8080"),
    ("at://Alice.bsky.social", None, None, K.BLUESKY, "at://alice.bsky.social"),
    ("at://Alice.bsky.social/", None, None, K.BLUESKY, "at://alice.bsky.social"),
    (f"at://{PLC}", None, None, K.BLUESKY, PLC),
    ("@alice.bsky.social", None, None, K.BLUESKY, "at://alice.bsky.social"),
    ("alice.bsky.social", None, None, K.BLUESKY, "at://alice.bsky.social"),
    ("@Jay.Bsky.Team", None, None, K.BLUESKY, "at://jay.bsky.team"),
    ("https://bsky.app/profile/Alice.bsky.social", None, None, K.BLUESKY, "at://alice.bsky.social"),
    (f"https://bsky.app/profile/{PLC}", None, None, K.BLUESKY, PLC),
    (f"https://bsky.app/profile/{PLC.replace(':', '%3A')}", None, None, K.BLUESKY, PLC),
    ("alice.example.com", "bluesky", None, K.BLUESKY, "at://alice.example.com"),
    ("https://bsky.app/profile/alice.example.com", "bsky", None, K.BLUESKY, "at://alice.example.com"),
]

IDS = [f"{i}:{c[0][:40]}" for i, c in enumerate(CASES)]


@pytest.mark.parametrize(("raw", "kind", "region", "want_kind", "want_uri"), CASES, ids=IDS)
def test_canonical_uri(
    raw: str, kind: str | None, region: str | None, want_kind: IdentityKind, want_uri: str
) -> None:
    got = normalize(raw, kind=kind, region=region)
    assert (got.kind, got.uri) == (want_kind, want_uri)
    assert got.display


@pytest.mark.parametrize(("raw", "kind", "region", "want_kind", "want_uri"), CASES, ids=IDS)
def test_uri_is_a_fixed_point(
    raw: str, kind: str | None, region: str | None, want_kind: IdentityKind, want_uri: str
) -> None:
    first = normalize(raw, kind=kind, region=region)
    again = normalize(first.uri)
    # The uri alone, with no kind, must come back to itself, and keep its kind: stored keys are re-read so.
    # A web-kind URL that looks like a silo profile is the one exception: the caller forced the kind.
    assert again.uri == first.uri or kind in ("web",)
    if kind not in ("web", "url", "profile"):
        assert again.kind == first.kind
    assert normalize(first.uri, kind=first.kind).uri == first.uri
    assert normalize(first.display, kind=first.kind, region=region).uri == first.uri


DISPLAYS = [
    ("@Bob@Example.Social", None, None, "@bob@example.social"),
    ("acct:bob@xn--bcher-kva.example", None, None, "@bob@bücher.example"),
    ("Jane Doe <Jane@Example.COM>", None, None, "jane@example.com"),
    ("mailto:J%C3%BCrgen@example.com", None, None, "jürgen@example.com"),
    ("+447700900123", None, None, "+44 7700 900123"),
    ("+1 415 555 2671 x12", None, None, "+1 415-555-2671 ext. 12"),
    ("07700 900123", None, None, "07700900123 (local)"),
    ("@Jack", "x", None, "@Jack"),
    ("x:12", None, None, "x.com/i/user/12"),
    ("https://uk.linkedin.com/in/Jane-Doe/", None, None, "linkedin.com/in/jane-doe"),
    ("https://www.linkedin.com/in/jos%C3%A9", None, None, "linkedin.com/in/josé"),
    ("https://bsky.app/profile/Alice.bsky.social", None, None, "@alice.bsky.social"),
    (PLC, None, None, PLC),
    ("https://Example.com", None, None, "example.com"),
    ("http://example.com/blog", None, None, "http://example.com/blog"),
    ("https://xn--bcher-kva.example/Stra%C3%9Fe", None, None, "bücher.example/Straße"),
    ("https://mastodon.social/@Gargron", None, None, "mastodon.social/@gargron"),
]


@pytest.mark.parametrize(("raw", "kind", "region", "want"), DISPLAYS)
def test_display(raw: str, kind: str | None, region: str | None, want: str) -> None:
    assert normalize(raw, kind=kind, region=region).display == want


# (raw, kind, region, field, a fragment the message must hold so that it tells the person what to write)
REJECTIONS: list[tuple[object, str | None, str | None, str, str]] = [
    ("", None, None, "uri", "empty"),
    ("   ", None, None, "uri", "empty"),
    ("x" * 2049, None, None, "uri", "2048"),
    ("https://example.com/" + "a" * 2040, None, None, "uri", "2048"),
    ("jane@exa\x00mple.com", None, None, "uri", "control"),
    ("https://exa\u202emple.com", None, None, "uri", "invisible"),
    ("jane\u200b@example.com", None, None, "uri", "invisible"),
    ("@jack", None, None, "uri", "kind='x'"),
    ("jack", None, None, "uri", "example.com"),
    # acct
    ("bob", "acct", None, "uri", "@user@host"),
    ("@bob@", None, None, "uri", "@user@host"),
    ("@b!b@example.social", None, None, "uri", "letters, digits"),
    ("@bob@localhost", None, None, "uri", "example.com"),
    ("@bob@example.social:99999", None, None, "uri", "1-65535"),
    ("https://mastodon.social/@bob", "acct", None, "uri", "kind='url'"),
    # e-mail
    ("jane@", "email", None, "uri", "jane@example.com"),
    ("jane@localhost", None, None, "uri", "example.com"),
    ("jane@@example.com", None, None, "uri", "characters"),
    (".jane@example.com", None, None, "uri", "double dot"),
    ("ja..ne@example.com", None, None, "uri", "double dot"),
    ('"jane doe"@example.com', "email", None, "uri", "jane@example.com"),
    ("jane@[192.0.2.1]", None, None, "uri", "example.com"),
    ("jane@exa_mple.com", None, None, "uri", "example.com"),
    ("jane@-example.com", None, None, "uri", "example.com"),
    ("a" * 65 + "@example.com", None, None, "uri", "1-64"),
    ("Jane <jane@example.com", None, None, "uri", "jane@example.com"),
    ("mailto:%FF@example.com", None, None, "uri", "UTF-8"),
    ("jane@xn--zz.example", None, None, "uri", "xn--"),
    # tel
    ("+44 12", None, None, "uri", "digits"),
    ("+999 1234567", None, None, "uri", "+44 7700 900123"),
    ("12", "tel", None, "uri", "3 to 15"),
    ("call me maybe", "tel", None, "uri", "+44 7700 900123"),
    ("07700 900123", "tel", "ZZ", "region", "GB"),
    ("07700 900123", "tel", "Britain", "region", "GB"),
    ("0800-FLOWERS", "tel", None, "uri", "country code"),
    # web
    ("javascript:alert(1)", None, None, "uri", "https://host/path"),
    ("ftp://example.com/", "web", None, "uri", "http and https"),
    ("https://user:pass@example.com/", None, None, "uri", "user name"),
    ("https://example.com/a b", None, None, "uri", "%20"),
    ("https://", "web", None, "uri", "needs a host"),
    ("https://localhost/", "web", None, "uri", "example.com"),
    ("https://example.com:0/", None, None, "uri", "1 to 65535"),
    ("https://example.com:http/", None, None, "uri", "1 to 65535"),
    ("http://256.1.1.1/", None, None, "uri", "IPv4"),
    ("http://[::zz]/", None, None, "uri", "IPv6"),
    ("https://" + "a" * 64 + ".com/", None, None, "uri", "example.com"),
    ("https://exa mple.com/", None, None, "uri", "%20"),
    ("http:example.com", None, None, "uri", "https://host/path"),
    # X
    ("https://x.com/home", None, None, "uri", "page of x.com"),
    ("https://twitter.com/search?q=kith", None, None, "uri", "page of x.com"),
    ("https://x.com/settings/profile", None, None, "uri", "x.com/jack"),
    ("https://x.com/jack/status/20", None, None, "uri", "x.com/jack"),
    ("https://x.com/", None, None, "uri", "x.com/jack"),
    ("@this_handle_is_too_long", "x", None, "uri", "1-15"),
    ("@bad-handle", "x", None, "uri", "1-15"),
    ("x:0", None, None, "uri", "positive"),
    ("x:12ab", None, None, "uri", "positive"),
    ("https://example.com/jack", "x", None, "uri", "x.com or twitter.com"),
    ("https://x.com/intent/user", None, None, "uri", "x.com/jack"),
    # LinkedIn
    ("https://www.linkedin.com/feed/", "linkedin", None, "uri", "linkedin.com/in/jane-doe"),
    ("https://evil-linkedin.com/in/jane", "linkedin", None, "uri", "linkedin.com/in/jane-doe"),
    ("jane doe", "linkedin", None, "uri", "jane-doe"),
    ("https://www.linkedin.com/in/j", None, None, "uri", "2-100"),
    ("https://www.linkedin.com/in/jane%2Fdoe", None, None, "uri", "jane-doe"),
    # Bluesky
    ("did:plc:tooshort", None, None, "uri", "24 characters"),
    ("did:plc:ewvi7nxzyoun6zhxrhs64oi0", None, None, "uri", "24 characters"),
    ("did:key:z6Mkabc", None, None, "uri", "did:plc"),
    ("did:web:localhost", None, None, "uri", "example.com"),
    ("at://alice.bsky.social/app.bsky.feed.post/3k", None, None, "uri", "no path"),
    ("https://bsky.app/profile/alice.bsky.social/post/3k", "bluesky", None, "uri", "bsky.app/profile"),
    ("alice", "bluesky", None, "uri", "alice.bsky.social"),
    ("@alice.123", "bluesky", None, "uri", "alice.bsky.social"),
    ("@-alice.bsky.social", None, None, "uri", "alice.bsky.social"),
    # kinds
    ("jane@example.com", "myspace", None, "kind", "acct, url"),
]


@pytest.mark.parametrize(
    ("raw", "kind", "region", "field", "hint"), REJECTIONS, ids=[str(r[0])[:40] for r in REJECTIONS]
)
def test_rejected(raw: str, kind: str | None, region: str | None, field: str, hint: str) -> None:
    with pytest.raises(InvalidRecord) as info:
        normalize(raw, kind=kind, region=region)
    assert info.value.field == field
    assert hint in info.value.message
    assert info.value.status_hint == 400


def test_non_string_is_rejected_with_the_field() -> None:
    with pytest.raises(InvalidRecord) as info:
        normalize(12345)  # type: ignore[arg-type]
    assert info.value.field == "uri"


def test_error_is_a_value_error_and_a_kith_error() -> None:
    with pytest.raises(ValueError):
        normalize("not an address at all")
    with pytest.raises(KithError):
        normalize_email("nope")


def test_spellings_of_one_person_meet() -> None:
    spellings = {
        "email": ["Jane.Doe@Example.com", "mailto:jane.doe@example.com", "Jane Doe <JANE.DOE@EXAMPLE.COM>"],
        "acct": ["@jane@Example.Social", "acct:JANE@example.social", "jane@example.social."],
        "x": [
            "https://twitter.com/JaneDoe",
            "x.com/janedoe/",
            "@JaneDoe",
            "https://mobile.twitter.com/janedoe?s=20",
        ],
        "linkedin": ["linkedin.com/in/Jane-Doe", "https://de.linkedin.com/in/jane-doe/", "jane-doe"],
    }
    for kind, forms in spellings.items():
        uris = {
            normalize(f, kind=kind if not f.startswith(("http", "x.com", "linkedin.com")) else None).uri
            for f in forms
        }
        assert len(uris) == 1, (kind, uris)


def test_helpers_return_the_same_uri_as_normalize() -> None:
    assert normalize_email("Jane <Jane@Example.com>") == "mailto:jane@example.com"
    assert normalize_acct("@Bob@Example.Social") == "acct:bob@example.social"
    assert normalize_tel("07700 900123", region="GB") == "tel:+447700900123"
    assert normalize_tel("07700 900123") == "tel:07700900123"
    assert normalize_web("Example.com") == "https://example.com/"
    assert normalize_web("https://x.com/jack") == "https://x.com/jack"  # a web helper never re-kinds
    assert normalize_x("@Jack") == "https://x.com/jack"
    assert normalize_linkedin("https://uk.linkedin.com/in/Jane-Doe") == "https://www.linkedin.com/in/jane-doe"
    assert normalize_bluesky("@Alice.bsky.social") == "at://alice.bsky.social"


def test_x_identity_prefers_the_numeric_id_and_keeps_the_handle() -> None:
    both = x_identity("783214", "Twitter")
    assert both == Address(kind=K.X, uri="https://x.com/i/user/783214", display="@Twitter", handle="twitter")
    assert x_identity("783214", None).handle is None
    assert x_identity(None, "@Jack").uri == "https://x.com/jack"
    assert x_identity(None, "@Jack").handle == "jack"
    with pytest.raises(InvalidRecord, match="account id or a handle") as info:
        x_identity(None, None)
    assert info.value.field == "uri"
    with pytest.raises(InvalidRecord, match="positive"):
        x_identity("-1", "jack")


def test_bluesky_identity_prefers_the_did() -> None:
    both = bluesky_identity(PLC, "@Alice.bsky.social")
    assert (both.uri, both.handle, both.display) == (PLC, "alice.bsky.social", "@alice.bsky.social")
    assert bluesky_identity(None, "alice.bsky.social").uri == "at://alice.bsky.social"
    with pytest.raises(InvalidRecord, match="DID or a handle"):
        bluesky_identity(None, None)


GUESSES = [
    ("https://mastodon.social/@Gargron", "acct:gargron@mastodon.social"),
    ("https://mastodon.social/@bob@Other.Example", "acct:bob@other.example"),
    ("https://example.social/users/bob", "acct:bob@example.social"),
    ("https://example.social/@bob/", "acct:bob@example.social"),
    ("https://medium.com/@jane", None),
    ("https://example.com/blog", None),
    ("https://example.social:8443/@bob", None),
]


@pytest.mark.parametrize(("raw", "want"), GUESSES)
def test_fediverse_guess(raw: str, want: str | None) -> None:
    assert fediverse_guess(normalize(raw, kind="url")) == want


def test_fediverse_guess_ignores_other_kinds() -> None:
    assert fediverse_guess(normalize("@bob@example.social")) is None
    assert fediverse_guess(normalize("jane@example.com")) is None


def test_address_is_frozen_keyword_only_and_checks_its_uri() -> None:
    a = normalize("jane@example.com")
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.uri = "mailto:other@example.com"  # type: ignore[misc]
    with pytest.raises(TypeError):
        Address(K.EMAIL, "mailto:a@b.co", "a@b.co")  # type: ignore[call-arg]
    with pytest.raises(InvalidRecord) as info:
        Address(kind=K.EMAIL, uri="https://example.com/", display="example.com")
    assert info.value.field == "uri"
    with pytest.raises(InvalidRecord) as info:
        Address(kind="email", uri="mailto:a@b.co", display="a@b.co")  # type: ignore[arg-type]
    assert info.value.field == "kind"


def test_parse_kind_accepts_values_and_aliases() -> None:
    assert parse_kind("Twitter") is K.X
    assert parse_kind(" PHONE ") is K.TEL
    assert parse_kind(K.WEB) is K.WEB
    assert {parse_kind(k.value) for k in K} == set(K)


def test_all_is_complete() -> None:
    own = {
        name
        for name, value in vars(addresses).items()
        if not name.startswith("_") and getattr(value, "__module__", None) == addresses.__name__
    }
    constants = {name for name in vars(addresses) if name.isupper() and not name.startswith("_")}
    assert own | constants == set(addresses.__all__)
