"""Typed configuration, built once from one schema (docs/ARCHITECTURE.md §3.10).

Sources, later ones win: the defaults below, ``kith.toml`` in the data folder (written by ``kith init``), then
``KITH_<SECTION>_<NAME>`` environment variables (plus the short aliases listed in ``_ALIASES``). Nothing else in
Kith reads ``os.environ``. The CLI help and the README's configuration table are generated from ``SCHEMA``.
"""

from __future__ import annotations

import ipaddress
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import tomli_w

from node.files import write_private
from node.storage_url import StorageUrlError, parse_storage_url, redact_url

__all__ = [
    "CONFIG_FILE",
    "DOMAIN_PATTERN",
    "DOMAIN_SHAPE",
    "SCHEMA",
    "USERNAME_PATTERN",
    "USERNAME_SHAPE",
    "AccountsConfig",
    "BlueskyBridgeConfig",
    "Config",
    "ConfigError",
    "FederationConfig",
    "MailConfig",
    "NodeConfig",
    "Option",
    "ServerConfig",
    "StayInTouchConfig",
    "StorageConfig",
    "account_from_env",
    "config_table_markdown",
    "default_data_dir",
    "load_config",
    "passphrase_from_env",
    "smtp_password_from_env",
    "write_config",
]

CONFIG_FILE = "kith.toml"

#: The owner's username: what comes before the @ of acct:USERNAME@DOMAIN and in every actor URL.
USERNAME_PATTERN = r"[a-z0-9_][a-z0-9_.-]{0,63}"
USERNAME_SHAPE = "1-64 lowercase letters, digits, '_', '.' or '-', like 'alice'"
#: A DNS name, an IPv4 address or a bracketed IPv6 address, with an optional port from 1 to 65535.
DOMAIN_PATTERN = (
    r"(?i)(?:[a-z0-9-]+(?:\.[a-z0-9-]+)*|\[[0-9a-f:.]+\])"
    r"(?::(?:6553[0-5]|655[0-2]\d|65[0-4]\d\d|6[0-4]\d{3}|[1-5]\d{4}|[1-9]\d{0,3}))?"
)
DOMAIN_SHAPE = "HOST or HOST:PORT, like kith.example.org or 127.0.0.1:8700"


class ConfigError(ValueError):
    """A configuration value is wrong; the message names the option and what it should be."""


@dataclass(frozen=True, slots=True)
class Option:
    section: str
    name: str
    type: str  # "str" | "int" | "bool" | "cidrs" | "choice" | "storage_url"
    default: Any
    help: str
    choices: tuple[str, ...] = ()
    maximum: int = 10**9  # for "int" options
    minimum: int = 0  # for "int" options
    pattern: str = ""  # for "str" options: the whole value must match (re.fullmatch)
    shape: str = ""  # what the pattern means, for the error message
    attr: str = ""  # the dataclass field holding it, when its name cannot be one (mail.from: a keyword)
    secret: bool = False  # shown redacted by `kith config` (a password)

    @property
    def attribute(self) -> str:
        """The name of the option's field in its section's dataclass."""
        return self.attr or self.name

    @property
    def holder(self) -> str:
        """The Config field holding the option's section: a dotted section (``bridge.bluesky``, a nested TOML
        table) is held under its name with underscores."""
        return self.section.replace(".", "_")

    @property
    def env(self) -> str:
        return f"KITH_{self.holder.upper()}_{self.name.upper()}"

    @property
    def key(self) -> str:
        return f"{self.section}.{self.name}"

    def read(self, config: Config) -> Any:
        """The option's value in ``config``."""
        return getattr(getattr(config, self.holder), self.attribute)

    def shown(self, value: Any) -> Any:
        """The value as `kith config` prints it: a storage URL's password redacted, a secret hidden."""
        if self.secret:
            return "(set)" if value else ""
        return redact_url(value) if self.type == "storage_url" else value


