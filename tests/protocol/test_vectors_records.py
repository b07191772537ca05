"""Published and negative vectors for records, proofs, Multikey and RDF canonicalisation.

One parametrised test per family; the data live in specs/test-vectors/ so that other implementations can use
them too (provenance: specs/test-vectors/README.md).
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from protocol import errors, multikey, proofs, rdfc

VECTORS = Path(__file__).resolve().parents[2] / "specs" / "test-vectors"


def _load(path: str) -> Any:
    return json.loads((VECTORS / path).read_text(encoding="utf-8"))


def _when(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


# -- W3C vc-di-eddsa -----------------------------------------------------------------------------------------

EDDSA = ["vc-di-eddsa/eddsa-jcs-2022.json", "vc-di-eddsa/eddsa-rdfc-2022.json"]


@pytest.mark.parametrize("path", EDDSA)
def test_vc_di_eddsa_every_intermediate(path: str) -> None:
    v = _load(path)
    suite = v["cryptosuite"]
    secret = multikey.decode_private_key(v["keyPair"]["privateKeyMultibase"])
    public = multikey.decode_public_key(v["keyPair"]["publicKeyMultibase"])

    canonical_doc = proofs.canonical_document(v["unsecuredDocument"], cryptosuite=suite)
    assert canonical_doc.decode() == v["canonicalDocument"]
    assert hashlib.sha256(canonical_doc).hexdigest() == v["documentHash"]

    config = dict(v["proofConfig"])
    if suite == proofs.EDDSA_RDFC_2022:
        config["@context"] = v["unsecuredDocument"]["@context"]
    canonical_config = proofs.canonical_proof_config(config, cryptosuite=suite)
    assert canonical_config.decode() == v["canonicalProofConfig"]
    assert hashlib.sha256(canonical_config).hexdigest() == v["proofConfigHash"]
    assert proofs.hash_data(canonical_config, canonical_doc).hex() == v["combinedHash"]

    signed = proofs.sign(
        v["unsecuredDocument"],
        private_key=secret,
        verification_method=v["verificationMethod"],
        created=_when(v["created"]),
        cryptosuite=suite,
    )
    assert signed == v["securedDocument"]
    assert multikey.decode_multibase(signed["proof"]["proofValue"]).hex() == v["signatureHex"]

    owner = proofs.OwnerKeys(owner=v["owner"], keys={v["verificationMethod"]: public})
    verified = proofs.verify(v["securedDocument"], owner=owner, now=_when("2024-01-01T00:00:00Z"))
    assert verified.proof_value == v["proofValue"]


def test_vc_di_eddsa_earlier_did_key_revision() -> None:
    v = _load("vc-di-eddsa/eddsa-jcs-2022-didkey-config.json")
    canonical_config = proofs.canonical_proof_config(v["proofConfig"], cryptosuite=v["cryptosuite"])
    assert canonical_config.decode() == v["canonicalProofConfig"]
    assert hashlib.sha256(canonical_config).hexdigest() == v["proofConfigHash"]
    canonical_doc = proofs.canonical_document(v["unsecuredDocument"], cryptosuite=v["cryptosuite"])
    assert proofs.hash_data(canonical_config, canonical_doc).hex() == v["combinedHash"]


# -- FEP-8b32 ------------------------------------------------------------------------------------------------


def test_fep_8b32_sign_and_verify() -> None:
    v = _load("fep-8b32/create-note.json")
    secret = multikey.decode_private_key(v["privateKeyMultibase"])
    signed = proofs.sign(
        v["document"],
        private_key=secret,
        verification_method=v["verificationMethod"],
        created=_when(v["created"]),
        proof_context=False,
    )
    assert signed["proof"]["proofValue"] == v["signedDocument"]["proof"]["proofValue"]
    assert {k: x for k, x in signed.items() if k != "proof"} == v["document"]

    actor = v["actor"]
    owner = proofs.OwnerKeys.from_multikeys(
        actor["id"], {key["id"]: key["publicKeyMultibase"] for key in actor["assertionMethod"]}
    )
    assert proofs.verify(v["signedDocument"], owner=owner).verification_method == v["verificationMethod"]


# -- FEP-521a Multikey ---------------------------------------------------------------------------------------

MULTIKEY = _load("fep-521a/multikey.json")


@pytest.mark.parametrize("entry", MULTIKEY["entries"], ids=lambda e: e["id"])
def test_fep_521a_multikey(entry: dict[str, Any]) -> None:
    if entry["kind"] == "public":
        key = multikey.decode_public_key(entry["multibase"])
        assert multikey.encode_public_key(key) == entry["multibase"]
        if "rawHex" in entry:
            raw = bytes.fromhex(entry["rawHex"])
            assert key.public_bytes(Encoding.Raw, PublicFormat.Raw) == raw
            assert multikey.encode_public_key(Ed25519PublicKey.from_public_bytes(raw)) == entry["multibase"]
        if "pairedWith" in entry:
            secret = multikey.decode_private_key(entry["pairedWith"])
            assert multikey.encode_public_key(secret.public_key()) == entry["multibase"]
    else:
        secret = multikey.decode_private_key(entry["multibase"])
        assert multikey.encode_private_key(secret) == entry["multibase"]
        assert multikey.encode_public_key(secret.public_key()) == entry["publicMultibase"]


@pytest.mark.parametrize("entry", MULTIKEY["invalid"], ids=lambda e: e["id"])
def test_fep_521a_multikey_invalid(entry: dict[str, Any]) -> None:
    with pytest.raises(errors.MalformedInput):
        multikey.decode_public_key(entry["multibase"])


# -- W3C RDF canonicalisation --------------------------------------------------------------------------------

RDFC = _load("rdfc/manifest.json")


@pytest.mark.parametrize("entry", RDFC["entries"], ids=lambda e: e["id"])
def test_rdf_canon(entry: dict[str, Any]) -> None:
    source = (VECTORS / "rdfc" / entry["action"]).read_text(encoding="utf-8")
    if entry["type"] == "RDFC10NegativeEvalTest":
        with pytest.raises(errors.CanonicalizationLimit, match="stopped after"):
            rdfc.canonicalize_nquads(source, hash_algorithm=entry["hashAlgorithm"])
        return
    expected = (VECTORS / "rdfc" / entry["result"]).read_text(encoding="utf-8")
    assert rdfc.canonicalize_nquads(source, hash_algorithm=entry["hashAlgorithm"]) == expected


# -- negative proof vectors ----------------------------------------------------------------------------------

NEGATIVE = _load("negative/proofs.json")


@pytest.mark.parametrize("case", NEGATIVE["cases"], ids=lambda c: c["id"])
def test_negative_proofs(case: dict[str, Any]) -> None:
    error = getattr(errors, case["expectedError"])
    owner = proofs.OwnerKeys.from_multikeys(case["owner"], case["keys"])
    with pytest.raises(error) as caught:
        proofs.verify(case["document"], owner=owner)
    assert caught.value.message  # every refusal says why
