"""Data Integrity proofs on Kith records: FEP-8b32 ``DataIntegrityProof`` with ``eddsa-jcs-2022`` and
``eddsa-rdfc-2022`` (W3C vc-di-eddsa §3).

Rules kept here:
- hashData = SHA-256(canonical proof configuration) || SHA-256(canonical document); the signature is Ed25519
  over those 64 bytes; ``proofValue`` is multibase base58-btc. JCS (RFC 8785) comes from the ``rfc8785``
  package; RDFC-1.0 from protocol.jsonld under a work limit.
- A proof verifies only for its record's owner: the caller passes the owner's actor id and the verification
  methods that owner lists (``assertionMethod`` in their actor document), and a proof by any other key is
  refused, however valid its signature. The verification method must also share the owner's origin.
- Several proofs on one record form a proof *set* (not a chain): each signs the document without any proof,
  so the two owners of a mutual relationship can sign in either order.
- Every context a signed record names must be one Kith ships (UnknownContext otherwise), for both suites.
- Pure: the caller passes keys and the time (``created`` when signing, ``now`` when verifying).

Spec: specs/PROTOCOL.md §Proofs; vectors: specs/test-vectors/vc-di-eddsa/, specs/test-vectors/fep-8b32/.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from protocol import jsonld
from protocol.errors import InvalidRecord, MalformedInput, ProofError
from protocol.multikey import decode_multibase, decode_public_key, encode_multibase
from protocol.rdfc import DEFAULT_MAX_WORK

__all__ = [
    "CLOCK_SKEW",
    "CRYPTOSUITES",
    "EDDSA_JCS_2022",
    "EDDSA_RDFC_2022",
    "PROOF_TYPE",
    "DataIntegrityProof",
    "OwnerKeys",
    "canonical_document",
    "canonical_proof_config",
    "create_proof",
    "format_datetime",
    "hash_data",
    "proofs_of",
    "sign",
    "verify",
    "verify_all",
]

PROOF_TYPE = "DataIntegrityProof"
EDDSA_JCS_2022 = "eddsa-jcs-2022"
EDDSA_RDFC_2022 = "eddsa-rdfc-2022"
CRYPTOSUITES = (EDDSA_JCS_2022, EDDSA_RDFC_2022)

#: A proof dated this far in the verifier's future is refused (clocks drift; a day-old future is an attack).
CLOCK_SKEW = timedelta(minutes=5)


def format_datetime(moment: datetime) -> str:
    """XML Schema dateTime in UTC to the second, as the Data Integrity examples write it."""
    if moment.tzinfo is None:
        raise InvalidRecord("a proof time must be timezone-aware", field="created")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_datetime(value: Any, field: str) -> datetime:
    if not isinstance(value, str):
        raise ProofError(f"proof {field} must be a dateTime string", field=field)
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ProofError(f"proof {field} {value!r} is not a dateTime", field=field) from exc
    if moment.tzinfo is None:
        raise ProofError(f"proof {field} {value!r} has no time zone", field=field)
    return moment


@dataclass(frozen=True, kw_only=True, slots=True)
class DataIntegrityProof:
    """One proof as it appears in a record. ``options`` holds any further proof properties (domain, nonce...)
    in key order, because they are signed too and must survive a round trip."""

    cryptosuite: str
    verification_method: str
    proof_purpose: str
    proof_value: str
    created: str | None = None
    context: tuple[Any, ...] | None = None
    options: tuple[tuple[str, Any], ...] = ()

    def __post_init__(self) -> None:
        if self.cryptosuite not in CRYPTOSUITES:
            raise InvalidRecord(
                f"cryptosuite {self.cryptosuite!r} is not supported; use one of {CRYPTOSUITES}",
                field="cryptosuite",
            )
        if not self.verification_method:
            raise InvalidRecord("a proof needs a verificationMethod", field="verificationMethod")
        if not self.proof_value.startswith("z"):
            raise InvalidRecord("proofValue must be multibase base58-btc ('z...')", field="proofValue")

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"type": PROOF_TYPE, "cryptosuite": self.cryptosuite}
        if self.created is not None:
            body["created"] = self.created
        body["verificationMethod"] = self.verification_method
        body["proofPurpose"] = self.proof_purpose
        body.update(self.options)
        if self.context is not None:
            body["@context"] = list(self.context)
        body["proofValue"] = self.proof_value
        return body

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> DataIntegrityProof:
        if not isinstance(data, Mapping):
            raise ProofError("a proof must be a JSON object")
        if data.get("type") != PROOF_TYPE:
            raise ProofError(f"proof type must be {PROOF_TYPE!r}, got {data.get('type')!r}", field="type")
        known = {
            "type",
            "cryptosuite",
            "created",
            "verificationMethod",
            "proofPurpose",
            "proofValue",
            "@context",
        }
        fields: dict[str, Any] = {}
        for name, key in (
            ("cryptosuite", "cryptosuite"),
            ("verification_method", "verificationMethod"),
            ("proof_purpose", "proofPurpose"),
            ("proof_value", "proofValue"),
        ):
            value = data.get(key)
            if not isinstance(value, str):
                raise ProofError(f"proof {key} must be a string", field=key)
            fields[name] = value
        created = data.get("created")
        if created is not None:
            _parse_datetime(created, "created")
        context = data.get("@context")
        try:
            return cls(
                **fields,
                created=created,
                context=None
                if context is None
                else tuple(context if isinstance(context, list) else [context]),
                options=tuple((k, v) for k, v in data.items() if k not in known),
            )
        except InvalidRecord as exc:
            raise ProofError(exc.message, field=exc.field) from exc


@dataclass(frozen=True, kw_only=True, slots=True)
class OwnerKeys:
    """The owner a proof must come from: their actor id and the verification methods they list (id -> key)."""

    owner: str
    keys: Mapping[str, Ed25519PublicKey]

    @classmethod
    def from_multikeys(cls, owner: str, multikeys: Mapping[str, str]) -> OwnerKeys:
        """From ``{verification method id: publicKeyMultibase}`` read from an actor's ``assertionMethod``."""
        return cls(owner=owner, keys={vm: decode_public_key(value) for vm, value in multikeys.items()})