SCHEMA: tuple[Option, ...] = (
    Option(
        "node",
        "username",
        "str",
        "me",
        "The first account's name (`kith init`); a data folder made before accounts becomes this account.",
        pattern=USERNAME_PATTERN,
        shape=USERNAME_SHAPE,
    ),
    Option(
        "node",
        "domain",
        "str",
        "127.0.0.1:8700",
        "Public host[:port] of the node, used in every URL.",
        pattern=DOMAIN_PATTERN,
        shape=DOMAIN_SHAPE,
    ),
    Option("node", "display_name", "str", "", "The first account's display name (`kith init`)."),
    Option(
        "node",
        "actor_type",
        "choice",
        "Person",
        "The first account's actor type (`kith init`): Person, or Organization for an organisation.",
        ("Person", "Organization"),
    ),
    Option("node", "https", "bool", False, "Build https:// URLs (set when a TLS proxy fronts the node)."),
    Option("server", "host", "str", "127.0.0.1", "Address `kith serve` listens on."),
    Option("server", "port", "int", 8700, "Port `kith serve` listens on.", maximum=65535),
    Option("server", "max_body_bytes", "int", 1_048_576, "Largest request body accepted (bytes)."),
    Option(
        "server",
        "idle_seconds",
        "int",
        20,
        "Seconds a connection may stay idle, or take to send a request's headers, before it is closed.",
        maximum=3600,
    ),
    Option(
        "server",
        "connections_per_address",
        "int",
        64,
        "Open connections one client address (an IPv6 /64) may hold; more are answered 503. Raise it behind "
        "a reverse proxy, whose one address all clients share.",
    ),
    Option(
        "server",
        "default_account",
        "str",
        "",
        "The account commands act for when no --account (or KITH_ACCOUNT) names one; empty: the only account.",
        pattern=f"(?:{USERNAME_PATTERN})?",
        shape="empty or an account name",
    ),
    Option(
        "federation",
        "allow_private_networks",
        "cidrs",
        (),
        "CIDR ranges outbound fetches may reach although private/loopback (for local testing only).",
    ),
    Option("federation", "allow_http", "bool", False, "Allow plain-http federation (local testing only)."),
    Option(
        "federation",
        "auto_accept_follows",
        "bool",
        True,
        "Accept incoming Follow requests automatically; when false they wait for `kith accept`.",
    ),
    Option(
        "federation",
        "delivery_days",
        "int",
        3,
        "Days a delivery is retried before the peer is dead-lettered.",
    ),
    Option("federation", "fetch_timeout", "int", 30, "Total seconds allowed for one outbound fetch."),
    Option(
        "federation",
        "inbox_rate_per_host",
        "int",
        100,
        "Requests a second one peer host may send to the inbox once its burst is spent (503 beyond; 0: no "
        "limit). Requests not yet verified count against the address they come from instead.",
    ),
    Option(
        "federation",
        "inbox_burst_per_host",
        "int",
        400,
        "Requests one peer host may send to the inbox at once before inbox_rate_per_host applies (0: no limit).",
    ),
    Option(
        "federation",
        "per_host_requests",
        "int",
        1,
        "Deliveries in flight to one peer host (host:port) at once, across every process of this server. "
        "Raise it for peers that are big instances or take many deliveries at a shared inbox.",
        minimum=1,
        maximum=16,
    ),
    Option(
        "federation",
        "worker_stale_seconds",
        "int",
        60,
        "Seconds after which a silent worker process (`kith worker`, or `kith serve` with its workers) is taken "
        "for dead and the deliveries and inbox items it held go to the others; each beats every quarter of it. "
        "At least 4.",
    ),
    Option(
        "storage",
        "url",
        "storage_url",
        "",
        "Where the data lives: empty (or `sqlite:`) for the embedded SQLite files in the data folder. "
        "A `postgresql://USER@HOST:PORT/DATABASE` URL keeps everything in that PostgreSQL database instead "
        "(the `postgres` extra; `kith migrate` prepares it; see specs/POSTGRESQL.md).",
    ),
    Option(
        "storage",
        "listen_url",
        "storage_url",
        "",
        "A direct `postgresql://` URL of the same database for the workers' LISTEN session, when storage.url "
        "goes through PgBouncer in transaction mode (which accepts a LISTEN and never delivers it); empty: "
        "storage.url.",
    ),
    Option(
        "stay_in_touch", "due_within_days", "int", 7, "`kith due` lists people due within this many days."
    ),
    Option(
        "mail",
        "smtp_host",
        "str",
        "",
        "SMTP server digests are sent through; empty: digests are not mailed (`kith digest --preview` still works).",
    ),
    Option("mail", "smtp_port", "int", 587, "SMTP port (465: TLS from the first byte).", maximum=65535),
    Option(
        "mail",
        "smtp_user",
        "str",
        "",
        "SMTP login, if the server wants one; the password comes from KITH_MAIL_SMTP_PASSWORD.",
    ),
    Option(
        "mail", "from", "str", "", "The From address of digests, like kith@example.org.", attr="from_address"
    ),
    Option(
        "mail",
        "starttls",
        "bool",
        True,
        "Upgrade the SMTP connection with STARTTLS (required before a password is sent, except to loopback).",
    ),
    Option(
        "mail",
        "capture_minutes",
        "int",
        30,
        "Minutes between the running server's syncs of each account's linked mailboxes and calendars; 0: never.",
    ),
    Option(
        "accounts",
        "purge_after_days",
        "int",
        30,
        "Days a removed account's data is kept (its actor answers 410 meanwhile) before it is purged.",
    ),
    # The Bluesky bridge (issue #18, node/bridge_bluesky.py): Bluesky accounts that opted in by following the bot
    # become accounts of this server, each its own actor.
    Option(
        "bridge.bluesky",
        "enabled",
        "bool",
        False,
        "Run the Bluesky bridge with the server's workers: accounts that follow the bot become actors here.",
    ),
    Option(
        "bridge.bluesky",
        "pds_url",
        "str",
        "",
        "The PDS the bridge reads accounts, profiles and follows from (and where the bot account lives).",
        pattern=r"(?:https?://\S+)?",
        shape="empty or an http(s) URL",
    ),
    Option(
        "bridge.bluesky",
        "appview_url",
        "str",
        "",
        "The Bluesky App View (optional): when set, the bot's followers are asked of it.",
        pattern=r"(?:https?://\S+)?",
        shape="empty or an http(s) URL",
    ),
    Option(
        "bridge.bluesky",
        "plc_url",
        "str",
        "https://plc.directory",
        "The PLC directory DID documents (and account ages) are read from.",
        pattern=r"https?://\S+",
        shape="an http(s) URL",
    ),
    Option(
        "bridge.bluesky",
        "relay_url",
        "str",
        "",
        "The firehose (a relay's subscribeRepos, ws:// or wss://); empty: the PDS's own.",
        pattern=r"(?:wss?://\S+)?",
        shape="empty or a ws(s) URL",
    ),
    Option(
        "bridge.bluesky",
        "handle_domain",
        "str",
        "",
        "The domain of bridged accounts' addresses (`@HANDLE@DOMAIN`, e.g. bsky.example.org, pointed at this "
        "server); empty: the node's domain.",
        pattern=r"(?:[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?(?::[0-9]{1,5})?)?",
        shape="empty or a domain like bsky.example.org",
    ),
    Option(
        "bridge.bluesky",
        "bot_handle",
        "str",
        "",
        "The bridge's bot account on Bluesky: following it is how an account asks to be bridged.",
    ),
    Option(
        "bridge.bluesky",
        "bot_password",
        "str",
        "",
        "The bot account's (app) password; better given as KITH_BRIDGE_BLUESKY_BOT_PASSWORD than written here.",
        secret=True,
    ),
    Option(
        "bridge.bluesky",
        "sync_seconds",
        "int",
        60,
        "Seconds between two passes of the bridge over the PDS (`kith serve` with the bridge enabled).",
        maximum=86400,
    ),
    Option(
        "bridge.bluesky",
        "min_account_age_days",
        "int",
        0,
        "Spam gate: a Bluesky account younger than this many days is not bridged yet.",
    ),
    Option(
        "bridge.bluesky",
        "require_avatar",
        "bool",
        True,
        "Spam gate: an account without an avatar is not bridged.",
    ),
    Option(
        "bridge.bluesky",
        "require_display_name",
        "bool",
        True,
        "Spam gate: an account without a display name is not bridged.",
    ),
    Option(
        "bridge.bluesky",
        "deny",
        "str",
        "",
        "DIDs and handle domains never bridged, comma-separated (did:plc:..., spam.example).",
    ),
)

