"""A throw-away PostgreSQL cluster, with PgBouncer in transaction mode in front of it, for tests and benchmarks
(issue #14; specs/POSTGRESQL.md says how Kith uses PostgreSQL and why).

Standard library only: scripts/pg-cluster runs this file with any Python 3.11, before the project's venv exists.

One *supervisor* process owns everything. It makes a private folder in the system's temporary directory, runs
initdb, starts ``postgres`` (and ``pgbouncer`` when installed) on free loopback ports, creates the
``kith_template`` database with the extensions search will want (unaccent, pg_trgm) and a ``kith`` database
made from it, prints one JSON line that describes the cluster, then waits. When it is told to stop, when its
standard input closes, or when the process it watches ends (however it ends, SIGKILL included), it stops the
servers and removes the folder. The servers get a parent-death signal (PR_SET_PDEATHSIG), so that even a
SIGKILL of the supervisor itself ends them; the folder such a supervisor leaves behind is removed by the next
supervisor that starts on the machine.

As root (CI, containers) initdb refuses to run, so the servers run as the ``postgres`` user that Debian's
package creates, and the folder belongs to that user. Authentication is SCRAM with a random password even on
loopback: the machine is shared, and a superuser that trusts every local connection is a shell for anyone on it.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import json
import os
import pwd
import re
import secrets
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TextIO

__all__ = [
    "DATABASE",
    "EXTENSIONS",
    "INSTALL_HINT",
    "TEMPLATE",
    "USER",
    "Binaries",
    "ClusterInfo",
    "ClusterUnavailable",
    "RunningCluster",
    "find_binaries",
    "install",
    "main",
    "missing_packages",
    "start",
]

TEMPLATE = "kith_template"
DATABASE = "kith"
USER = "kith"
#: Extensions the PostgreSQL search will want (issue #14): accent folding and trigram prefixes. Both are in
#: PostgreSQL's contrib, which Debian ships inside postgresql-NN.
EXTENSIONS = ("unaccent", "pg_trgm")
PACKAGES = ("postgresql", "postgresql-contrib", "pgbouncer")
INSTALL_HINT = "run as root: scripts/pg-cluster install (apt-get install -y " + " ".join(PACKAGES) + ")"
FOLDER_PREFIX = "kith-pg-"
REPO = Path(__file__).resolve().parents[2]
DEFAULT_STATE = REPO / "build" / "pg-cluster.json"

#: Seconds allowed for each step (initdb, a server becoming ready); a step that overruns fails with its log.
STEP_TIMEOUT = 120.0
#: Servers that could not bind their port (another process took it between our probe and their bind) are
#: started again on another port, this many times.
PORT_ATTEMPTS = 5

#: The cluster is thrown away, so durability buys nothing: no fsync, no full-page writes. Figures measured on
#: it show what the driver and the server's CPU cost, not the disk's (specs/POSTGRESQL.md).
SERVER_SETTINGS = (
    "fsync=off",
    "synchronous_commit=off",
    "full_page_writes=off",
    "max_connections=200",
    "listen_addresses=127.0.0.1",
)


class ClusterUnavailable(RuntimeError):
    """The cluster cannot be started here; the message says why and what to run."""


@dataclass(frozen=True)
class Binaries:
    bindir: Path
    pgbouncer: Path | None
    version: str

    def tool(self, name: str) -> str:
        return str(self.bindir / name)


@dataclass(frozen=True)
class ClusterInfo:
    """What a running cluster's supervisor reports. URLs carry the random password of the ``kith`` superuser."""

    url: str  # the `kith` database
    admin_url: str  # the `postgres` database, to create and drop others
    template: str
    bouncer_url: str | None  # the `kith` database through PgBouncer (transaction pooling), if installed
    bouncer_missing: str | None  # why there is no PgBouncer
    folder: str
    supervisor_pid: int
    postgres_pid: int
    bouncer_pid: int | None
    version: str

    def database_url(self, name: str, *, bouncer: bool = False) -> str:
        """The URL of another database of this cluster (directly, or through PgBouncer)."""
        base = self.bouncer_url if bouncer else self.url
        if base is None:
            raise ClusterUnavailable(self.bouncer_missing or "no PgBouncer")
        return base.rsplit("/", 1)[0] + "/" + name


