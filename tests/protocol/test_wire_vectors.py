"""Every wire-signature vector under specs/test-vectors/{cavage,rfc9421}/, positive and negative, in one test.

The file format is described in specs/HTTP-SIGNATURES.md §9. Each file may check a signing string or
signature base, a signature we must reproduce, a body digest, and a verification outcome.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from protocol import cavage, errors, keys, rfc9421
from protocol.digest import check_content_digest, check_digest_header, content_digest_header, digest_header

VECTORS = Path(__file__).resolve().parents[2] / "specs" / "test-vectors"
FILES = sorted([*VECTORS.glob("cavage/*.json"), *VECTORS.glob("rfc9421/*.json")])
SIGNATURE_FIELDS = {"signature", "signature-input", "authorization"}


def _verify_key(spec: dict[str, Any]) -> keys.PublicKey | rfc9421.HmacSecret:
    if "hmac_secret_file" in spec:
        secret = base64.b64decode((VECTORS / spec["hmac_secret_file"]).read_text().strip())
        return rfc9421.HmacSecret(key_id=spec["key_id"], secret=secret)
    return keys.load_public_key_pem(
        (VECTORS / spec["pem"]).read_text(),
        key_id=spec["key_id"],
        owner=spec.get("owner", "https://example.com/actor"),
        rsa_pss=spec.get("rsa_pss", False),
    )


def _signing_key(spec: dict[str, Any]) -> keys.SigningKey:
    private = keys.load_private_key_pem((VECTORS / spec["pem"]).read_text())
    return keys.SigningKey(key_id=spec["key_id"], private_key=private)


def _body(message: dict[str, Any]) -> bytes | None:
    body = message.get("body")
    return None if body is None else body.encode()


def _headers(message: dict[str, Any], *, unsigned: bool = False) -> list[tuple[str, str]]:
    pairs = [(name, value) for name, value in message["headers"]]
    return [p for p in pairs if p[0].lower() not in SIGNATURE_FIELDS] if unsigned else pairs


def _check_digest(vector: dict[str, Any]) -> None:
    spec = vector["digest"]
    body = spec["body"].encode()
    if "Digest" in spec:
        check_digest_header(spec["Digest"], body)
        assert digest_header(body) == spec["Digest"]
    if "Content-Digest" in spec:
        check_content_digest(spec["Content-Digest"], body)
        algorithm = spec["Content-Digest"].split("=", 1)[0]
        assert content_digest_header(body, algorithm) == spec["Content-Digest"]


def _sign_input(spec: dict[str, Any], message: dict[str, Any]) -> list[tuple[str, str]]:
    """The signer's input: ``sign.input_headers`` if given, else the request minus its signature."""
    if "input_headers" in spec:
        return [(name, value) for name, value in spec["input_headers"]]
    return _headers(message, unsigned=True)


def _cavage(vector: dict[str, Any], now: datetime) -> None:
    if "request" not in vector:
        return
    req = vector["request"]
    common = {"method": req["method"], "path": req["path"], "query": req.get("query", "")}
    if "signing_string" in vector:
        parsed = cavage.signature_from_headers(_headers(req))
        fields = dict((n.lower(), v) for n, v in _headers(req))
        built = cavage.signing_string(
            parsed.headers, headers=fields, created=parsed.created, expires=parsed.expires, **common
        )
        assert built == vector["signing_string"]
    if "sign" in vector:
        spec = vector["sign"]
        out = cavage.sign_request(
            **common,
            headers=_sign_input(spec, req),
            body=_body(req),
            key=_signing_key(vector["keys"]["sign"]),
            now=now,
            covered=spec.get("covered"),
        )
        produced = cavage.parse_signature_header(out["Signature"])
        assert base64.b64encode(produced.signature).decode() == spec["expect_signature"]
        for name, value in spec.get("expect_headers", {}).items():
            assert out[name] == value
    if "verify" in vector:
        policy = cavage.CavagePolicy(**vector.get("policy", {}))
        _outcome(
            vector["verify"],
            lambda: cavage.verify_request(
                **common,
                headers=_headers(req),
                body=_body(req),
                key=_verify_key(vector["keys"]["verify"]),  # type: ignore[arg-type]
                now=now,
                policy=policy,
            ),
        )


def _rfc9421(vector: dict[str, Any], now: datetime) -> None:
    if "response" in vector:
        res = vector["response"]
        policy = rfc9421.Rfc9421Policy(**vector.get("policy", {"require_coverage": False}))
        _outcome(
            vector["verify"],
            lambda: rfc9421.verify_response(
                status=res["status"],
                headers=_headers(res),
                body=_body(res),
                key=_verify_key(vector["keys"]["verify"]),
                now=now,
                policy=policy,
            ),
        )
        return
    req = vector["request"]
    label = vector.get("label")
    if "signature_base" in vector:
        inputs = rfc9421.signature_inputs_from_headers(_headers(req))
        chosen = next(i for i in inputs if label is None or i.label == label)
        base = rfc9421.signature_base(chosen, method=req["method"], url=req["url"], headers=_headers(req))
        assert base == vector["signature_base"]
    if "sign" in vector:
        spec = vector["sign"]
        out = rfc9421.sign_request(
            method=req["method"],
            url=req["url"],
            headers=_sign_input(spec, req),
            body=_body(req),
            key=_signing_key(vector["keys"]["sign"]),
            now=now,
            covered=spec.get("covered"),
            label=spec.get("label", "sig1"),
            expires_in=spec.get("expires_in"),
            include_alg=spec.get("include_alg", False),
        )
        for name, value in spec["expect_headers"].items():
            assert out[name] == value
    if "verify" in vector:
        policy = rfc9421.Rfc9421Policy(**vector.get("policy", {}))
        _outcome(
            vector["verify"],
            lambda: rfc9421.verify_request(
                method=req["method"],
                url=req["url"],
                headers=_headers(req),
                body=_body(req),
                key=_verify_key(vector["keys"]["verify"]),
                now=now,
                label=label,
                policy=policy,
            ),
        )


def _outcome(expect: dict[str, Any], run: Any) -> None:
    if expect["result"] == "valid":
        verified = run()
        assert verified.key_id == expect["key_id"]
        if "algorithm" in expect:
            assert verified.algorithm == expect["algorithm"]
        return
    error = getattr(errors, expect["error"])
    with pytest.raises(error) as caught:
        run()
    assert expect["message_contains"] in str(caught.value)


@pytest.mark.parametrize("path", FILES, ids=[f"{p.parent.name}/{p.stem}" for p in FILES])
def test_vector(path: Path) -> None:
    vector = json.loads(path.read_text())
    assert vector["source"], "every vector names its source"
    checks = {"signing_string", "signature_base", "sign", "verify", "digest"} & set(vector)
    assert checks, "a vector must check something"
    now = datetime.fromtimestamp(vector.get("now", 0), UTC)
    if "digest" in vector:
        _check_digest(vector)
    if vector["scheme"] == "cavage":
        _cavage(vector, now)
    else:
        assert vector["scheme"] == "rfc9421"
        _rfc9421(vector, now)


def test_vector_directories_are_not_empty() -> None:
    assert len([p for p in FILES if p.parent.name == "cavage"]) >= 10
    assert len([p for p in FILES if p.parent.name == "rfc9421"]) >= 10
