"""Real servers on loopback for the stay-in-touch loop's tests: Debian's dovecot (IMAP, with and without TLS),
Radicale (CalDAV) and aiosmtpd (SMTP), each started by the tests in a folder of their own and filled by them.

Without dovecot installed the IMAP tests are skipped with what to run, except when CI=true: there they fail,
since scripts/check installs it."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import imaplib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


def need(binary: str, install: str) -> str:
    found = shutil.which(binary) or (f"/usr/sbin/{binary}" if Path(f"/usr/sbin/{binary}").exists() else None)
    if found:
        return found
    reason = f"{binary} is not installed: run `{install}` (scripts/check does when run as root)"
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)


def make_tls(folder: Path) -> tuple[Path, Path, Path]:
    """A CA and a certificate for 127.0.0.1 signed by it: (ca.pem, cert.pem, key.pem)."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Kith test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    paths = folder / "ca.pem", folder / "cert.pem", folder / "key.pem"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    for p in paths:
        p.chmod(0o644)
    return paths


_USERS = 400


@dataclass
class Dovecot:
    """One dovecot for the test session; each test takes mailboxes of its own with :meth:`new_user`."""

    folder: Path
    port: int  # plain IMAP (and STARTTLS)
    tls_port: int  # implicit TLS
    ca: Path
    process: subprocess.Popen[bytes]
    users: dict[str, str] = field(default_factory=dict)
    mail_uid: int = 0
    mail_gid: int = 0

    def new_user(self) -> tuple[str, str]:
        """A mailbox nobody used yet (all are in the password file from the start: dovecot notices a changed
        file only a second later)."""
        name = f"u{len(self.users) + 1}"
        if len(self.users) >= _USERS:
            raise RuntimeError(f"the test dovecot has {_USERS} mailboxes; raise _USERS")
        self.users[name] = f"pw-{name}"
        return name, self.users[name]

    def client(self, user: str) -> imaplib.IMAP4:
        conn = imaplib.IMAP4("127.0.0.1", self.port, timeout=30)
        conn.login(user, self.users[user])
        return conn

    def append(self, user: str, messages: list[bytes], folder: str = "INBOX") -> None:
        conn = self.client(user)
        try:
            if folder != "INBOX":
                conn.create(f'"{folder}"')
            for raw in messages:
                typ, data = conn.append(f'"{folder}"', None, None, raw)
                assert typ == "OK", data
        finally:
            conn.logout()

    def maildir(self, user: str) -> Path:
        return self.folder / "home" / user / "Maildir"

    def stop(self) -> None:
        pid_file = self.folder / "run" / "master.pid"
        with contextlib.suppress(FileNotFoundError, ProcessLookupError, ValueError):
            os.kill(int(pid_file.read_text().strip()), signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=10)
        shutil.rmtree(self.folder, ignore_errors=True)


def start_dovecot() -> Dovecot:
    binary = need("dovecot", "apt-get install -y dovecot-imapd")
    folder = Path(tempfile.mkdtemp(prefix="kith-dovecot-"))
    folder.chmod(0o755)  # the mail processes run as the mail user and must reach home/
    for sub in ("run", "state", "home"):
        (folder / sub).mkdir()
        (folder / sub).chmod(0o755)
    ca, cert, key = make_tls(folder)
    if os.geteuid() == 0:
        internal, login = "dovecot", "dovenull"
        mail = pwd.getpwnam("dovecot")
        uid, gid = mail.pw_uid, mail.pw_gid
    else:
        me = pwd.getpwuid(os.geteuid())
        internal = login = me.pw_name
        uid, gid = me.pw_uid, me.pw_gid
    port, tls_port = free_port(), free_port()
    (folder / "users").write_text("".join(f"u{i}:{{PLAIN}}pw-u{i}::::::\n" for i in range(1, _USERS + 1)))
    (folder / "users").chmod(0o644)
    os.chown(folder / "home", uid, gid)  # dovecot makes each mailbox's home as it is first used
    conf = f"""
base_dir = {folder}/run
state_dir = {folder}/state
log_path = {folder}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = yes
ssl_cert = <{cert}
ssl_key = <{key}
disable_plaintext_auth = no
auth_mechanisms = plain login
first_valid_uid = 1
default_internal_user = {internal}
default_login_user = {login}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {folder}/users
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={folder}/home/%u
}}
mail_location = maildir:~/Maildir
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {tls_port}
    ssl = yes
  }}
}}
service anvil {{
  chroot =
}}
"""
    (folder / "dovecot.conf").write_text(conf)
    process = subprocess.Popen(
        [binary, "-F", "-c", str(folder / "dovecot.conf")], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        wait_port(port)
        wait_port(tls_port)
    except RuntimeError:
        process.kill()
        log = (folder / "dovecot.log").read_text() if (folder / "dovecot.log").exists() else ""
        err = process.stderr.read().decode() if process.stderr else ""
        raise RuntimeError(f"dovecot did not start: {err} {log[-2000:]}") from None
    return Dovecot(folder, port, tls_port, ca, process, mail_uid=uid, mail_gid=gid)


@dataclass
class Radicale:
    url: str
    folder: Path
    process: subprocess.Popen[bytes]
    users: dict[str, str] = field(default_factory=dict)

    def new_user(self, prefix: str = "cal") -> tuple[str, str]:
        name = f"{prefix}{len(self.users) + 1}"
        self.users[name] = f"pw-{name}"
        (self.folder / "users").write_text("".join(f"{u}:{p}\n" for u, p in self.users.items()))
        return name, self.users[name]

    def stop(self) -> None:
        self.process.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=10)
        shutil.rmtree(self.folder, ignore_errors=True)