# -- finding and installing the binaries ----------------------------------------------------------------------
def _version_key(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", text)) or (0,)


def find_binaries(env: Mapping[str, str] | None = None) -> Binaries | None:
    """The PostgreSQL server in $KITH_PG_BINDIR if that is set (and only there), else the newest of Debian's
    /usr/lib/postgresql/N/bin, else the one on PATH."""
    env = os.environ if env is None else env
    candidates: list[Path] = []
    if env.get("KITH_PG_BINDIR"):
        candidates.append(Path(env["KITH_PG_BINDIR"]))
    else:
        candidates += sorted(
            Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: _version_key(p.parent.name), reverse=True
        )
        on_path = shutil.which("initdb")
        if on_path:
            candidates.append(Path(on_path).resolve().parent)
    bouncer = shutil.which("pgbouncer") or next(
        (p for p in ("/usr/sbin/pgbouncer", "/usr/bin/pgbouncer") if os.access(p, os.X_OK)), None
    )
    for bindir in candidates:
        if all(os.access(bindir / tool, os.X_OK) for tool in ("initdb", "postgres", "pg_isready", "psql")):
            out = subprocess.run(
                [str(bindir / "postgres"), "--version"], capture_output=True, text=True, check=False
            ).stdout
            version = m.group(1) if (m := re.search(r"(\d+(?:\.\d+)?)", out)) else "?"
            return Binaries(bindir=bindir, pgbouncer=Path(bouncer) if bouncer else None, version=version)
    return None


def missing_packages(binaries: Binaries | None = None) -> list[str]:
    """Debian packages this machine still needs for the cluster, its extensions and PgBouncer."""
    binaries = binaries or find_binaries()
    if binaries is None:
        return list(PACKAGES)
    missing = []
    sharedir = Path("/usr/share/postgresql") / binaries.version.split(".")[0] / "extension"
    if sharedir.is_dir() and not all((sharedir / f"{e}.control").exists() for e in EXTENSIONS):
        missing.append("postgresql-contrib")
    if binaries.pgbouncer is None:
        missing.append("pgbouncer")
    return missing


def install() -> int:
    """Install what is missing with apt-get as root (like scripts/install-browser); else say what to run."""
    missing = missing_packages()
    if not missing:
        found = find_binaries()
        assert found is not None
        print(f"pg-cluster: PostgreSQL {found.version} ({found.bindir}) and PgBouncer are installed")
        return 0
    if shutil.which("apt-get") and os.geteuid() == 0:
        print(f"pg-cluster: installing Debian's {' '.join(missing)} with apt-get")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        for argv in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", *missing]):
            if subprocess.run(argv, env=env, check=False, stdout=subprocess.DEVNULL).returncode != 0:
                print(f"pg-cluster: `{' '.join(argv)}` failed (its errors are above)", file=sys.stderr)
                return 1
        still = missing_packages()
        if still:
            print(f"pg-cluster: still missing after apt-get: {' '.join(still)}", file=sys.stderr)
            return 1
        print("pg-cluster: installed")
        return 0
    if shutil.which("apt-get"):
        print(f"pg-cluster: {' '.join(missing)} missing; {INSTALL_HINT}", file=sys.stderr)
    else:
        print(
            f"pg-cluster: {' '.join(missing)} missing: install your system's PostgreSQL server (with its contrib "
            "extensions) and PgBouncer; set KITH_PG_BINDIR to the folder holding initdb if it is not found",
            file=sys.stderr,
        )
    print("pg-cluster: the PostgreSQL tests are skipped until then (and fail when CI=true)", file=sys.stderr)
    return 1


# -- processes ------------------------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start_time(pid: int) -> str | None:
    """The kernel's start time of a process (field 22 of /proc/PID/stat): with the pid, it names one process
    even after the pid is reused."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def _alive(pid: int, start_time: str | None = None) -> bool:
    now = _start_time(pid)
    return now is not None and (start_time is None or now == start_time)


def _die_with_parent(sig: int) -> Callable[[], None]:
    """A preexec_fn that asks the kernel to send ``sig`` to the child when the supervisor dies, SIGKILL or not.
    subprocess calls it after switching user, so the setting survives (a credential change clears it)."""
    libc = ctypes.CDLL(None, use_errno=True)
    parent = os.getpid()

    def preexec() -> None:
        libc.prctl(1, sig, 0, 0, 0)  # PR_SET_PDEATHSIG
        if os.getppid() != parent:  # the supervisor died before the line above
            os.kill(os.getpid(), sig)

    return preexec


def _sweep_stale(base: Path) -> None:
    """Remove folders whose supervisor is gone (killed with SIGKILL); their servers died with it."""
    for folder in base.glob(FOLDER_PREFIX + "*"):
        try:
            pid_text, start = (folder / "supervisor").read_text().split()
            stale = not _alive(int(pid_text), start)
        except (OSError, ValueError):
            # Being set up this instant, or not ours to read: only an old one is stale.
            try:
                stale = time.time() - folder.stat().st_mtime > 3600
            except OSError:
                continue
        if stale:
            shutil.rmtree(folder, ignore_errors=True)


class _Stop(BaseException):
    """Raised in the supervisor by SIGTERM, SIGINT or SIGHUP: stop the servers and clean up."""


class _Supervisor:
    def __init__(self, *, bouncer: bool) -> None:
        self.want_bouncer = bouncer
        self.binaries: Binaries | None = None
        self.folder: Path | None = None
        self.password = secrets.token_urlsafe(18)
        self.run_as: pwd.struct_passwd | None = None
        self.postgres: subprocess.Popen[bytes] | None = None
        self.bouncer: subprocess.Popen[bytes] | None = None
        self.port = 0
        self.bouncer_port = 0

    # -- helpers ------------------------------------------------------------------------------------------
    def _as_owner(self) -> dict[str, Any]:
        """subprocess arguments that run a server program as the folder's owner."""
        if self.run_as is None:
            return {}
        return {"user": self.run_as.pw_uid, "group": self.run_as.pw_gid, "extra_groups": []}

    def _env(self) -> dict[str, str]:
        assert self.folder is not None
        return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(self.folder), "LANG": "C.UTF-8"}

    def _psql(self, database: str, sql: str, *, port: int | None = None) -> str:
        assert self.binaries is not None
        env = {**self._env(), "PGPASSWORD": self.password, "PGCONNECT_TIMEOUT": "10"}
        argv = [self.binaries.tool("psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"]
        argv += ["-h", "127.0.0.1", "-p", str(port or self.port), "-U", USER, "-d", database, "-c", sql]
        done = subprocess.run(
            argv, env=env, capture_output=True, text=True, timeout=STEP_TIMEOUT, check=False
        )
        if done.returncode != 0:
            raise ClusterUnavailable(f"`{sql}` failed in {database}: {done.stderr.strip()}")
        return done.stdout.strip()

    def _log_tail(self, name: str) -> str:
        assert self.folder is not None
        try:
            lines = (self.folder / name).read_text(errors="replace").strip().splitlines()
        except OSError:
            return "(no log)"
        return " | ".join(lines[-6:])

    def _url(self, port: int, database: str) -> str:
        return f"postgresql://{USER}:{self.password}@127.0.0.1:{port}/{database}"

    # -- set-up -------------------------------------------------------------------------------------------
    def setup(self) -> ClusterInfo:
        self.binaries = find_binaries()
        if self.binaries is None:
            raise ClusterUnavailable(
                "no PostgreSQL server (initdb, postgres) on this machine; "
                + INSTALL_HINT
                + ", or set KITH_TEST_POSTGRES_URL to a server whose user may create databases"
            )
        if os.geteuid() == 0:
            try:
                self.run_as = pwd.getpwnam("postgres")
            except KeyError:
                raise ClusterUnavailable(
                    "initdb refuses to run as root and there is no `postgres` user to run it as; "
                    "create one (adduser --system --group postgres) or run the tests as another user"
                ) from None
        base = Path(tempfile.gettempdir())
        _sweep_stale(base)
        self.folder = Path(tempfile.mkdtemp(prefix=FOLDER_PREFIX, dir=base))
        (self.folder / "supervisor").write_text(f"{os.getpid()} {_start_time(os.getpid())}\n")
        if self.run_as is not None:
            os.chown(self.folder, self.run_as.pw_uid, self.run_as.pw_gid)
        self._initdb()
        self._start_postgres()
        for statement in (
            f"CREATE DATABASE {TEMPLATE}",
            *(f"CREATE EXTENSION IF NOT EXISTS {e}" for e in EXTENSIONS),
            f"ALTER DATABASE {TEMPLATE} IS_TEMPLATE true",
            f"CREATE DATABASE {DATABASE} TEMPLATE {TEMPLATE}",
        ):
            target = TEMPLATE if statement.startswith("CREATE EXTENSION") else "postgres"
            try:
                self._psql(target, statement)
            except ClusterUnavailable as exc:
                if "EXTENSION" in statement:
                    raise ClusterUnavailable(f"{exc}: install postgresql-contrib ({INSTALL_HINT})") from None
                raise
        version = self._psql("postgres", "SHOW server_version")
        missing: str | None = None
        if not self.want_bouncer:
            missing = "PgBouncer was not asked for (--no-bouncer)"
        elif self.binaries.pgbouncer is None:
            missing = "PgBouncer is not installed; " + INSTALL_HINT
        else:
            self._start_bouncer()
        return ClusterInfo(
            url=self._url(self.port, DATABASE),
            admin_url=self._url(self.port, "postgres"),
            template=TEMPLATE,
            bouncer_url=self._url(self.bouncer_port, DATABASE) if self.bouncer else None,
            bouncer_missing=missing,
            folder=str(self.folder),
            supervisor_pid=os.getpid(),
            postgres_pid=self.postgres.pid if self.postgres else 0,
            bouncer_pid=self.bouncer.pid if self.bouncer else None,
            version=version,
        )

    def _initdb(self) -> None:
        assert self.binaries is not None and self.folder is not None
        secret = self.folder / "password"
        secret.write_text(self.password + "\n")
        secret.chmod(0o600)
        if self.run_as is not None:
            os.chown(secret, self.run_as.pw_uid, self.run_as.pw_gid)
        argv = [
            self.binaries.tool("initdb"),
            "-D",
            str(self.folder / "data"),
            "-U",
            USER,
            f"--pwfile={secret}",
        ]
        argv += ["--auth=scram-sha-256", "--encoding=UTF8", "--no-sync"]
        # C.UTF-8: code-point order, and Unicode case mapping for lower() (plain C folds ASCII only).
        for locale in (["--locale=C.UTF-8"], ["--no-locale"]):
            done = subprocess.run(
                argv + locale,
                cwd=self.folder,
                env=self._env(),
                capture_output=True,
                text=True,
                timeout=STEP_TIMEOUT,
                check=False,
                **self._as_owner(),
            )
            if done.returncode == 0:
                break
            shutil.rmtree(self.folder / "data", ignore_errors=True)
        secret.unlink()
        if done.returncode != 0:
            raise ClusterUnavailable(f"initdb failed: {done.stderr.strip()[-800:]}")

    def _start_postgres(self) -> None:
        assert self.binaries is not None and self.folder is not None
        for _ in range(PORT_ATTEMPTS):
            self.port = _free_port()
            argv = [self.binaries.tool("postgres"), "-D", str(self.folder / "data"), "-p", str(self.port)]
            argv += ["-c", f"unix_socket_directories={self.folder}"]
            for setting in SERVER_SETTINGS:
                argv += ["-c", setting]
            with (self.folder / "postgres.log").open("ab") as log:
                self.postgres = subprocess.Popen(
                    argv,
                    cwd=self.folder,
                    env=self._env(),
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    preexec_fn=_die_with_parent(signal.SIGINT),  # fast shutdown
                    **self._as_owner(),
                )
            if self._wait_ready(self.postgres, "postgres.log", self._postgres_ready):
                return
        raise ClusterUnavailable(f"postgres found no free port in {PORT_ATTEMPTS} tries")

    def _postgres_ready(self) -> bool:
        assert self.binaries is not None
        argv = [self.binaries.tool("pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(self.port), "-t", "2"]
        return subprocess.run(argv, env=self._env(), check=False, timeout=30).returncode == 0

    def _wait_ready(self, proc: subprocess.Popen[bytes], log: str, ready: Callable[[], bool]) -> bool:
        """True once ready; False if the server lost its port to another process (try another); raises
        ClusterUnavailable with the log's last lines for anything else."""
        deadline = time.monotonic() + STEP_TIMEOUT
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                tail = self._log_tail(log)
                if "in use" in tail or "could not bind" in tail or "could not create any TCP" in tail:
                    return False
                raise ClusterUnavailable(f"{Path(str(proc.args[0])).name} exited: {tail}")
            try:
                if ready():
                    return True
            except ClusterUnavailable:
                pass
            time.sleep(0.1)
        raise ClusterUnavailable(f"{log} not ready after {STEP_TIMEOUT:.0f} s: {self._log_tail(log)}")

    def _start_bouncer(self) -> None:
        assert self.binaries is not None and self.binaries.pgbouncer is not None and self.folder is not None
        userlist = self.folder / "userlist.txt"
        userlist.write_text(f'"{USER}" "{self.password}"\n')
        userlist.chmod(0o600)
        for _ in range(PORT_ATTEMPTS):
            self.bouncer_port = _free_port()
            config = self.folder / "pgbouncer.ini"
            config.write_text(
                BOUNCER_INI.format(pg_port=self.port, port=self.bouncer_port, folder=self.folder, user=USER)
            )
            if self.run_as is not None:
                for path in (userlist, config):
                    os.chown(path, self.run_as.pw_uid, self.run_as.pw_gid)
            with (self.folder / "pgbouncer.out").open("ab") as out:
                self.bouncer = subprocess.Popen(
                    [str(self.binaries.pgbouncer), str(config)],
                    cwd=self.folder,
                    env=self._env(),
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    preexec_fn=_die_with_parent(signal.SIGTERM),  # immediate shutdown
                    **self._as_owner(),
                )

            def ready() -> bool:
                return self._psql(DATABASE, "SELECT 1", port=self.bouncer_port) == "1"

            if self._wait_ready(self.bouncer, "pgbouncer.log", ready):
                return
        raise ClusterUnavailable(f"pgbouncer found no free port in {PORT_ATTEMPTS} tries")

    # -- running and stopping -----------------------------------------------------------------------------
    def wait(self, *, watch_pid: int | None, watch_start: str | None, tie_to_stdin: bool) -> str:
        """Block until it is time to stop; return why."""
        sel = selectors.DefaultSelector()
        if tie_to_stdin:
            sel.register(sys.stdin.fileno(), selectors.EVENT_READ, "standard input closed")
        pidfds: list[int] = []
        watched = [(p.pid, f"{Path(str(p.args[0])).name} exited") for p in (self.postgres, self.bouncer) if p]
        poll_watch = False
        if watch_pid is not None:
            watched.append((watch_pid, f"process {watch_pid} ended"))
        for pid, why in watched:
            try:
                fd = os.pidfd_open(pid)
            except ProcessLookupError:
                return why
            except (AttributeError, OSError):  # no pidfds (old kernel): look once a second
                poll_watch = True
                continue
            pidfds.append(fd)
            sel.register(fd, selectors.EVENT_READ, why)
        try:
            while True:
                for key, _ in sel.select(timeout=1.0 if poll_watch else None):
                    if key.data == "standard input closed" and os.read(key.fd, 4096):
                        continue
                    return str(key.data)
                if poll_watch and watch_pid is not None and not _alive(watch_pid, watch_start):
                    return f"process {watch_pid} ended"
        finally:
            sel.close()
            for fd in pidfds:
                os.close(fd)

    def teardown(self) -> None:
        for proc, sig in ((self.bouncer, signal.SIGTERM), (self.postgres, signal.SIGINT)):
            if proc is None or proc.poll() is not None:
                continue
            for s, grace in ((sig, 30.0), (signal.SIGQUIT, 10.0), (signal.SIGKILL, 10.0)):
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(s)
                try:
                    proc.wait(grace)
                    break
                except subprocess.TimeoutExpired:
                    continue
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)


BOUNCER_INI = """\
; Written by tests/support/pgcluster.py; docs/DEPLOYMENT.md explains each setting.
[databases]
* = host=127.0.0.1 port={pg_port}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = scram-sha-256
auth_file = {folder}/userlist.txt
pool_mode = transaction
max_client_conn = 1000
default_pool_size = 20
ignore_startup_parameters = extra_float_digits
admin_users = {user}
logfile = {folder}/pgbouncer.log
"""


def _emit(out: TextIO, payload: Mapping[str, Any]) -> None:
    with contextlib.suppress(OSError):  # the parent may be gone already: clean up all the same
        out.write(json.dumps(payload) + "\n")
        out.flush()


def _supervise(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="pgcluster.py _supervise")
    parser.add_argument("--watch-pid", type=int)
    parser.add_argument("--stdin", action="store_true", help="stop when standard input closes")
    parser.add_argument("--state", type=Path)
    parser.add_argument("--no-bouncer", action="store_true")
    args = parser.parse_args(argv)
    watch_start = _start_time(args.watch_pid) if args.watch_pid else None

    def stop(signum: int, frame: object) -> None:
        raise _Stop(signum)

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, stop)
    sup = _Supervisor(bouncer=not args.no_bouncer)
    out = sys.stdout
    try:
        try:
            info = sup.setup()
        except ClusterUnavailable as exc:
            _emit(out, {"error": str(exc)})
            return 1
        except Exception as exc:
            _emit(out, {"error": f"the cluster's set-up failed unexpectedly: {exc!r}"})
            raise
        if args.state is not None:
            args.state.parent.mkdir(parents=True, exist_ok=True)
            tmp = args.state.with_suffix(".tmp")
            tmp.write_text(json.dumps(asdict(info)))
            tmp.chmod(0o600)  # it holds the password
            tmp.replace(args.state)
        _emit(out, asdict(info))
        sup.wait(watch_pid=args.watch_pid, watch_start=watch_start, tie_to_stdin=args.stdin)
        return 0
    except _Stop:
        return 0
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)  # a second signal must not cut the clean-up short
        sup.teardown()
        if args.state is not None:
            with contextlib.suppress(FileNotFoundError):
                if json.loads(args.state.read_text()).get("supervisor_pid") == os.getpid():
                    args.state.unlink()


