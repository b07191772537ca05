"""JSON-LD processing over the contexts Kith ships, never the network.

Rules kept here:
- The document loader serves only the contexts in protocol/_contexts.py (generated from specs/contexts/) and
  raises UnknownContext for any other URL. Nothing is ever fetched; pyld's process-wide context cache is not
  used either (a context some other code cached there must not leak into our processing).
- Input is hostile: ``check_shape`` bounds nesting depth and node count before pyld sees a document, and
  ``parse_json`` bounds the byte size before parsing.
- RDF canonicalisation is RDFC-1.0 named explicitly (pyld's ``normalize`` defaults to URGNA2012) and runs
  under the work limit of protocol.rdfc.

Pyld costs milliseconds per call (docs/ARCHITECTURE.md §4): use it where meaning must be exact -- RDFC proofs, validation
of our own records, tests -- and read ordinary ActivityStreams as plain JSON.
Spec: specs/PROTOCOL.md §JSON-LD; contexts and their provenance: specs/contexts/README.md.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from cachetools import LRUCache

from protocol._contexts import CONTEXT_TEXTS
from protocol.errors import MalformedInput, TooLarge, UnknownContext
from protocol.rdfc import DEFAULT_MAX_WORK, canonicalize_dataset

__all__ = [
    "ACTIVITYSTREAMS",
    "CID_V1",
    "CONTEXTS",
    "DATA_INTEGRITY_V1",
    "DATA_INTEGRITY_V2",
    "KITH_V1",
    "MAX_DEPTH",
    "MAX_DOCUMENT_BYTES",
    "MAX_NODES",
    "MULTIKEY_V1",
    "SECURITY_V1",
    "canonicalize_rdfc",
    "check_shape",
    "compact",
    "document_loader",
    "expand",
    "parse_json",
    "require_known_context",
    "to_rdf",
]

KITH_V1 = "https://w3id.org/kith/v1"
ACTIVITYSTREAMS = "https://www.w3.org/ns/activitystreams"
SECURITY_V1 = "https://w3id.org/security/v1"
DATA_INTEGRITY_V1 = "https://w3id.org/security/data-integrity/v1"
DATA_INTEGRITY_V2 = "https://w3id.org/security/data-integrity/v2"
MULTIKEY_V1 = "https://w3id.org/security/multikey/v1"
CID_V1 = "https://www.w3.org/ns/cid/v1"

#: A record or activity larger than this is refused before parsing (the inbox uses the same 1 MiB figure).
MAX_DOCUMENT_BYTES = 1024 * 1024
#: Nesting depth of JSON objects and arrays; ActivityStreams rarely goes past 6.
MAX_DEPTH = 32
#: Objects, arrays and scalars together.
MAX_NODES = 20_000

#: Parsed context documents by IRI. Read-only: the loader hands pyld deep copies.
CONTEXTS: Mapping[str, Mapping[str, Any]] = MappingProxyType(
    {iri: json.loads(text) for iri, text in CONTEXT_TEXTS.items()}
)

# Servers write the ActivityStreams IRI a few ways; all mean the one document.
_ALIASES = {
    "http://www.w3.org/ns/activitystreams": ACTIVITYSTREAMS,
    "https://www.w3.org/ns/activitystreams#": ACTIVITYSTREAMS,
    "https://www.w3.org/ns/activitystreams.jsonld": ACTIVITYSTREAMS,
}

# Resolved contexts, shared by our calls only. Bounded: inline contexts are cached too, and a peer can send
# as many distinct inline contexts as it likes.
_RESOLVED_CACHE: LRUCache[str, Any] = LRUCache(maxsize=256)


def require_known_context(url: str) -> str:
    """The IRI of a context Kith ships (resolving aliases); UnknownContext for any other URL."""
    iri = _ALIASES.get(url, url)
    if iri not in CONTEXTS:
        raise UnknownContext(
            f"JSON-LD context {url!r} is not one Kith ships, and Kith never fetches contexts; "
            f"use only: {', '.join(CONTEXTS)}",
            field="@context",
        )
    return iri


def document_loader(url: str, options: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A pyld document loader that serves shipped contexts from memory and refuses everything else."""
    iri = require_known_context(url)
    document = CONTEXTS[iri]
    return {
        "contentType": "application/ld+json",
        "contextUrl": None,
        "documentUrl": iri,
        "document": copy.deepcopy(dict(document)),
        # "static" lets pyld keep the resolved context in _RESOLVED_CACHE across calls.
        "tag": "static",
    }


def _pyld() -> Any:
    """pyld's jsonld module, imported on first use: with requests and urllib3, which it imports, it costs a
    third of a second of start-up that only JSON-LD processing (proofs with RDFC, our own records' checks) needs."""
    from pyld import jsonld

    return jsonld


def _options(**extra: Any) -> dict[str, Any]:
    from pyld.context_resolver import ContextResolver

    return {
        "documentLoader": document_loader,
        "contextResolver": ContextResolver(_RESOLVED_CACHE, document_loader),
        "processingMode": "json-ld-1.1",
        "base": "",
        **extra,
    }


