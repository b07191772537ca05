"""The ``storage.url`` setting: which engine holds a server's data (issue #14; specs/POSTGRESQL.md).

Empty, or ``sqlite:``, is the embedded SQLite database in the data folder (docs/ARCHITECTURE.md §6). Otherwise it
is a libpq connection URI, ``postgresql://`` or ``postgres://``, checked here the way libpq reads it so that a
mistake is reported when the configuration loads, naming what is wrong, instead of as a driver error at the
first query. The same URL works for psql and pg_dump, which the deployment guide relies on.

A URL may carry a password: every message here, and what ``kith config`` prints, shows it redacted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal
from urllib.parse import unquote

__all__ = [
    "LIBPQ_PARAMETERS",
    "SQLITE_URL",
    "StorageUrl",
    "StorageUrlError",
    "parse_storage_url",
    "redact_url",
]

SQLITE_URL = "sqlite:"
_SCHEMES = ("postgresql://", "postgres://")

#: The connection parameters libpq accepts in a URI's query (PostgreSQL 15 to 17). Anything else is refused by
#: libpq itself ("invalid URI query parameter"), so it is refused here first, by name.
LIBPQ_PARAMETERS = frozenset(
    {
        "application_name",
        "channel_binding",
        "client_encoding",
        "connect_timeout",
        "dbname",
        "fallback_application_name",
        "gssdelegation",
        "gssencmode",
        "gsslib",
        "host",
        "hostaddr",
        "keepalives",
        "keepalives_count",
        "keepalives_idle",
        "keepalives_interval",
        "krbsrvname",
        "load_balance_hosts",
        "options",
        "passfile",
        "password",
        "port",
        "replication",
        "require_auth",
        "requirepeer",
        "service",
        "ssl_max_protocol_version",
        "ssl_min_protocol_version",
        "sslcert",
        "sslcertmode",
        "sslcompression",
        "sslcrl",
        "sslcrldir",
        "sslkey",
        "sslmode",
        "sslnegotiation",
        "sslpassword",
        "sslrootcert",
        "sslsni",
        "target_session_attrs",
        "tcp_user_timeout",
        "user",
    }
)

_PORT = re.compile(r"[0-9]{1,5}")
_HOST = re.compile(r"(?:[A-Za-z0-9._~%-]*|\[[0-9A-Fa-f:.]+(?:%25[A-Za-z0-9._~-]+)?\])")
_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")
#: What a pasted URL must not hold: white space and control characters (a trailing newline from a secret file).
_UNPRINTABLE = re.compile(r"[\x00-\x20\x7f-\x9f]")


class StorageUrlError(ValueError):
    """storage.url is not something Kith can use; the message says what to write instead."""


@dataclass(frozen=True, slots=True)
class StorageUrl:
    backend: Literal["sqlite", "postgresql"]
    url: str  # as written; "" for the embedded default

    @property
    def redacted(self) -> str:
        return redact_url(self.url)


def _authority_end(rest: str) -> int:
    """Where the user-and-hosts part of a URL (after the scheme) ends: at the first '/' or '?'."""
    return min((i for i in (rest.find("/"), rest.find("?")) if i >= 0), default=len(rest))


def redact_url(url: str) -> str:
    """The URL with any password (in the user part or a ``password=`` parameter) replaced by ``***``. Any
    scheme, and any mangling: a password holding an unencoded '/', '?', '#' or '@' is hidden whole, up to the
    last '@', rather than cut where a parser would cut it."""
    at = url.find("://")
    if at < 0:
        return re.sub(r"((?:^|[?&])password=)[^&]*", r"\1***", url)
    scheme, rest = url[: at + 3], url[at + 3 :]
    cut = _authority_end(rest)
    last_at = rest.rfind("@")
    if last_at >= cut:  # an '@' past the host part: the user part is not where it should be; hide it all
        return scheme + "***@" + re.sub(r"([?&]password=)[^&]*", r"\1***", rest[last_at + 1 :])
    authority, tail = rest[:cut], rest[cut:]
    if last_at >= 0:
        userinfo, hosts = authority[:last_at], authority[last_at + 1 :]
        if ":" in userinfo:
            authority = userinfo.split(":", 1)[0] + ":***@" + hosts
    return scheme + authority + re.sub(r"([?&]password=)[^&]*", r"\1***", tail)


def parse_storage_url(text: str) -> StorageUrl:
    """Check a storage.url value; raise StorageUrlError naming the mistake (never showing a password)."""
    if text in ("", SQLITE_URL):
        return StorageUrl(backend="sqlite", url=text)
    shown = redact_url(text)
    if _UNPRINTABLE.search(text):
        raise StorageUrlError(
            f"{shown!r} holds spaces or control characters; percent-encode them (a space is %20)"
        )
    lowered = text.lower()
    if lowered.startswith("sqlite:"):
        raise StorageUrlError(
            f"{shown!r}: Kith keeps its SQLite databases in the data folder (--data); write {SQLITE_URL!r} "
            "or leave storage.url empty"
        )
    if lowered.startswith("jdbc:"):
        raise StorageUrlError(f"{shown!r} is a JDBC URL; drop the 'jdbc:' prefix")
    scheme = next((s for s in _SCHEMES if text.startswith(s)), None)
    if scheme is None:
        if any(lowered.startswith(s) for s in _SCHEMES):
            raise StorageUrlError(f"{shown!r}: write the scheme in lower case ({_SCHEMES[0]}...)")
        raise StorageUrlError(
            f"{shown!r} is not a storage URL: leave it empty for the embedded SQLite database, or write "
            "postgresql://USER@HOST:PORT/DATABASE for PostgreSQL"
        )
    rest = text[len(scheme) :]
    if rest.count("@") > 1 or rest.rfind("@") >= _authority_end(rest):
        raise StorageUrlError(
            f"{shown!r}: percent-encode '@', '/', '?' and '#' in the user name, the password and parameter "
            "values (%40, %2F, %3F, %23): libpq reads the first '@' as the end of the user part"
        )
    if "#" in text:
        raise StorageUrlError(f"{shown!r} has a '#': percent-encode it (%23) in a password or a name")
    if _BAD_ESCAPE.search(text):
        raise StorageUrlError(f"{shown!r} has a '%' that is not followed by two hex digits (write %25)")
    rest, _, query = rest.partition("?")
    authority, slash, path = rest.partition("/")
    if "/" in path:
        raise StorageUrlError(
            f"{shown!r}: the database name {path!r} holds a '/'; percent-encode it (%2F) if it is meant"
        )
    if slash and path and not unquote(path).strip():
        raise StorageUrlError(f"{shown!r}: the database name is blank")
    hosts = authority.rsplit("@", 1)[1] if "@" in authority else authority
    if "@" in authority and not authority.rsplit("@", 1)[0].split(":", 1)[0]:
        raise StorageUrlError(f"{shown!r}: the user name before '@' is empty")
    for spec in hosts.split(","):
        host, port = spec, ""
        if spec.startswith("["):
            end = spec.find("]")
            host, after = spec[: end + 1], spec[end + 1 :]
            if end < 0 or (after and not after.startswith(":")):
                raise StorageUrlError(f"{shown!r}: {spec!r} is not a bracketed IPv6 address like [::1]:5432")
            port = after[1:]
        elif ":" in spec:
            host, port = spec.rsplit(":", 1)
        if not _HOST.fullmatch(host):
            raise StorageUrlError(f"{shown!r}: {host!r} is not a host name or address")
        if port and not (_PORT.fullmatch(port) and 1 <= int(port) <= 65535):
            raise StorageUrlError(f"{shown!r}: the port {port!r} must be a number from 1 to 65535")
        if not host and len(hosts.split(",")) > 1:
            raise StorageUrlError(f"{shown!r}: a host in the list {hosts!r} is empty")
    if query:
        for pair in query.split("&"):
            key, eq, _value = pair.partition("=")
            if not eq or not key:
                raise StorageUrlError(f"{shown!r}: each parameter after '?' must be NAME=VALUE")
            if unquote(key) not in LIBPQ_PARAMETERS:
                hint = " (for TLS write sslmode=require)" if key in ("ssl", "useSSL", "tls") else ""
                raise StorageUrlError(
                    f"{shown!r}: {key!r} is not a libpq connection parameter{hint}; see "
                    "https://www.postgresql.org/docs/current/libpq-connect.html#LIBPQ-PARAMKEYWORDS"
                )
    return StorageUrl(backend="postgresql", url=text)