# -- the caller's side ----------------------------------------------------------------------------------------
class RunningCluster:
    """A cluster whose supervisor is this process's child; ``stop()`` (or leaving the ``with``) removes it."""

    def __init__(self, proc: subprocess.Popen[str], info: ClusterInfo) -> None:
        self._proc = proc
        self.info = info

    def stop(self, timeout: float = 60.0) -> None:
        if self._proc.stdin is not None and not self._proc.stdin.closed:
            self._proc.stdin.close()  # end of input: the supervisor stops the servers, removes the folder
        try:
            self._proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self._proc.terminate()
            self._proc.wait(timeout)
        if self._proc.stdout is not None:
            self._proc.stdout.close()

    def __enter__(self) -> RunningCluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _spawn(extra: Sequence[str], *, attached: bool) -> tuple[subprocess.Popen[str], dict[str, Any]]:
    proc = subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve()), "_supervise", *extra],
        stdin=subprocess.PIPE if attached else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        # Its own session: a Ctrl-C meant for the caller must not kill it before it has cleaned up.
        start_new_session=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    try:
        payload: dict[str, Any] = json.loads(line) if line else {"error": "the supervisor died during set-up"}
    except json.JSONDecodeError:
        payload = {"error": f"the supervisor said {line!r}"}
    return proc, payload


