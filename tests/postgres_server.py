"""A throw-away PostgreSQL server for the tests: initdb into a folder, start, wait until ready, stop.

`start_postgres(base_dir)` needs the server binaries (Debian's `postgresql` package puts them under
/usr/lib/postgresql/<version>/bin, which is not on PATH) and nothing from PyPI. The server listens on
a Unix socket inside `base_dir` and on 127.0.0.1 with a free port; `.url` is a `postgresql://` DSN
for psycopg 3 (TCP, user `postgres`, no password: trust authentication).

PostgreSQL refuses to run as root, so when the tests run as root (CI does) the server programs run
as the `postgres` system user (created by Debian's package) through `setpriv` (or `runuser`), and
`base_dir` is handed to that user; it must then sit where that user can reach it (e.g. under /tmp,
not under pytest's /tmp/pytest-of-root, which is 0700).

Anything that prevents a start raises `PostgresUnavailable` with a reason meant for a human, which
includes the tail of the log when the server or initdb said something.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import re
import shutil
import signal
import socket
import stat
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

SUPERUSER = "postgres"
DBNAME = "bot_test"
RUN_AS = "postgres"  # the system user that runs the server when we are root
START_DEADLINE = float(os.environ.get("POSTGRES_TEST_START_TIMEOUT", "60"))
SOCKET_PATH_MAX = 100  # sun_path holds 108 bytes; '/.s.PGSQL.65535' and its '.lock' must fit too


class PostgresUnavailable(RuntimeError):
    """The server cannot be started here; str() is the reason."""


@dataclass
class PostgresServer:
    url: str
    port: int
    dbname: str
    base_dir: Path
    data_dir: Path
    socket_dir: Path
    log_path: Path
    _proc: subprocess.Popen | None = field(default=None, repr=False)
    _bins: dict[str, str] = field(default_factory=dict, repr=False)
    _run_as: pwd.struct_passwd | None = field(default=None, repr=False)

    @property
    def socket_url(self) -> str:
        """The same database over the Unix socket (libpq syntax: empty host, `host=` the socket folder)."""
        return f"postgresql://{SUPERUSER}@/{self.dbname}?host={self.socket_dir}&port={self.port}"

    def stop(self, remove: bool = True) -> None:
        """`pg_ctl stop -m fast`, then signals if need be; removes base_dir unless told not to. Idempotent."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            if "pg_ctl" in self._bins:
                with contextlib.suppress(Exception):
                    _run(
                        [self._bins["pg_ctl"], "stop", "-D", str(self.data_dir), "-m", "fast", "-w", "-t", "60"],
                        self._run_as,
                        self.base_dir,
                        timeout=90,
                    )
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=10)
            # Without pg_ctl, or if it failed: SIGINT is PostgreSQL's "fast" shutdown, SIGQUIT its "immediate" one.
            for sig, wait in ((signal.SIGINT, 30), (signal.SIGQUIT, 10), (signal.SIGKILL, 10)):
                if proc.poll() is not None:
                    break
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(sig)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=wait)
        if remove:
            shutil.rmtree(self.base_dir, ignore_errors=True)

    def __enter__(self) -> PostgresServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def find_binaries() -> dict[str, str]:
    """initdb and postgres (required), pg_ctl, pg_isready, createdb (optional), all from one folder.

    A folder on PATH wins; otherwise the newest /usr/lib/postgresql/<version>/bin. The client programs
    are taken from the same folder so that Debian's /usr/bin/pg_wrapper is not involved."""
    dirs: list[str] = []
    for name in ("initdb", "postgres"):
        found = shutil.which(name)
        if found:
            dirs.append(str(Path(found).resolve().parent))
    versioned = glob.glob("/usr/lib/postgresql/*/bin")
    versioned.sort(key=lambda d: [int(p) if p.isdigit() else 0 for p in re.split(r"[./]", d)], reverse=True)
    dirs += versioned
    for d in dict.fromkeys(dirs):
        bins = {n: str(Path(d) / n) for n in ("initdb", "postgres", "pg_ctl", "pg_isready", "createdb")}
        bins = {n: p for n, p in bins.items() if os.access(p, os.X_OK)}
        if "initdb" in bins and "postgres" in bins:
            for name in ("pg_isready", "createdb"):  # clients may come from a separate package
                if name not in bins and shutil.which(name):
                    bins[name] = shutil.which(name)  # type: ignore[assignment]
            return bins
    raise PostgresUnavailable(
        "no PostgreSQL server binaries (initdb and postgres) on PATH or under /usr/lib/postgresql/*/bin; "
        "install them with: apt-get install postgresql"
    )


