"""RDF Dataset Canonicalization (RDFC-1.0, formerly URDNA2015) with a hard work limit.

Rules kept here:
- The algorithm is always RDFC-1.0 by name; pyld's own default (URGNA2012) is never reached from Kith.
- Canonicalisation of an attacker's graph can take factorial time (the "poison graph" of the W3C test suite,
  a clique of blank nodes). Every step of Hash N-Degree Quads (each call and each permutation tried) is
  counted against ``max_work``; past it we stop with CanonicalizationLimit. The counter is deterministic,
  so the same input stops at the same place on every machine -- no clock is consulted.
- Pure: takes a parsed dataset or N-Quads text, returns N-Quads text.

Spec: https://www.w3.org/TR/rdf-canon/ (§4.4 main algorithm, §4.8 Hash N-Degree Quads, §6 resource limits).
pyld supplies the hashing of first-degree quads, the related-node hashing and the N-Quads codec; the N-degree
step is written here so that it can be metered.
"""

from __future__ import annotations

import hashlib
import itertools
from functools import cache
from typing import TYPE_CHECKING, Any

from protocol.errors import CanonicalizationLimit, MalformedInput

if TYPE_CHECKING:
    from pyld.identifier_issuer import IdentifierIssuer

__all__ = [
    "DEFAULT_MAX_WORK",
    "HASH_ALGORITHMS",
    "canonicalize_dataset",
    "canonicalize_nquads",
]

#: Steps of Hash N-Degree Quads allowed by default. The W3C "evil" graphs (tests 044-046, 075), which the
#: spec says must be computable, need a few hundred; a 10-node clique (test 074) needs millions.
DEFAULT_MAX_WORK = 20_000

HASH_ALGORITHMS = ("sha256", "sha384")

_Dataset = dict[str, list[dict[str, Any]]]


@cache
def _metered_class() -> type[Any]:
    """pyld's URDNA2015 subclassed on first use: pyld (with requests and urllib3, which it imports) costs a
    third of a second of start-up that only records signed with RDFC ever need."""
    from pyld import canon as _pyld_canon

    class _MeteredRdfc10(_pyld_canon.URDNA2015):  # type: ignore[misc]
        """pyld's URDNA2015 (= RDFC-1.0) with a metered Hash N-Degree Quads and a selectable hash."""

        def __init__(self, *, max_work: int, hash_algorithm: str) -> None:
            super().__init__()
            self._max_work = max_work
            self._work = 0
            self._hash_algorithm = hash_algorithm

        def _spend(self) -> None:
            self._work += 1
            if self._work > self._max_work:
                raise CanonicalizationLimit(
                    f"RDF canonicalisation stopped after {self._max_work} steps of Hash N-Degree Quads: "
                    "the graph's "
                    "blank nodes are too symmetric to label within the limit (a poisoned graph?). "
                    "Send the record with fewer interlinked blank nodes, or sign it with eddsa-jcs-2022.",
                )

        def create_hash(self) -> Any:
            return hashlib.new(self._hash_algorithm)

        def hash_n_degree_quads(self, id_: str, issuer: IdentifierIssuer) -> dict[str, Any]:
            # RDFC-1.0 §4.8.3, step numbers in comments.
            self._spend()
            hash_to_related = self.create_hash_to_related(id_, issuer)  # steps 1-3
            md = self.create_hash()  # step 4: data to hash
            for related_hash, blank_nodes in sorted(hash_to_related.items()):  # step 5
                md.update(related_hash.encode("utf8"))  # 5.1
                chosen_path = ""  # 5.2
                chosen_issuer: IdentifierIssuer | None = None  # 5.3
                for permutation in itertools.permutations(blank_nodes):  # 5.4
                    self._spend()
                    issuer_copy = _copy_issuer(issuer)
                    path = ""
                    recursion_list: list[str] = []
                    skip = False
                    for related in permutation:  # 5.4.4
                        if self.canonical_issuer.has_id(related):
                            path += self.canonical_issuer.get_id(related)
                        else:
                            if not issuer_copy.has_id(related):
                                recursion_list.append(related)
                            path += issuer_copy.get_id(related)
                        if chosen_path and len(path) >= len(chosen_path) and path > chosen_path:
                            skip = True
                            break
                    if skip:
                        continue
                    for related in recursion_list:  # 5.4.5
                        result = self.hash_n_degree_quads(related, issuer_copy)
                        path += issuer_copy.get_id(related)
                        path += "<" + result["hash"] + ">"
                        issuer_copy = result["issuer"]
                        if chosen_path and len(path) >= len(chosen_path) and path > chosen_path:
                            skip = True
                            break
                    if skip:
                        continue
                    if not chosen_path or path < chosen_path:  # 5.4.6
                        chosen_path = path
                        chosen_issuer = issuer_copy
                md.update(chosen_path.encode("utf8"))  # 5.5
                if chosen_issuer is not None:
                    issuer = chosen_issuer  # 5.6
            return {"hash": md.hexdigest(), "issuer": issuer}

    return _MeteredRdfc10


def _copy_issuer(issuer: IdentifierIssuer) -> IdentifierIssuer:
    # Cheaper than copy.deepcopy and enough: an issuer holds a prefix, a counter, a dict and a string list.
    from pyld.identifier_issuer import IdentifierIssuer

    clone = IdentifierIssuer(issuer.prefix)
    clone.counter = issuer.counter
    clone.existing = dict(issuer.existing)
    clone.order = list(issuer.order)
    return clone


def _check(max_work: int, hash_algorithm: str) -> None:
    if max_work < 1:
        raise ValueError("max_work must be at least 1")
    if hash_algorithm not in HASH_ALGORITHMS:
        raise ValueError(f"hash_algorithm must be one of {HASH_ALGORITHMS}")


def canonicalize_dataset(
    dataset: _Dataset, *, max_work: int = DEFAULT_MAX_WORK, hash_algorithm: str = "sha256"
) -> str:
    """Canonical N-Quads of a pyld RDF dataset (as ``pyld.jsonld.to_rdf`` gives it). Consumes ``dataset``."""
    _check(max_work, hash_algorithm)
    algorithm = _metered_class()(max_work=max_work, hash_algorithm=hash_algorithm)
    result = algorithm.main(dataset, {"format": "application/n-quads"})
    assert isinstance(result, str)
    return result


def canonicalize_nquads(
    nquads: str, *, max_work: int = DEFAULT_MAX_WORK, hash_algorithm: str = "sha256"
) -> str:
    """Canonical N-Quads of an N-Quads document (the form the W3C rdf-canon tests use)."""
    _check(max_work, hash_algorithm)
    from pyld.nquads import parse_nquads

    try:
        dataset = parse_nquads(nquads)
    except Exception as exc:  # pyld raises its own JsonLdError with a message worth keeping
        raise MalformedInput(f"not valid N-Quads: {exc}") from exc
    # pyld skips relabelling blank nodes whose input label already starts with "_:c14n", which would leave a
    # canonical-looking input unlabelled; give every input blank node a neutral label first (labels carry no
    # meaning, so the graph is unchanged).
    for triples in dataset.values():
        for quad in triples:
            for key in ("subject", "object", "name"):
                component = quad.get(key)
                if component and component.get("type") == "blank node":
                    component["value"] = "_:in-" + component["value"][2:]
    renamed: _Dataset = {}
    for graph_name, triples in dataset.items():
        key = "_:in-" + graph_name[2:] if graph_name.startswith("_:") else graph_name
        renamed[key] = triples
    return canonicalize_dataset(renamed, max_work=max_work, hash_algorithm=hash_algorithm)
