"""Configuration: defaults, kith.toml, KITH_* overrides and the fixed aliases; clear errors naming the option."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from node.config import (
    SCHEMA,
    ConfigError,
    config_table_markdown,
    default_data_dir,
    load_config,
    write_config,
)


def test_defaults_work_without_a_file(tmp_path: Path) -> None:
    config = load_config(tmp_path, env={})
    assert config.server.host == "127.0.0.1" and config.server.port == 8700
    assert config.federation.allow_private_networks == () and config.federation.allow_http is False
    assert config.database_path == tmp_path / "kith.sqlite3"
    assert config.base_url == "http://127.0.0.1:8700"


def test_toml_then_env_then_alias(tmp_path: Path) -> None:
    (tmp_path / "kith.toml").write_text(
        '[node]\nusername = "zoe"\nhttps = true\n[server]\nport = 9000\n'
        '[federation]\nallow_private_networks = ["10.0.0.0/8"]\n',
        encoding="utf-8",
    )
    config = load_config(tmp_path, env={})
    assert config.node.username == "zoe" and config.server.port == 9000 and config.node.https
    assert config.federation.allow_private_networks == ("10.0.0.0/8",)
    assert config.base_url.startswith("https://")
    env = {
        "KITH_SERVER_PORT": "9100",
        "KITH_NODE_HTTPS": "0",
        "KITH_FEDERATION_ALLOW_PRIVATE_NETWORKS": "192.168.1.7/24, 127.0.0.1/32",
    }
    config = load_config(tmp_path, env=env)
    assert config.server.port == 9100 and not config.node.https
    assert config.federation.allow_private_networks == ("192.168.1.0/24", "127.0.0.1/32")
    # The fixed aliases override too.
    config = load_config(
        tmp_path, env={"KITH_ALLOW_PRIVATE_NETWORKS": "127.0.0.0/8", "KITH_ALLOW_HTTP": "yes"}
    )
    assert config.federation.allow_private_networks == ("127.0.0.0/8",)
    assert config.federation.allow_http is True


def test_write_then_load_round_trips(tmp_path: Path) -> None:
    config = load_config(tmp_path, env={}).with_values(
        node={"username": "amy", "domain": "amy.example"},
        federation={"allow_private_networks": ("10.0.0.0/8",)},
    )
    write_config(config)
    assert load_config(tmp_path, env={}) == config


def test_write_keeps_every_section_and_option(tmp_path: Path) -> None:
    """`kith init --force` rewrites kith.toml from the loaded config: the mail section was left out, so the
    owner's SMTP settings were lost, and mail.from (a Python keyword, held as from_address) had no field."""
    (tmp_path / "kith.toml").write_text(
        '[mail]\nsmtp_host = "smtp.example.org"\nfrom = "kith@example.org"\nstarttls = false\n'
        '[storage]\nurl = "postgres://kith@db.example/kith"\n',
        encoding="utf-8",
    )
    config = load_config(tmp_path, env={})
    assert config.mail.from_address == "kith@example.org" and config.mail.smtp_host == "smtp.example.org"
    assert load_config(tmp_path, env={"KITH_MAIL_FROM": "other@example.org"}).mail.from_address == (
        "other@example.org"
    )
    write_config(config)
    written = tomllib.loads((tmp_path / "kith.toml").read_text(encoding="utf-8"))

    def options(table: dict[str, Any], prefix: str = "") -> set[tuple[str, str]]:
        # a dotted section (bridge.bluesky) is a nested table
        out: set[tuple[str, str]] = set()
        for name, value in table.items():
            out |= options(value, f"{prefix}.{name}") if isinstance(value, dict) else {(prefix[1:], name)}
        return out

    assert options(written) == {(o.section, o.name) for o in SCHEMA}
    assert written["mail"]["from"] == "kith@example.org"
    assert load_config(tmp_path, env={}) == config