_ALIASES = {
    "KITH_ALLOW_PRIVATE_NETWORKS": "federation.allow_private_networks",
    "KITH_ALLOW_HTTP": "federation.allow_http",
}


@dataclass(frozen=True, slots=True)
class NodeConfig:
    username: str
    domain: str
    display_name: str
    actor_type: str
    https: bool


@dataclass(frozen=True, slots=True)
class ServerConfig:
    host: str
    port: int
    max_body_bytes: int
    idle_seconds: int = 20
    connections_per_address: int = 64
    default_account: str = ""


@dataclass(frozen=True, slots=True)
class FederationConfig:
    allow_private_networks: tuple[str, ...]
    allow_http: bool
    auto_accept_follows: bool
    delivery_days: int
    fetch_timeout: int
    inbox_rate_per_host: int = 100
    inbox_burst_per_host: int = 400
    worker_stale_seconds: int = 60
    per_host_requests: int = 1


@dataclass(frozen=True, slots=True)
class StayInTouchConfig:
    due_within_days: int


@dataclass(frozen=True, slots=True)
class MailConfig:
    smtp_host: str = ""
    smtp_port: int = 587
    smtp_user: str = ""
    from_address: str = ""  # the option mail.from ("from" is a Python keyword)
    starttls: bool = True
    capture_minutes: int = 30


