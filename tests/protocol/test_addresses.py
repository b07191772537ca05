"""Canonical identities: ugly real-world spellings in, one key out (protocol/addresses.py)."""

from __future__ import annotations

import dataclasses
import json
import random
from pathlib import Path

import pytest

from protocol import _addr_base, _addr_silos, _addr_web, addresses
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

# The table lives in specs/ so that other implementations can run it too (docs/ARCHITECTURE.md §3.8).
VECTORS = json.loads(
    (Path(__file__).resolve().parents[2] / "specs" / "test-vectors" / "addresses.json").read_text("utf-8")
)
# (raw, kind given, region given, expected kind, expected uri)
CASES: list[tuple[str, str | None, str | None, IdentityKind, str]] = [
    (v["input"], v.get("kind"), v.get("region"), K(v["expect_kind"]), v["expect_uri"])
    for v in VECTORS["normalize"]
]
IDS = [f"{i}:{c[0][:40]}" for i, c in enumerate(CASES)]
DISPLAYS = [
    (v["input"], v.get("kind"), v.get("region"), v["expect_display"])
    for v in VECTORS["normalize"]
    if "expect_display" in v
]
# (raw, kind, region, field, a fragment the message must hold so that it tells the person what to write)
REJECTIONS: list[tuple[str, str | None, str | None, str, str]] = [
    (v["input"], v.get("kind"), v.get("region"), v["field"], v["message_contains"]) for v in VECTORS["reject"]
] + [
    ("x" * 2049, None, None, "uri", "2048"),
    ("https://example.com/" + "a" * 2040, None, None, "uri", "2048"),
    ("a" * 65 + "@example.com", None, None, "uri", "1-64"),
    ("https://" + "a" * 64 + ".com/", None, None, "uri", "example.com"),
    ("+" + " " * 200 + "1", "tel", None, "uri", "128"),
]


def test_the_vector_file_is_substantial() -> None:
    assert len(CASES) > 100 and len(REJECTIONS) > 60 and len(DISPLAYS) > 15
    assert {c[3] for c in CASES} == set(K)  # every kind has vectors


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
    # The uri alone, with no kind, must come back to itself and keep its kind: stored keys are re-read so.
    # A URL given with kind web or url is the exception: the caller forced a kind detection would not pick.
    if kind not in ("web", "url", "profile"):
        assert (again.kind, again.uri) == (first.kind, first.uri)
    assert normalize(first.uri, kind=first.kind).uri == first.uri
    assert normalize(first.display, kind=first.kind, region=region).uri == first.uri


@pytest.mark.parametrize(("raw", "kind", "region", "want"), DISPLAYS)
def test_display(raw: str, kind: str | None, region: str | None, want: str) -> None:
    assert normalize(raw, kind=kind, region=region).display == want


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


def test_fediverse_guess_ignores_other_kinds_and_takes_plain_urls() -> None:
    assert fediverse_guess(normalize("@bob@example.social")) is None
    assert fediverse_guess(normalize("jane@example.com")) is None
    assert fediverse_guess("https://Example.Social/@Bob") == "acct:bob@example.social"
    assert fediverse_guess("not a url at all") is None
    assert fediverse_guess("mailto:bob@example.social") is None


def test_address_accepts_a_stored_kind_string() -> None:
    # Storage hands back kinds as strings; an Address rebuilt from a row must still be an IdentityKind.
    a = Address(kind="url", uri="https://example.social/@bob", display="example.social/@bob")  # type: ignore[arg-type]
    assert a.kind is K.URL
    assert fediverse_guess(a) == "acct:bob@example.social"


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
        Address(kind="e-mail", uri="mailto:a@b.co", display="a@b.co")  # type: ignore[arg-type]
    assert info.value.field == "kind"


def test_parse_kind_accepts_values_and_aliases() -> None:
    assert parse_kind("Twitter") is K.X
    assert parse_kind(" PHONE ") is K.TEL
    assert parse_kind(K.WEB) is K.WEB
    assert {parse_kind(k.value) for k in K} == set(K)


def test_all_is_complete() -> None:
    # The public API lives in protocol.addresses and three private modules it re-exports from.
    modules = [addresses, _addr_base, _addr_web, _addr_silos]
    public = {
        name
        for module in modules
        for name, value in vars(module).items()
        if not name.startswith("_")
        and (getattr(value, "__module__", None) == module.__name__ or name.isupper())
    }
    assert public == set(addresses.__all__)
    assert all(getattr(addresses, name) is not None for name in addresses.__all__)


def _messy_inputs(count: int) -> list[str]:
    # Repetitions of address-ish fragments, up to the size limit: every one must either fail cleanly or give
    # a uri that is its own canonical form. The seed is fixed so that a failure reproduces.
    rng = random.Random(20261122)
    pieces = [
        " ",
        ".",
        "@",
        ":",
        "/",
        "%",
        "#",
        "?",
        "+",
        "-",
        "_",
        "(",
        ")",
        "<",
        ">",
        "[",
        "]",
        ";",
        "=",
        "a",
        "X",
        "1",
        "é",
        "\u00a0",
        "xn--",
        "www.",
        "https://",
        "acct:",
        "tel:",
        "did:",
        "at://",
        "com",
        "%3A",
    ]
    out = []
    for _ in range(count):
        unit = "".join(rng.choice(pieces) for _ in range(rng.randint(1, 6)))
        out.append((unit * (2048 // len(unit) + 1))[: rng.choice([8, 30, 200, 2048])])
    return out


def _refused_or_fixed_point(raw: str, kind: str | None) -> bool:
    """True when ``raw`` was accepted; then its uri must be its own canonical form, with and without kind."""
    try:
        got = normalize(raw, kind=kind)
    except InvalidRecord as exc:
        assert exc.field == "uri"
        return False
    assert normalize(got.uri, kind=got.kind).uri == got.uri, raw
    if kind is None and got.kind is not K.URL:
        assert normalize(got.uri).uri == got.uri, raw
    return True


@pytest.mark.parametrize("kind", [None, *[k.value for k in K]])
def test_hostile_input_only_ever_raises_invalid_record(kind: str | None) -> None:
    # Any other exception (IndexError, UnicodeError, ValueError from ipaddress...) would fail this test.
    for raw in _messy_inputs(400):
        _refused_or_fixed_point(raw, kind)


def _mutations(count: int) -> list[tuple[str, str | None]]:
    # Real spellings from the table, roughed up the way copy-paste and exports rough them up.
    rng = random.Random(7)
    out = []
    for _ in range(count):
        raw, kind, _region, _k, _u = rng.choice(CASES)
        chars = list(raw)
        for _ in range(rng.randint(0, 3)):
            i = rng.randrange(len(chars))
            chars[i] = chars[i].swapcase()
        s = "".join(chars) + rng.choice(["", "", "/", "?utm_source=x", "#top", ".", "%20", ">"])
        s = rng.choice(["", " ", "\t", "\u00a0", "\ufeff"]) + s + rng.choice(["", " ", "\n", "\u200b"])
        out.append((s, kind))
    return out


def test_roughed_up_spellings_fail_cleanly_or_normalise_to_a_fixed_point() -> None:
    accepted = sum(_refused_or_fixed_point(raw, kind) for raw, kind in _mutations(3000))
    assert accepted > 1500  # most roughing-up is harmless; the fixed-point check must have had work to do