# -- canonical forms and hashes ------------------------------------------------------------------------------


def _known_contexts(context: Any) -> None:
    entries = context if isinstance(context, list) else [context]
    for entry in entries:
        if isinstance(entry, str):
            jsonld.require_known_context(entry)


def _jcs(value: Any) -> bytes:
    try:
        return rfc8785.dumps(value)
    except (rfc8785.CanonicalizationError, TypeError, ValueError) as exc:
        raise MalformedInput(f"document cannot be canonicalised with JCS: {exc}") from exc


def canonical_document(
    document: Mapping[str, Any], *, cryptosuite: str, max_work: int = DEFAULT_MAX_WORK
) -> bytes:
    """The transformed document (vc-di-eddsa §3.2.3 / §3.3.3): JCS or RDFC-1.0 of ``document`` as given."""
    if cryptosuite == EDDSA_JCS_2022:
        return _jcs(document)
    if cryptosuite == EDDSA_RDFC_2022:
        return jsonld.canonicalize_rdfc(document, max_work=max_work).encode("utf-8")
    raise ProofError(f"cryptosuite {cryptosuite!r} is not supported", field="cryptosuite")


def canonical_proof_config(
    proof_config: Mapping[str, Any], *, cryptosuite: str, max_work: int = DEFAULT_MAX_WORK
) -> bytes:
    """The canonical proof configuration (the proof without ``proofValue``, with its ``@context``)."""
    if "proofValue" in proof_config:
        raise ValueError("a proof configuration has no proofValue")
    return canonical_document(proof_config, cryptosuite=cryptosuite, max_work=max_work)


def hash_data(canonical_config: bytes, canonical_doc: bytes) -> bytes:
    """vc-di-eddsa §3.2.4 / §3.3.4: SHA-256 of the proof configuration, then SHA-256 of the document."""
    return hashlib.sha256(canonical_config).digest() + hashlib.sha256(canonical_doc).digest()


