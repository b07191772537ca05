"""storage.url (KITH_STORAGE_URL): empty or sqlite: for the embedded database, a libpq URL for PostgreSQL.

Mistakes are reported when the configuration loads, naming the option and what to write instead, never
showing the password; what is accepted is what libpq accepts (cross-checked with libpq's own parser); and a
PostgreSQL URL is used by the commands that open storage, never ignored.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from psycopg.conninfo import conninfo_to_dict

from node.config import ConfigError, load_config, write_config
from node.storage_url import StorageUrlError, parse_storage_url, redact_url
from tests.conftest import run_cli

SECRET = "S3cr3t-pw"

GOOD = [
    "postgresql://kith@db.example.org/kith",
    "postgres://kith@db.example.org:5432/kith",
    f"postgresql://kith:{SECRET}@127.0.0.1:6432/kith",
    "postgresql://",
    "postgresql:///kith",
    "postgresql://[::1]:5432/kith",
    "postgresql://[2001:db8::7]/kith?sslmode=verify-full&sslrootcert=%2Fetc%2Fssl%2Fca.pem",
    "postgresql://primary.example:5432,replica.example:5433/kith?target_session_attrs=read-write",
    "postgresql://%2Fvar%2Frun%2Fpostgresql/kith",
    "postgresql:///kith?host=/var/run/postgresql&user=kith",
    "postgresql://kith@db/kith?application_name=kith-worker&connect_timeout=5",
    f"postgresql://kith@db/kith?password={SECRET}",
    "postgresql://kith:p%40ss%3Aw%2Fd@db/kith",  # an encoded @ : / in the password
    "postgresql://db/my%2Fdb",
    f"postgresql://kith:a:{SECRET}@db/kith",  # libpq splits at the first ':', the rest is the password
]

BAD = [
    ("mysql://kith@db/kith", "not a storage URL"),
    ("https://db.example.org/kith", "not a storage URL"),
    ("db.example.org", "not a storage URL"),
    ("sqlite:///var/lib/kith/kith.sqlite3", "data folder"),
    ("SQLITE:", "data folder"),
    ("jdbc:postgresql://db/kith", "JDBC"),
    ("POSTGRESQL://db/kith", "lower case"),
    ("postgresql://db:0/kith", "port"),
    ("postgresql://db:65536/kith", "port"),
    ("postgresql://db:54x2/kith", "port"),
    ("postgresql://db:-1/kith", "port"),
    ("postgresql://db/kith?ssl=true", "sslmode=require"),
    ("postgresql://db/kith?sslmod=require", "not a libpq connection parameter"),
    ("postgresql://db/kith?sslmode", "NAME=VALUE"),
    ("postgresql://db/kith?=x", "NAME=VALUE"),
    ("postgresql://db/kith#main", "'#'"),
    ("postgresql://db/kith/extra", "'/'"),
    ("postgresql://db/%20", "blank"),
    ("postgresql://db/kith%zz", "hex"),
    ("postgresql://db name/kith", "spaces or control"),
    ("postgresql://db/kith\nsslmode=disable", "spaces or control"),
    ("postgresql://db/\x00kith", "spaces or control"),
    ("postgresql://[::1/kith", "IPv6"),
    ("postgresql://[::1]x/kith", "IPv6"),
    ("postgresql://h1,,h2/kith", "empty"),
    ("postgresql://@db/kith", "user name"),
    ("postgresql://ho$t/kith", "host"),
]


@pytest.mark.parametrize("url", GOOD)
def test_libpq_urls_are_accepted_as_libpq_reads_them(url: str) -> None:
    parsed = parse_storage_url(url)
    assert parsed.backend == "postgresql" and parsed.url == url
    conninfo_to_dict(url)  # libpq's own parser (PQconninfoParse) takes every URL we take


@pytest.mark.parametrize("url", ["", "sqlite:"])
def test_empty_or_sqlite_is_the_embedded_database(url: str) -> None:
    assert parse_storage_url(url).backend == "sqlite"


@pytest.mark.parametrize(("url", "needle"), BAD)
def test_mistakes_are_named_and_the_password_never_shown(url: str, needle: str) -> None:
    with_secret = url.replace("://", f"://kith:{SECRET}@", 1) if "@" not in url and "://" in url else url
    for text in {url, with_secret}:
        with pytest.raises(StorageUrlError) as caught:
            parse_storage_url(text)
        assert needle in str(caught.value), str(caught.value)
        assert SECRET not in str(caught.value)


@pytest.mark.parametrize("char", ["&", ":", ";", "=", "+", "!", "$", ",", "(", "*", "~"])
def test_a_password_with_characters_libpq_allows_is_accepted_and_hidden(char: str) -> None:
    url = f"postgresql://kith:{SECRET[:4]}{char}{SECRET[4:]}@db.example.org:5432/kith"
    assert parse_storage_url(url).backend == "postgresql"
    assert conninfo_to_dict(url)["password"] == f"{SECRET[:4]}{char}{SECRET[4:]}"
    assert redact_url(url) == "postgresql://kith:***@db.example.org:5432/kith"


@pytest.mark.parametrize("char", ["/", "?", "#", "@", " ", "%", "\n", "\t"])
def test_a_password_with_an_unencoded_special_character_is_refused_and_not_shown(char: str) -> None:
    """People paste passwords as they are; whichever piece a parser would mistake for a host, a port or a path,
    no piece of the password reaches the message."""
    head, tail = SECRET[:4], SECRET[4:]
    url = f"postgresql://kith:{head}{char}{tail}@db.example.org:5432/kith"
    with pytest.raises(StorageUrlError) as caught:
        parse_storage_url(url)
    message = str(caught.value)
    assert head not in message and tail not in message, message
    assert head not in redact_url(url) and tail not in redact_url(url)


def test_redaction_hides_passwords_wherever_they_are() -> None:
    assert redact_url(f"postgresql://kith:{SECRET}@db/kith") == "postgresql://kith:***@db/kith"
    assert redact_url(f"postgres://k:{SECRET}@h1,h2/kith?password={SECRET}&sslmode=require") == (
        "postgres://k:***@h1,h2/kith?password=***&sslmode=require"
    )
    # A password holding '@' (unencoded, as people paste them) is hidden whole.
    assert SECRET not in redact_url(f"postgresql://kith:a@{SECRET}@db/kith")
    assert redact_url("postgresql://kith@db/kith") == "postgresql://kith@db/kith"


def test_the_option_loads_from_kith_toml_and_the_environment(tmp_path: Path) -> None:
    assert load_config(tmp_path, env={}).storage.url == ""
    assert load_config(tmp_path, env={}).storage.backend == "sqlite"
    (tmp_path / "kith.toml").write_text('[storage]\nurl = "postgresql://kith@db/kith"\n', encoding="utf-8")
    assert load_config(tmp_path, env={}).storage.backend == "postgresql"
    env = {"KITH_STORAGE_URL": f"  postgresql://kith:{SECRET}@db2/kith\n"}  # as a secrets file leaves it
    assert load_config(tmp_path, env=env).storage.url == f"postgresql://kith:{SECRET}@db2/kith"
    assert load_config(tmp_path, env={"KITH_STORAGE_URL": "sqlite:"}).storage.backend == "sqlite"
    config = load_config(tmp_path, env={}).with_values(storage={"url": "postgres://kith@db/kith"})
    write_config(config)
    assert load_config(tmp_path, env={}) == config


@pytest.mark.parametrize(
    ("toml", "env", "needle"),
    [
        ("", {"KITH_STORAGE_URL": f"mysql://kith:{SECRET}@db/kith"}, "KITH_STORAGE_URL"),
        ("", {"KITH_STORAGE_URL": f"postgresql://kith:{SECRET}@db:99999/kith"}, "port"),
        ("[storage]\nurl = 5432\n", {}, "must be text"),
        ('[storage]\nurl = ["postgresql://db/kith"]\n', {}, "must be text"),
        ('[storage]\nurl = "postgresql://db/kith?ssl=1"\n', {}, "kith.toml"),
        ('[storage]\nuri = "postgresql://db/kith"\n', {}, "unknown option storage.uri"),
    ],
)
def test_a_bad_value_names_the_option_and_where_it_came_from(
    tmp_path: Path, toml: str, env: dict[str, str], needle: str
) -> None:
    (tmp_path / "kith.toml").write_text(toml, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path, env=env)
    message = str(caught.value)
    assert needle in message and "storage.u" in message, message
    assert SECRET not in message


def test_kith_config_shows_the_url_without_its_password(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KITH_STORAGE_URL", f"postgresql://kith:{SECRET}@db.example.org/kith")
    for argv in (("config",), ("config", "--json")):
        result = run_cli("--data", data_dir, *argv)
        assert result.code == 0, result.err
        assert "postgresql://kith:***@db.example.org/kith" in result.out
        assert SECRET not in result.out + result.err


def test_kith_config_shows_the_listen_url_without_its_password(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KITH_STORAGE_URL", f"postgresql://kith:{SECRET}@db.example.org:6432/kith")
    monkeypatch.setenv("KITH_STORAGE_LISTEN_URL", f"postgresql://kith:{SECRET}@db.example.org:5432/kith")
    for argv in (("config",), ("config", "--json")):
        result = run_cli("--data", data_dir, *argv)
        assert result.code == 0, result.err
        assert "postgresql://kith:***@db.example.org:5432/kith" in result.out
        assert SECRET not in result.out + result.err


@pytest.mark.parametrize(
    ("env", "needle"),
    [
        ({"KITH_STORAGE_LISTEN_URL": f"mysql://kith:{SECRET}@db/kith"}, "storage.listen_url"),
        ({"KITH_STORAGE_LISTEN_URL": f"postgresql://kith:{SECRET}@db:99999/kith"}, "storage.listen_url"),
        # a LISTEN session beside SQLite would hear nothing: said, not ignored
        ({"KITH_STORAGE_LISTEN_URL": f"postgresql://kith:{SECRET}@db/kith"}, "storage.url is SQLite"),
        (
            {"KITH_STORAGE_URL": "postgresql://db/kith", "KITH_STORAGE_LISTEN_URL": "sqlite:"},
            "must be a postgresql:// URL",
        ),
    ],
)
def test_a_bad_listen_url_is_refused_by_name(tmp_path: Path, env: dict[str, str], needle: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path, env=env)
    assert needle in str(caught.value) and SECRET not in str(caught.value)


def test_commands_on_an_unreachable_postgresql_url_fail_clearly_and_never_fall_back_to_sqlite(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ignoring it would put an operator's data in SQLite while they believe it is in PostgreSQL: a server that
    cannot be reached is an error naming storage.url, without the password or a traceback."""
    monkeypatch.setenv("KITH_STORAGE_URL", f"postgresql://kith:{SECRET}@127.0.0.1:1/kith")
    result = run_cli("--data", data_dir, "people", "list")
    assert result.code != 0
    assert "storage.url" in result.err and "PostgreSQL" in result.err
    assert "Traceback" not in result.err and SECRET not in result.err
    monkeypatch.setenv("KITH_STORAGE_URL", "sqlite:")
    assert run_cli("--data", data_dir, "people", "list").code == 0
