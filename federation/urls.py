"""Where everything federation serves lives, and the documents describing our actors.

Each account's actor (``Person`` or ``Organization``) lives at ``/users/<name>``; the server's own actor
(``Application``, which signs fetches the way Mastodon's instance actor does) at ``/actor``. Both kinds of document
carry ``publicKey`` (RSA, what Mastodon verifies), ``assertionMethod`` (Ed25519 Multikey, FEP-521a) and
``implements`` (FEP-844e) naming the Kith protocol, by which peers recognise each other.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from protocol.multikey import encode_public_key

__all__ = [
    "AS_CONTEXT",
    "KITH_PROTOCOL",
    "MULTIKEY_CONTEXT",
    "NODE_USERNAME",
    "PUBLIC",
    "SECURITY_CONTEXT",
    "Urls",
    "actor_document",
    "ed25519_multibase",
]

AS_CONTEXT = "https://www.w3.org/ns/activitystreams"
SECURITY_CONTEXT = "https://w3id.org/security/v1"
MULTIKEY_CONTEXT = "https://w3id.org/security/multikey/v1"
PUBLIC = "https://www.w3.org/ns/activitystreams#Public"
KITH_PROTOCOL = "https://w3id.org/kith/protocol/v1"
NODE_USERNAME = "kith.node"  # preferredUsername of the node's Application actor; a dot keeps it off owners'

_ACTOR_CONTEXT: list[Any] = [
    AS_CONTEXT,
    SECURITY_CONTEXT,
    MULTIKEY_CONTEXT,
    {
        "manuallyApprovesFollowers": "as:manuallyApprovesFollowers",
        "alsoKnownAs": {"@id": "as:alsoKnownAs", "@type": "@id"},
        "movedTo": {"@id": "as:movedTo", "@type": "@id"},
        "implements": {"@id": "https://w3id.org/fep/844e/implements", "@type": "@id"},
        # profile fields, as Mastodon names them (federation/profile.py)
        "schema": "http://schema.org#",
        "PropertyValue": "schema:PropertyValue",
        "value": "schema:value",
    },
]
#: What the owner's public profile may add to their actor document (federation/profile.py)
_PROFILE_FIELDS = ("summary", "icon", "attachment")


def ed25519_multibase(key: ed25519.Ed25519PublicKey) -> str:
    """``publicKeyMultibase`` of an Ed25519 key (FEP-521a), by protocol/multikey."""
    return encode_public_key(key)


def _pem(key: rsa.RSAPrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


@dataclass(frozen=True, slots=True)
class Urls:
    """The server's URLs, and those of one account's actor (``username``; empty: the server's alone)."""

    base: str  # e.g. https://example.org, no trailing slash
    username: str = ""

    @property
    def host(self) -> str:
        return self.base.split("://", 1)[1]

    def of(self, username: str) -> Urls:
        """The URLs of the account ``username`` on this server."""
        return Urls(self.base, username)

    @property
    def owner(self) -> str:
        if not self.username:
            raise ValueError("these are the server's URLs; ask Urls.of(name) for an account's")
        return f"{self.base}/users/{self.username}"

    def account_of(self, url: str) -> str | None:
        """The account name a URL of ours names: its actor (with a ``#fragment`` or not) or its followers
        collection; None for anything else."""
        prefix = self.base + "/users/"
        if not isinstance(url, str) or not url.startswith(prefix):
            return None
        rest = url[len(prefix) :].split("#", 1)[0]
        name, _, tail = rest.partition("/")
        if not name or tail not in ("", "followers"):
            return None
        return name

    @property
    def owner_key(self) -> str:
        return self.owner + "#main-key"

    @property
    def owner_multikey(self) -> str:
        return self.owner + "#ed25519-key"

    @property
    def node(self) -> str:
        return f"{self.base}/actor"

    @property
    def node_key(self) -> str:
        return self.node + "#main-key"

    @property
    def shared_inbox(self) -> str:
        return f"{self.base}/inbox"

    def inbox(self, actor: str) -> str:
        return actor + "/inbox"

    def outbox(self, actor: str) -> str:
        return actor + "/outbox"

    def followers(self, actor: str) -> str:
        return actor + "/followers"

    def following(self, actor: str) -> str:
        return actor + "/following"

    @property
    def owner_acct(self) -> str:
        return f"{self.username}@{self.host}"

    @property
    def node_acct(self) -> str:
        return f"{NODE_USERNAME}@{self.host}"

    def new_id(self, kind: str = "activities") -> str:
        return f"{self.base}/{kind}/{uuid.uuid4()}"


def actor_document(
    urls: Urls,
    *,
    which: str,
    actor_type: str,
    name: str,
    rsa_key: rsa.RSAPrivateKey,
    ed_key: ed25519.Ed25519PrivateKey | None,
    manually_approves: bool,
    also_known_as: list[str] | None = None,
    moved_to: str | None = None,
    extra: dict[str, Any] | None = None,
    username: str = "",
) -> dict[str, Any]:
    """``extra``: the owner's public profile fields (summary, icon, attachment); nothing else is taken.
    ``username``: the owner's ``preferredUsername`` when it is not the account's name (LocalAccount.alias)."""
    actor = urls.owner if which == "owner" else urls.node
    doc: dict[str, Any] = {
        "@context": _ACTOR_CONTEXT,
        "id": actor,
        "type": actor_type,
        "preferredUsername": (username or urls.username) if which == "owner" else NODE_USERNAME,
        "name": name,
        "url": actor,
        "inbox": urls.inbox(actor),
        "outbox": urls.outbox(actor),
        "followers": urls.followers(actor),
        "following": urls.following(actor),
        "endpoints": {"sharedInbox": urls.shared_inbox},
        "manuallyApprovesFollowers": manually_approves,
        "discoverable": False,
        "publicKey": {"id": actor + "#main-key", "owner": actor, "publicKeyPem": _pem(rsa_key)},
    }
    implements = [{"href": KITH_PROTOCOL, "name": "Kith protocol v1"}]
    if which == "owner":
        # FEP-844e: the software that generates the actor (our node's Application actor) says what it implements
        doc["generator"] = {"id": urls.node, "type": "Application", "implements": implements}
    else:
        doc["implements"] = implements
    if ed_key is not None:
        doc["assertionMethod"] = [
            {
                "id": actor + "#ed25519-key",
                "type": "Multikey",
                "controller": actor,
                "publicKeyMultibase": ed25519_multibase(ed_key.public_key()),
            }
        ]
    for name in _PROFILE_FIELDS:
        if extra and name in extra:
            doc[name] = extra[name]
    if also_known_as:
        doc["alsoKnownAs"] = also_known_as
    if moved_to:
        doc["movedTo"] = moved_to
    return doc