@dataclass(frozen=True, slots=True)
class AccountsConfig:
    purge_after_days: int = 30


@dataclass(frozen=True, slots=True)
class BlueskyBridgeConfig:
    enabled: bool = False
    pds_url: str = ""
    appview_url: str = ""
    plc_url: str = "https://plc.directory"
    relay_url: str = ""
    handle_domain: str = ""
    bot_handle: str = ""
    bot_password: str = ""
    sync_seconds: int = 60
    min_account_age_days: int = 0
    require_avatar: bool = True
    require_display_name: bool = True
    deny: str = ""

    @property
    def denied(self) -> frozenset[str]:
        """The deny-list's entries, lowercased."""
        return frozenset(p.strip().lower() for p in self.deny.split(",") if p.strip())


@dataclass(frozen=True, slots=True)
class StorageConfig:
    url: str = ""  # checked by node/storage_url.py; "" or "sqlite:" is the embedded default
    # where the workers LISTEN (node/worker.py): a direct URL past PgBouncer; "" is ``url``
    listen_url: str = ""

    @property
    def backend(self) -> str:
        """The engine the URL names: sqlite or postgresql."""
        return parse_storage_url(self.url).backend


@dataclass(frozen=True, slots=True)
class Config:
    data_dir: Path
    node: NodeConfig
    server: ServerConfig
    federation: FederationConfig
    stay_in_touch: StayInTouchConfig = field(default_factory=lambda: StayInTouchConfig(7))
    accounts: AccountsConfig = field(default_factory=AccountsConfig)
    storage: StorageConfig = field(default_factory=StorageConfig)
    mail: MailConfig = field(default_factory=MailConfig)
    bridge_bluesky: BlueskyBridgeConfig = field(default_factory=BlueskyBridgeConfig)

    @property
    def database_path(self) -> Path:
        return self.data_dir / "kith.sqlite3"

    @property
    def base_url(self) -> str:
        return f"{'https' if self.node.https else 'http'}://{self.node.domain}"

    def with_values(self, **sections: Mapping[str, Any]) -> Config:
        """A copy with some options replaced, e.g. ``with_values(server={"port": 0})``."""
        out = self
        for section, values in sections.items():
            out = replace(out, **{section: replace(getattr(out, section), **values)})
        return out