def proofs_of(document: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The proof objects of a record, whether it carries one (an object) or a set (a list)."""
    proof = document.get("proof")
    if proof is None:
        return []
    items = proof if isinstance(proof, list) else [proof]
    for item in items:
        if not isinstance(item, Mapping):
            raise ProofError("each proof must be a JSON object", field="proof")
    return list(items)


def _unsecured(document: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in document.items() if key != "proof"}


def _hash_for(
    unsecured: Mapping[str, Any], proof_config: Mapping[str, Any], cryptosuite: str, max_work: int
) -> bytes:
    config = dict(proof_config)
    if cryptosuite == EDDSA_RDFC_2022:
        # RDFC always hashes the proof under the document's contexts (vc-di-eddsa §3.3.5, step 4).
        config["@context"] = unsecured.get("@context")
    return hash_data(
        canonical_proof_config(config, cryptosuite=cryptosuite, max_work=max_work),
        canonical_document(unsecured, cryptosuite=cryptosuite, max_work=max_work),
    )


# -- signing -----------------------------------------------------------------------------------------------


def create_proof(
    document: Mapping[str, Any],
    *,
    private_key: Ed25519PrivateKey,
    verification_method: str,
    created: datetime,
    cryptosuite: str = EDDSA_JCS_2022,
    proof_purpose: str = "assertionMethod",
    proof_context: bool = True,
    max_work: int = DEFAULT_MAX_WORK,
) -> DataIntegrityProof:
    """A proof over ``document`` without any proof it already carries (a member of a proof set).

    ``proof_context=False`` leaves ``@context`` out of an eddsa-jcs-2022 proof, as FEP-8b32's vectors (written
    before the W3C Recommendation) do; verifiers accept both, Kith signs with it by default.
    """
    if cryptosuite not in CRYPTOSUITES:
        raise InvalidRecord(f"cryptosuite {cryptosuite!r} is not supported", field="cryptosuite")
    jsonld.check_shape(document)
    unsecured = _unsecured(document)
    context = unsecured.get("@context")
    if context is not None:
        _known_contexts(context)
    config: dict[str, Any] = {
        "type": PROOF_TYPE,
        "cryptosuite": cryptosuite,
        "created": format_datetime(created),
        "verificationMethod": verification_method,
        "proofPurpose": proof_purpose,
    }
    if context is not None and cryptosuite == EDDSA_JCS_2022 and proof_context:
        # vc-di-eddsa §3.3.1 (JCS): the proof carries the document's contexts so that they are signed.
        config["@context"] = context
    signature = private_key.sign(_hash_for(unsecured, config, cryptosuite, max_work))
    return DataIntegrityProof(
        cryptosuite=cryptosuite,
        verification_method=verification_method,
        proof_purpose=proof_purpose,
        proof_value=encode_multibase(signature),
        created=config["created"],
        context=None
        if "@context" not in config
        else tuple(context if isinstance(context, list) else [context]),
    )


def sign(
    document: Mapping[str, Any],
    *,
    private_key: Ed25519PrivateKey,
    verification_method: str,
    created: datetime,
    cryptosuite: str = EDDSA_JCS_2022,
    proof_purpose: str = "assertionMethod",
    proof_context: bool = True,
    max_work: int = DEFAULT_MAX_WORK,
) -> dict[str, Any]:
    """A copy of ``document`` with one more proof: ``proof`` is an object for the first, a list after."""
    proof = create_proof(
        document,
        private_key=private_key,
        verification_method=verification_method,
        created=created,
        cryptosuite=cryptosuite,
        proof_purpose=proof_purpose,
        proof_context=proof_context,
        max_work=max_work,
    ).to_json()
    existing = proofs_of(document)
    signed = dict(document)
    signed["proof"] = [*existing, proof] if existing else proof
    return signed


# -- verification --------------------------------------------------------------------------------------------


def _origin(iri: str) -> tuple[str, str]:
    parts = urlsplit(iri)
    if parts.scheme in ("http", "https"):
        return (parts.scheme, parts.netloc.lower())
    # did:key:z6Mk...#z6Mk... and other non-HTTP methods: the identifier before the fragment.
    return (parts.scheme, iri.split("#", 1)[0])


def _verify_one(
    unsecured: Mapping[str, Any],
    proof: Mapping[str, Any],
    *,
    owner: OwnerKeys,
    proof_purpose: str,
    now: datetime | None,
    max_work: int,
) -> DataIntegrityProof:
    parsed = DataIntegrityProof.from_json(proof)
    method = parsed.verification_method
    if parsed.proof_purpose != proof_purpose:
        raise ProofError(
            f"proof by {method} is for {parsed.proof_purpose!r}, not {proof_purpose!r}", field="proofPurpose"
        )
    key = owner.keys.get(method)
    if key is None or _origin(method) != _origin(owner.owner):
        raise ProofError(
            f"proof is by {method}, which {owner.owner} does not list as its key; "
            "a record is valid only when signed by its owner",
            field="verificationMethod",
        )
    if now is not None:
        if parsed.created is not None and _parse_datetime(parsed.created, "created") > now + CLOCK_SKEW:
            raise ProofError(f"proof by {method} is dated in the future ({parsed.created})", field="created")
        expires = dict(parsed.options).get("expires")
        if expires is not None and _parse_datetime(expires, "expires") <= now:
            raise ProofError(f"proof by {method} expired at {expires}", field="expires")
    try:
        signature = decode_multibase(parsed.proof_value)
    except MalformedInput as exc:
        raise ProofError(f"proofValue is not multibase: {exc.message}", field="proofValue") from exc
    if len(signature) != 64:
        raise ProofError(
            f"an Ed25519 signature is 64 bytes, proofValue holds {len(signature)}", field="proofValue"
        )
    config = {key_: value for key_, value in proof.items() if key_ != "proofValue"}
    document = dict(unsecured)
    if parsed.cryptosuite == EDDSA_JCS_2022 and parsed.context is not None:
        # vc-di-eddsa §3.3.2 step 4: the proof's contexts must open the document's, then replace them.
        doc_context = document.get("@context")
        doc_list = doc_context if isinstance(doc_context, list) else [doc_context]
        if doc_list[: len(parsed.context)] != list(parsed.context):
            raise ProofError(
                "the proof's @context does not match the start of the record's", field="@context"
            )
        document["@context"] = proof["@context"]
    try:
        key.verify(signature, _hash_for(document, config, parsed.cryptosuite, max_work))
    except InvalidSignature as exc:
        raise ProofError(
            f"proof by {method} does not verify: the record was changed after it was signed, "
            "or it was signed with another key",
            field="proofValue",
        ) from exc
    return parsed


def verify(
    document: Mapping[str, Any],
    *,
    owner: OwnerKeys,
    proof_purpose: str = "assertionMethod",
    now: datetime | None = None,
    max_work: int = DEFAULT_MAX_WORK,
) -> DataIntegrityProof:
    """Verify the proof that ``owner`` made on ``document`` and return it.

    Proofs by others in the same set are not this call's concern (see ``verify_all``); a record with no proof
    by one of the owner's listed keys is refused.
    """
    jsonld.check_shape(document)
    unsecured = _unsecured(document)
    if "@context" in unsecured:
        _known_contexts(unsecured["@context"])
    proofs = proofs_of(document)
    if not proofs:
        raise ProofError("record carries no proof", field="proof")
    mine = [
        p
        for p in proofs
        if isinstance(p.get("verificationMethod"), str) and p["verificationMethod"] in owner.keys
    ]
    if not mine:
        methods = ", ".join(str(p.get("verificationMethod")) for p in proofs)
        raise ProofError(
            f"no proof by a key {owner.owner} lists (proofs are by: {methods}); "
            "a record is valid only when signed by its owner",
            field="verificationMethod",
        )
    return _verify_one(
        unsecured, mine[0], owner=owner, proof_purpose=proof_purpose, now=now, max_work=max_work
    )


def verify_all(
    document: Mapping[str, Any],
    *,
    owners: Sequence[OwnerKeys],
    proof_purpose: str = "assertionMethod",
    now: datetime | None = None,
    max_work: int = DEFAULT_MAX_WORK,
) -> tuple[DataIntegrityProof, ...]:
    """Every owner has a valid proof on ``document`` and every proof is by one of them (a mutual record)."""
    if not owners:
        raise ValueError("verify_all needs at least one owner")
    jsonld.check_shape(document)
    unsecured = _unsecured(document)
    if "@context" in unsecured:
        _known_contexts(unsecured["@context"])
    proofs = proofs_of(document)
    verified: list[DataIntegrityProof] = []
    proven: set[str] = set()
    for proof in proofs:
        method = proof.get("verificationMethod")
        owner = next((o for o in owners if isinstance(method, str) and method in o.keys), None)
        if owner is None:
            raise ProofError(
                f"proof by {method} is not by any of the record's owners "
                f"({', '.join(o.owner for o in owners)})",
                field="verificationMethod",
            )
        verified.append(
            _verify_one(
                unsecured, proof, owner=owner, proof_purpose=proof_purpose, now=now, max_work=max_work
            )
        )
        proven.add(owner.owner)
    missing = [o.owner for o in owners if o.owner not in proven]
    if missing:
        raise ProofError(f"record lacks a proof by {', '.join(missing)}", field="proof")
    return tuple(verified)