def start_postgres(base_dir: Path) -> PostgresServer:
    """initdb into base_dir/data, start the server, wait until it accepts connections, create DBNAME.

    base_dir must exist (preferably empty); it is handed to the `postgres` user when we are root."""
    base_dir = Path(base_dir).resolve()
    bins = find_binaries()
    run_as = _run_as_user()
    data_dir, socket_dir, log_path = base_dir / "data", base_dir / "run", base_dir / "server.log"
    if len(f"{socket_dir}/.s.PGSQL.65535.lock") > SOCKET_PATH_MAX:
        raise PostgresUnavailable(f"the folder {base_dir} is too deep for a Unix socket path; use a shorter one (e.g. under /tmp)")
    socket_dir.mkdir(parents=True, exist_ok=True)
    if run_as is not None:
        _hand_over(base_dir, run_as)

    initdb_log = base_dir / "initdb.log"
    with open(initdb_log, "wb") as log:
        try:
            done = _run(
                [
                    bins["initdb"],
                    "-D",
                    str(data_dir),
                    "-U",
                    SUPERUSER,
                    "--auth=trust",
                    "--no-sync",
                    "-E",
                    "UTF8",
                    "--locale=C",
                ],
                run_as,
                base_dir,
                stdout=log,
                timeout=max(START_DEADLINE * 3, 120),
            )
        except subprocess.TimeoutExpired:
            raise PostgresUnavailable(f"initdb did not finish within {max(START_DEADLINE * 3, 120):.0f} s{_tail(initdb_log)}") from None
    if done.returncode != 0:
        raise PostgresUnavailable(f"initdb failed with exit code {done.returncode}{_tail(initdb_log)}")

    server = PostgresServer(
        url="",
        port=0,
        dbname=DBNAME,
        base_dir=base_dir,
        data_dir=data_dir,
        socket_dir=socket_dir,
        log_path=log_path,
        _bins=bins,
        _run_as=run_as,
    )
    deadline = time.monotonic() + START_DEADLINE
    try:
        for attempt in range(5):  # another process may take the free port between our probe and the server's bind
            server.port = _free_port()
            if _start_once(server, deadline):
                break
            if attempt == 4 or not _port_clash(log_path):
                raise PostgresUnavailable(f"the server exited with code {server._proc.returncode} while starting{_tail(log_path)}")
        _create_database(server, deadline)
    except BaseException:
        server.stop(remove=False)
        raise
    server.url = f"postgresql://{SUPERUSER}@127.0.0.1:{server.port}/{DBNAME}"
    return server


@contextlib.contextmanager
def postgres(base_dir: Path) -> Iterator[PostgresServer]:
    """`with postgres(folder) as server:` — starts, yields, stops and removes the folder."""
    server = start_postgres(base_dir)
    try:
        yield server
    finally:
        server.stop()


# --- internals ---------------------------------------------------------------------------------


def _run_as_user() -> pwd.struct_passwd | None:
    """None when we may run the server ourselves; the `postgres` user's entry when we are root."""
    if os.geteuid() != 0:
        return None
    try:
        user = pwd.getpwnam(RUN_AS)
    except KeyError:
        raise PostgresUnavailable(
            f"running as root, and PostgreSQL refuses root, but there is no '{RUN_AS}' system user to run it as "
            "(Debian's postgresql package creates it)"
        ) from None
    if not (shutil.which("setpriv") or shutil.which("runuser")):
        raise PostgresUnavailable(f"running as root, and neither setpriv nor runuser is available to become '{RUN_AS}'")
    return user


def _hand_over(base_dir: Path, user: pwd.struct_passwd) -> None:
    """chown base_dir to the user, and check that the user can reach it through its parents."""
    for parent in base_dir.parents:
        mode = parent.stat()
        if not (mode.st_mode & stat.S_IXOTH or mode.st_uid == user.pw_uid or (mode.st_gid == user.pw_gid and mode.st_mode & stat.S_IXGRP)):
            raise PostgresUnavailable(
                f"running as root, so the server runs as '{user.pw_name}', who cannot enter {parent} "
                f"(mode {stat.filemode(mode.st_mode)}); put the server's folder elsewhere, e.g. under /tmp"
            )
    for path in [base_dir, *base_dir.rglob("*")]:
        os.chown(path, user.pw_uid, user.pw_gid, follow_symlinks=False)