def passphrase_from_env(env: Mapping[str, str] | None = None) -> str | None:
    """The passphrase protecting private keys and stored tokens (KITH_PASSPHRASE), if the owner set one."""
    env = os.environ if env is None else env
    return env.get("KITH_PASSPHRASE") or None


def smtp_password_from_env(env: Mapping[str, str] | None = None) -> str | None:
    """The SMTP password digests are sent with (KITH_MAIL_SMTP_PASSWORD): a server setting kept out of
    kith.toml, like the passphrase."""
    env = os.environ if env is None else env
    return env.get("KITH_MAIL_SMTP_PASSWORD") or None


def account_from_env(env: Mapping[str, str] | None = None) -> str | None:
    """The account commands act for when no --account names one (KITH_ACCOUNT), if set."""
    env = os.environ if env is None else env
    return env.get("KITH_ACCOUNT") or None


def default_data_dir(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    if env.get("KITH_DATA"):
        return Path(env["KITH_DATA"]).expanduser()
    base = env.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "kith"


def _parse(opt: Option, raw: Any, origin: str) -> Any:
    where = f"{opt.key} (from {origin})"
    if opt.type == "str":
        if not isinstance(raw, str):
            raise ConfigError(f"{where} must be text, got {raw!r}")
        text = raw.strip()
        if opt.pattern and not re.fullmatch(opt.pattern, text):
            raise ConfigError(f"{where} must be {opt.shape}, got {text!r}")
        return text
    if opt.type == "choice":
        if raw not in opt.choices:
            raise ConfigError(f"{where} must be one of {', '.join(opt.choices)}, got {raw!r}")
        return raw
    if opt.type == "int":
        if isinstance(raw, bool):
            raise ConfigError(f"{where} must be a whole number, got {raw!r}")
        try:
            value = int(raw)
        except (TypeError, ValueError):
            raise ConfigError(f"{where} must be a whole number, got {raw!r}") from None
        if value < opt.minimum or value > opt.maximum:
            raise ConfigError(f"{where} must be between {opt.minimum} and {opt.maximum}, got {value}")
        return value
    if opt.type == "bool":
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in {"1", "true", "yes", "on"}:
            return True
        if text in {"0", "false", "no", "off", ""}:
            return False
        raise ConfigError(f"{where} must be true or false (1/0), got {raw!r}")
    if opt.type == "cidrs":
        items = [s.strip() for s in raw.split(",")] if isinstance(raw, str) else raw
        if not isinstance(items, list | tuple):
            raise ConfigError(f"{where} must be a list of CIDR ranges like 127.0.0.0/8")
        out = []
        for item in items:
            if not item:
                continue
            try:
                out.append(str(ipaddress.ip_network(str(item), strict=False)))
            except ValueError:
                raise ConfigError(f"{where}: {item!r} is not a CIDR range like 127.0.0.0/8") from None
        return tuple(out)
    if opt.type == "storage_url":
        if not isinstance(raw, str):
            raise ConfigError(f"{where} must be text, got a {type(raw).__name__}")
        try:
            return parse_storage_url(raw.strip()).url
        except StorageUrlError as exc:
            raise ConfigError(f"{where}: {exc}") from None
    raise AssertionError(opt.type)


def load_config(data_dir: Path, env: Mapping[str, str] | None = None) -> Config:
    """Build the one Config: defaults, then kith.toml, then KITH_* environment variables."""
    env = os.environ if env is None else env
    values: dict[str, dict[str, Any]] = {}
    for opt in SCHEMA:
        values.setdefault(opt.holder, {})[opt.attribute] = opt.default
    path = data_dir / CONFIG_FILE
    if path.exists():
        try:
            doc = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path} is not valid TOML ({exc}); fix it or run `kith init` again") from None
        known = {(o.section, o.name): o for o in SCHEMA}
        sections = {o.section for o in SCHEMA}
        tables = [(section, table) for section, table in doc.items()]
        while tables:
            section, table = tables.pop(0)
            if not isinstance(table, dict):
                raise ConfigError(f"{path}: [{section}] must be a table")
            for name, raw in table.items():
                if isinstance(raw, dict) and f"{section}.{name}" in sections:  # [bridge.bluesky]
                    tables.append((f"{section}.{name}", raw))
                    continue
                found = known.get((section, name))
                if found is None:
                    raise ConfigError(f"{path}: unknown option {section}.{name}; see `kith config --help`")
                values[found.holder][found.attribute] = _parse(found, raw, str(path))
    by_key = {o.key: o for o in SCHEMA}
    for opt in SCHEMA:
        if opt.env in env:
            values[opt.holder][opt.attribute] = _parse(opt, env[opt.env], opt.env)
    for alias, key in _ALIASES.items():
        if alias in env:
            opt = by_key[key]
            values[opt.holder][opt.attribute] = _parse(opt, env[alias], alias)
    _check_listen_url(values["storage"])
    return Config(
        data_dir=data_dir,
        node=NodeConfig(**values["node"]),
        server=ServerConfig(**values["server"]),
        federation=FederationConfig(**values["federation"]),
        stay_in_touch=StayInTouchConfig(**values["stay_in_touch"]),
        accounts=AccountsConfig(**values["accounts"]),
        storage=StorageConfig(**values["storage"]),
        mail=MailConfig(**values["mail"]),
        bridge_bluesky=BlueskyBridgeConfig(**values["bridge_bluesky"]),
    )