@pytest.mark.parametrize(
    ("env", "needle"),
    [
        ({"KITH_SERVER_PORT": "eighty"}, "server.port"),
        ({"KITH_SERVER_PORT": "-1"}, "server.port"),
        ({"KITH_SERVER_MAX_BODY_BYTES": "1e9"}, "server.max_body_bytes"),
        ({"KITH_NODE_HTTPS": "maybe"}, "node.https"),
        ({"KITH_ALLOW_HTTP": "perhaps"}, "KITH_ALLOW_HTTP"),
        ({"KITH_NODE_ACTOR_TYPE": "Robot"}, "node.actor_type"),
        ({"KITH_ALLOW_PRIVATE_NETWORKS": "10.0.0.0/99"}, "federation.allow_private_networks"),
        ({"KITH_FEDERATION_ALLOW_PRIVATE_NETWORKS": "localhost"}, "federation.allow_private_networks"),
        ({"KITH_NODE_USERNAME": "Bad Name!"}, "node.username"),
        ({"KITH_NODE_USERNAME": ""}, "node.username"),
        ({"KITH_NODE_DOMAIN": "exa mple.org"}, "node.domain"),
        ({"KITH_NODE_DOMAIN": "example..org"}, "node.domain"),
        ({"KITH_NODE_DOMAIN": "example.org:99999"}, "node.domain"),
        ({"KITH_NODE_DOMAIN": "https://example.org"}, "node.domain"),
        # no delivery could go with 0 in flight; more than 16 would exceed the client's connections per host
        ({"KITH_FEDERATION_PER_HOST_REQUESTS": "0"}, "between 1 and 16"),
        ({"KITH_FEDERATION_PER_HOST_REQUESTS": "17"}, "federation.per_host_requests"),
    ],
)
def test_bad_env_values_name_the_option(tmp_path: Path, env: dict[str, str], needle: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path, env=env)
    assert needle in str(info.value)


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ('[server]\nport = "x"\n', "server.port"),
        ("[server]\nport = true\n", "server.port"),
        ("[server]\nportt = 1\n", "server.portt"),
        ("[nonsense]\nx = 1\n", "nonsense.x"),
        ("server = 3\n", "[server]"),
        ("[server\n", "not valid TOML"),
        ("[federation]\nallow_private_networks = 7\n", "federation.allow_private_networks"),
        ('[node]\nusername = "Alice Smith"\n', "must be 1-64 lowercase letters"),
        ('[node]\ndomain = "kith.example.org/path"\n', "must be HOST or HOST:PORT"),
    ],
)
def test_bad_toml_names_the_option(tmp_path: Path, text: str, needle: str) -> None:
    (tmp_path / "kith.toml").write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path, env={})
    assert needle in str(info.value)
    assert "kith.toml" in str(info.value)


def test_schema_drives_the_docs() -> None:
    table = config_table_markdown()
    for opt in SCHEMA:
        assert f"`{opt.key}`" in table and f"`{opt.env}`" in table
        assert opt.help
    assert "KITH_ALLOW_PRIVATE_NETWORKS" in table and "KITH_ALLOW_HTTP" in table


def test_default_data_dir(tmp_path: Path) -> None:
    assert default_data_dir({"KITH_DATA": str(tmp_path / "d")}) == tmp_path / "d"
    assert default_data_dir({"XDG_DATA_HOME": str(tmp_path)}) == tmp_path / "kith"


def test_port_above_65535_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path, env={"KITH_SERVER_PORT": "70000"})
    assert "server.port" in str(info.value) and "65535" in str(info.value)


@pytest.mark.parametrize(
    "domain",
    ["kith.example.org", "127.0.0.1:8700", "[::1]:8700", "xn--bcher-kva.example", "Kith.Example.ORG:443"],
)
def test_good_domains_are_kept(tmp_path: Path, domain: str) -> None:
    assert load_config(tmp_path, env={"KITH_NODE_DOMAIN": domain}).node.domain == domain


def test_bluesky_bridge_settings_by_their_fixed_names(tmp_path: Path) -> None:
    """Issue #18's fixed names: [bridge.bluesky] in kith.toml, KITH_BRIDGE_BLUESKY_* in the environment; the bot's
    password is never printed by `kith config`."""
    (tmp_path / "kith.toml").write_text(
        '[bridge.bluesky]\nenabled = true\npds_url = "http://127.0.0.1:2583"\nbot_handle = "bot.test"\n',
        encoding="utf-8",
    )
    config = load_config(tmp_path, env={"KITH_BRIDGE_BLUESKY_BOT_PASSWORD": "hunter2"})
    bridge = config.bridge_bluesky
    assert (bridge.enabled, bridge.pds_url, bridge.bot_handle) == (True, "http://127.0.0.1:2583", "bot.test")
    assert bridge.bot_password == "hunter2"
    password = next(o for o in SCHEMA if o.key == "bridge.bluesky.bot_password")
    assert password.env == "KITH_BRIDGE_BLUESKY_BOT_PASSWORD"
    assert password.shown(password.read(config)) == "(set)"
    with pytest.raises(ConfigError, match=r"bridge\.bluesky\.pds_url"):
        load_config(tmp_path, env={"KITH_BRIDGE_BLUESKY_PDS_URL": "javascript:alert(1)"})
    write_config(config)
    assert load_config(tmp_path, env={"KITH_BRIDGE_BLUESKY_BOT_PASSWORD": "hunter2"}) == config