def start_radicale() -> Radicale:
    folder = Path(tempfile.mkdtemp(prefix="kith-radicale-"))
    (folder / "users").write_text("")
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "radicale",
            "--server-hosts",
            f"127.0.0.1:{port}",
            "--storage-filesystem-folder",
            str(folder / "collections"),
            "--auth-type",
            "htpasswd",
            "--auth-htpasswd-filename",
            str(folder / "users"),
            "--auth-htpasswd-encryption",
            "plain",
            "--rights-type",
            "owner_only",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_port(port)
    return Radicale(f"http://127.0.0.1:{port}", folder, process)


@dataclass
class Smtp:
    """aiosmtpd on loopback, keeping every message it receives."""

    port: int
    messages: list[dict[str, object]]
    controller: object


def start_smtp() -> Smtp:
    from aiosmtpd.controller import Controller

    messages: list[dict[str, object]] = []

    class Handler:
        async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
            messages.append(
                {
                    "from": envelope.mail_from,  # type: ignore[attr-defined]
                    "to": list(envelope.rcpt_tos),  # type: ignore[attr-defined]
                    "data": envelope.content,  # type: ignore[attr-defined]
                }
            )
            return "250 OK"

    port = free_port()
    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    return Smtp(port, messages, controller)


@contextlib.contextmanager
def smtp_server() -> Iterator[Smtp]:
    smtp = start_smtp()
    try:
        yield smtp
    finally:
        smtp.controller.stop()  # type: ignore[attr-defined]


class CuttingProxy:
    """A TCP proxy to a real server that closes both sides once ``cut_after`` bytes came from the server: an
    IMAP server dropping the connection mid-fetch, at a chosen point."""

    def __init__(
        self, target_port: int, cut_after: int = 1 << 62, *, marker: bytes = b"", marks: int = 0
    ) -> None:
        self.target_port = target_port
        self.cut_after = cut_after
        self.marker, self.marks = marker, marks  # or: cut once ``marker`` went by ``marks`` times
        self.server: asyncio.base_events.Server | None = None
        self.port = 0
        self.cuts = 0

    async def start(self) -> CuttingProxy:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_r, up_w = await asyncio.open_connection("127.0.0.1", self.target_port)
        sent = 0

        async def client_to_server() -> None:
            with contextlib.suppress(OSError, ConnectionError):
                while data := await reader.read(65536):
                    up_w.write(data)
                    await up_w.drain()

        async def server_to_client() -> None:
            nonlocal sent
            seen = 0
            tail = b""
            with contextlib.suppress(OSError, ConnectionError):
                while data := await up_r.read(65536):
                    if self.marker:
                        seen += (tail + data).count(self.marker) - tail.count(self.marker)
                        tail = data[-len(self.marker) :]
                        if seen >= self.marks:
                            cut = data.rfind(self.marker)
                            writer.write(data[: max(cut, 0)])
                            await writer.drain()
                            self.cuts += 1
                            return
                    if sent + len(data) > self.cut_after:
                        writer.write(data[: max(0, self.cut_after - sent)])
                        await writer.drain()
                        self.cuts += 1
                        return
                    sent += len(data)
                    writer.write(data)
                    await writer.drain()

        task = asyncio.ensure_future(client_to_server())
        await server_to_client()
        task.cancel()
        for w in (writer, up_w):
            with contextlib.suppress(OSError, ConnectionError):
                w.close()