def _unknown_context_in(exc: BaseException) -> UnknownContext | None:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, UnknownContext):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def _run(operation: str, func: Any, *args: Any) -> Any:
    try:
        return func(*args)
    except (UnknownContext, TooLarge):
        raise
    except _pyld().JsonLdError as exc:
        unknown = _unknown_context_in(exc)
        if unknown is not None:
            raise UnknownContext(unknown.message, field="@context") from exc
        raise MalformedInput(f"JSON-LD {operation} failed: {exc}") from exc
    except RecursionError as exc:
        raise TooLarge(f"JSON-LD {operation} nested too deeply") from exc


def check_shape(document: Any, *, max_depth: int = MAX_DEPTH, max_nodes: int = MAX_NODES) -> None:
    """Raise TooLarge if ``document`` nests deeper than ``max_depth`` or holds over ``max_nodes`` values."""
    stack: list[tuple[Any, int]] = [(document, 1)]
    nodes = 0
    while stack:
        value, depth = stack.pop()
        nodes += 1
        if nodes > max_nodes:
            raise TooLarge(f"document has more than {max_nodes} values; send a smaller document")
        if isinstance(value, dict):
            if depth > max_depth:
                raise TooLarge(f"document nests deeper than {max_depth} levels; flatten it")
            stack.extend((item, depth + 1) for item in value.values())
        elif isinstance(value, list):
            if depth > max_depth:
                raise TooLarge(f"document nests deeper than {max_depth} levels; flatten it")
            stack.extend((item, depth + 1) for item in value)


def parse_json(
    raw: bytes | str, *, max_bytes: int = MAX_DOCUMENT_BYTES, max_depth: int = MAX_DEPTH
) -> dict[str, Any]:
    """Parse one JSON object from untrusted bytes, refusing oversize, over-deep or non-object input."""
    size = len(raw.encode("utf-8")) if isinstance(raw, str) else len(raw)
    if size > max_bytes:
        raise TooLarge(f"document is {size} bytes, over the {max_bytes}-byte limit")
    try:
        value = json.loads(raw)
    except RecursionError as exc:
        raise TooLarge(f"document nests deeper than {max_depth} levels") from exc
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedInput(f"document is not valid JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise MalformedInput("document must be a JSON object")
    check_shape(value, max_depth=max_depth)
    return value


def expand(document: Mapping[str, Any], *, strict: bool = False) -> list[dict[str, Any]]:
    """Expanded form of ``document``. With ``strict``, a property no context defines is an error.

    ActivityStreams maps undefined terms to blank-node IRIs ("@vocab": "_:"), which RDF then drops silently;
    strict mode refuses such documents so that nothing a signer wrote can vanish from what is verified.
    """
    check_shape(document)
    expanded: list[dict[str, Any]] = _run("expansion", _pyld().expand, dict(document), _options())
    if strict:
        _refuse_undefined_terms(expanded)
    return expanded


def _refuse_undefined_terms(expanded: Any) -> None:
    stack = [expanded]
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            for key, item in value.items():
                if key.startswith("_:"):
                    raise MalformedInput(
                        f"property {key[2:]!r} is not defined by any of the document's contexts",
                        field=key[2:],
                    )
                if key == "@type":
                    for type_ in item if isinstance(item, list) else [item]:
                        if isinstance(type_, str) and type_.startswith("_:"):
                            raise MalformedInput(
                                f"type {type_[2:]!r} is not defined by any of the document's contexts",
                                field="type",
                            )
                stack.append(item)
        elif isinstance(value, list):
            stack.extend(value)


def compact(document: Mapping[str, Any], context: Any) -> dict[str, Any]:
    """Compact ``document`` (compacted or expanded) against ``context``, a context IRI, list or object."""
    check_shape(document)
    source: Any = dict(document) if isinstance(document, Mapping) else document
    result: dict[str, Any] = _run("compaction", _pyld().compact, source, context, _options())
    return result


def to_rdf(document: Mapping[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """The RDF dataset of ``document`` in pyld's dataset form (graph name -> list of quads)."""
    check_shape(document)
    dataset: dict[str, list[dict[str, Any]]] = _run(
        "conversion to RDF", _pyld().to_rdf, dict(document), _options(produceGeneralizedRdf=False)
    )
    return dataset


def canonicalize_rdfc(
    document: Mapping[str, Any],
    *,
    max_work: int = DEFAULT_MAX_WORK,
    hash_algorithm: str = "sha256",
    strict: bool = True,
) -> str:
    """RDFC-1.0 canonical N-Quads of a JSON-LD document, in ``max_work`` steps or CanonicalizationLimit.

    ``strict`` (the default) refuses properties no context defines: RDF would drop them silently, so a
    signer's words could vanish from what is signed, or an attacker's be added to a signed record unnoticed.
    """
    if strict:
        source: Mapping[str, Any] = {"@graph": expand(document, strict=True)}
    else:
        source = document
    return canonicalize_dataset(to_rdf(source), max_work=max_work, hash_algorithm=hash_algorithm)