def _env(run_as: pwd.struct_passwd | None, base_dir: Path) -> dict[str, str]:
    """No PG* variables from the caller (PGHOST, PGDATA... would redirect the programs); C messages."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env["LC_ALL"] = "C"
    if run_as is not None:
        env.update(HOME=str(base_dir), USER=run_as.pw_name, LOGNAME=run_as.pw_name)
    return env


def _as_user(argv: list[str], run_as: pwd.struct_passwd | None) -> list[str]:
    if run_as is None:
        return argv
    if shutil.which("setpriv"):  # execs in place (no PAM session, no extra process), so signals reach the server
        return ["setpriv", f"--reuid={run_as.pw_uid}", f"--regid={run_as.pw_gid}", "--init-groups", "--", *argv]
    return ["runuser", "-u", run_as.pw_name, "--", *argv]


def _run(
    argv: list[str], run_as: pwd.struct_passwd | None, base_dir: Path, stdout=None, timeout: float = 60
) -> subprocess.CompletedProcess:
    return subprocess.run(
        _as_user(argv, run_as),
        cwd=base_dir,
        env=_env(run_as, base_dir),
        stdin=subprocess.DEVNULL,
        stdout=stdout if stdout is not None else subprocess.PIPE,
        stderr=subprocess.STDOUT,
        timeout=timeout,
        check=False,
    )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_once(server: PostgresServer, deadline: float) -> bool:
    """Start the postmaster in the foreground of a child process and poll until it accepts connections.

    False when it exited (the caller looks at the log); raises when the deadline passes."""
    argv = [
        server._bins["postgres"],
        "-D", str(server.data_dir),
        "-p", str(server.port),
        "-c", "listen_addresses=127.0.0.1",
        "-c", f"unix_socket_directories={server.socket_dir}",
        "-c", "max_connections=200",
        "-c", "fsync=off",
        "-c", "synchronous_commit=off",
        "-c", "full_page_writes=off",
        "-c", "logging_collector=off",
        "-c", "log_min_messages=warning",
    ]  # fmt: skip
    with open(server.log_path, "ab") as log:
        log.write(f"--- port {server.port}\n".encode())
        log.flush()
        server._proc = subprocess.Popen(
            _as_user(argv, server._run_as),
            cwd=server.base_dir,
            env=_env(server._run_as, server.base_dir),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a Ctrl-C at the terminal is for pytest, not for the server
        )
    delay = 0.02
    while True:
        if server._proc.poll() is not None:
            return False
        # The socket lives in our private folder, so an answer there comes from our server; it is created after
        # the TCP socket, and the server dies if it cannot bind the TCP one.
        if _ready(server, str(server.socket_dir)) and _ready(server, "127.0.0.1"):
            return True
        if time.monotonic() > deadline:
            raise PostgresUnavailable(f"the server did not accept connections within {START_DEADLINE:g} s{_tail(server.log_path)}")
        time.sleep(delay)
        delay = min(delay * 1.5, 0.25)


def _ready(server: PostgresServer, host: str) -> bool:
    if "pg_isready" in server._bins:
        argv = [server._bins["pg_isready"], "-q", "-h", host, "-p", str(server.port), "-U", SUPERUSER, "-d", "postgres", "-t", "5"]
        try:
            return (
                subprocess.run(argv, env=_env(None, server.base_dir), stdin=subprocess.DEVNULL, capture_output=True, timeout=30).returncode
                == 0
            )
        except subprocess.TimeoutExpired:
            return False
    # No client programs: the postmaster writes "ready" into line 8 of postmaster.pid once it accepts connections.
    try:
        lines = (server.data_dir / "postmaster.pid").read_text().splitlines()
    except OSError:
        return False
    if len(lines) < 8 or lines[7].strip() != "ready":
        return False
    if host.startswith("/"):
        return True
    with contextlib.suppress(OSError), socket.create_connection((host, server.port), timeout=5):
        return True
    return False


def _create_database(server: PostgresServer, deadline: float) -> None:
    if "createdb" in server._bins:
        argv = [server._bins["createdb"], "-h", str(server.socket_dir), "-p", str(server.port), "-U", SUPERUSER, DBNAME]
        done = subprocess.run(
            argv,
            env=_env(None, server.base_dir),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=max(deadline - time.monotonic(), 30),
        )
        if done.returncode != 0:
            raise PostgresUnavailable(f"createdb {DBNAME} failed: {(done.stdout + done.stderr).strip()}{_tail(server.log_path)}")
        return
    try:
        import psycopg
    except ImportError:
        raise PostgresUnavailable("neither the createdb program nor the psycopg module is available to create the test database") from None
    with psycopg.connect(host=str(server.socket_dir), port=server.port, user=SUPERUSER, dbname="postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{DBNAME}"')


def _port_clash(log_path: Path) -> bool:
    text = log_path.read_text(errors="replace").rsplit("--- port", 1)[-1]
    return "could not bind" in text or "Address already in use" in text or "could not create any TCP/IP sockets" in text


def _tail(path: Path, lines: int = 30) -> str:
    try:
        text = path.read_text(errors="replace").strip()
    except OSError:
        return ""
    if not text:
        return ""
    return f"\n--- last lines of {path} ---\n" + "\n".join(text.splitlines()[-lines:])