def start(*, watch_pid: int | None = None, bouncer: bool = True) -> RunningCluster:
    """Start a cluster tied to this process: it goes when ``stop()`` is called, when this process's end closes
    the supervisor's standard input, or when ``watch_pid`` (default: this process) ends."""
    extra = ["--stdin", "--watch-pid", str(watch_pid or os.getpid())]
    proc, payload = _spawn(extra + ([] if bouncer else ["--no-bouncer"]), attached=True)
    if "error" in payload:
        proc.wait(60)
        raise ClusterUnavailable(payload["error"])
    return RunningCluster(proc, ClusterInfo(**payload))


# -- scripts/pg-cluster --------------------------------------------------------------------------------------
def _read_state(path: Path) -> ClusterInfo | None:
    try:
        info = ClusterInfo(**json.loads(path.read_text()))
    except (OSError, ValueError, TypeError):
        return None
    return info if _alive(info.supervisor_pid) else None


def _start_detached(path: Path, watch_pid: int | None, bouncer: bool) -> ClusterInfo:
    extra = ["--state", str(path)] + (["--watch-pid", str(watch_pid)] if watch_pid else [])
    proc, payload = _spawn(extra + ([] if bouncer else ["--no-bouncer"]), attached=False)
    if "error" in payload:
        proc.wait(60)
        raise ClusterUnavailable(payload["error"])
    return ClusterInfo(**payload)