def _check_listen_url(storage: Mapping[str, Any]) -> None:
    """storage.listen_url names a PostgreSQL database, and only beside a PostgreSQL storage.url: a LISTEN session
    elsewhere would never hear the NOTIFYs of the server's own database."""
    listen, url = storage.get("listen_url", ""), storage.get("url", "")
    if not listen:
        return
    if parse_storage_url(listen).backend != "postgresql":
        raise ConfigError(
            "storage.listen_url must be a postgresql:// URL (the database itself, not PgBouncer) or empty, "
            f"got {redact_url(listen)!r}"
        )
    if parse_storage_url(url).backend != "postgresql":
        raise ConfigError(
            "storage.listen_url is set but storage.url is SQLite, which has nothing to listen to; leave "
            "storage.listen_url empty, or set storage.url to the PostgreSQL database"
        )


def write_config(config: Config) -> Path:
    # Every option of the schema, under the name kith.toml knows it by: `kith init --force` rewrites the file,
    # and a section left out here (mail once was) would lose the owner's settings.
    doc: dict[str, Any] = {}
    for opt in SCHEMA:
        value = opt.read(config)
        table = doc
        for part in opt.section.split("."):  # bridge.bluesky is the table [bridge.bluesky]
            table = table.setdefault(part, {})
        table[opt.name] = list(value) if isinstance(value, tuple) else value
    path = config.data_dir / CONFIG_FILE
    tmp = path.with_suffix(".tmp")
    write_private(tmp, tomli_w.dumps(doc))  # the owner's alone, like everything in the data folder
    tmp.replace(path)
    return path


def config_table_markdown() -> str:
    rows = ["| option | environment | default | meaning |", "| --- | --- | --- | --- |"]
    for o in SCHEMA:
        default = ", ".join(o.default) if isinstance(o.default, tuple) else o.default
        rows.append(f"| `{o.key}` | `{o.env}` | `{default}` | {o.help} |")
    rows.append("")
    rows.append("Aliases: " + ", ".join(f"`{a}` = `{k}`" for a, k in _ALIASES.items()) + ".")
    return "\n".join(rows)