def _stop_detached(path: Path) -> bool:
    info = _read_state(path)
    if info is None:
        return False
    os.kill(info.supervisor_pid, signal.SIGTERM)
    deadline = time.monotonic() + 90
    while _alive(info.supervisor_pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    return True


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["_supervise"]:
        return _supervise(argv[1:])
    parser = argparse.ArgumentParser(
        prog="scripts/pg-cluster",
        description="A throw-away PostgreSQL cluster (and PgBouncer in transaction mode) for Kith's tests and "
        "benchmarks, in a temporary folder on free loopback ports. The tests start their own; this is for "
        "using one by hand (export KITH_TEST_POSTGRES_URL=$(scripts/pg-cluster url --admin) to share it).",
    )
    parser.add_argument("--state", type=Path, default=DEFAULT_STATE, help="where `start` records the cluster")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("install", help="install PostgreSQL, its contrib extensions and PgBouncer (root, apt-get)")
    p = sub.add_parser("start", help="start a cluster in the background and print its URL")
    p.add_argument("--watch-pid", type=int, help="stop it when this process ends")
    p.add_argument("--no-bouncer", action="store_true", help="do not start PgBouncer")
    p = sub.add_parser("url", help="print the running cluster's URL")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--admin", action="store_true", help="the `postgres` database (to create others)")
    group.add_argument("--bouncer", action="store_true", help="through PgBouncer (transaction pooling)")
    sub.add_parser("stop", help="stop the running cluster and remove its folder")
    args = parser.parse_args(argv)
    if args.command == "install":
        return install()
    if args.command == "stop":
        if not _stop_detached(args.state):
            print("pg-cluster: no cluster is running", file=sys.stderr)
        return 0
    info = _read_state(args.state)
    if args.command == "url":
        if info is None:
            print(
                "pg-cluster: no cluster is running; start one with scripts/pg-cluster start", file=sys.stderr
            )
            return 1
        url = info.admin_url if args.admin else info.bouncer_url if args.bouncer else info.url
        if url is None:
            print(f"pg-cluster: {info.bouncer_missing}", file=sys.stderr)
            return 1
        print(url)
        return 0
    if info is None:
        try:
            info = _start_detached(args.state, args.watch_pid, not args.no_bouncer)
        except ClusterUnavailable as exc:
            print(f"pg-cluster: {exc}", file=sys.stderr)
            return 1
    print(info.url)
    print(
        f"pg-cluster: PostgreSQL {info.version} in {info.folder}; "
        + (f"PgBouncer at {info.bouncer_url}" if info.bouncer_url else str(info.bouncer_missing))
        + "; `scripts/pg-cluster stop` removes it",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
