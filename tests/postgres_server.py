"""A real, throwaway PostgreSQL server for the tests: ``initdb`` in a temporary directory, started
on a free loopback port, as an unprivileged user, stopped and removed at the end.

``PostgresServer.start()`` finds the server's programs (``initdb`` and ``pg_ctl`` on the PATH, or
Debian's ``/usr/lib/postgresql/<version>/bin``); PostgreSQL refuses to run as root, so under root
the cluster belongs to ``nobody`` and its programs run through ``runuser`` (or ``su``). One
database, ``ember_template``, is migrated once; each test store is a ``CREATE DATABASE ... TEMPLATE``
copy of it, made in a few milliseconds, and dropped when the test ends.

Used by ``tests/conftest.py`` (the ``postgres_server`` fixture, session-wide) and by
``benchmarks/store_scale.py``. ``unavailable()`` says why there can be no server here (no programs,
no psycopg), so the PostgreSQL parametrizations are skipped with that reason.
"""

from __future__ import annotations

import glob
import hashlib
import importlib.util
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

TEMPLATE = "ember_template"
USER = "ember"


def binaries() -> Path | None:
    """The folder holding ``initdb`` and ``pg_ctl`` (the newest version's), or None."""
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        return Path(os.path.realpath(found)).parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                      key=lambda p: [int(x) for x in p.split("/")[4].split(".") if x.isdigit()])
    return Path(versions[-1]).parent if versions else None


def unavailable() -> str | None:
    """Why no PostgreSQL server can be started here, or None when one can."""
    if binaries() is None:
        return ("PostgreSQL is not installed (no initdb/pg_ctl on the PATH or in /usr/lib/postgresql): "
                "install Debian's postgresql package to run the PostgreSQL backend's tests")
    if importlib.util.find_spec("psycopg") is None:
        return "psycopg is not installed: pip install 'ember-agent[postgres]' to run the PostgreSQL backend's tests"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PostgresServer:
    """One cluster; ``url(name)`` is a database's URL, ``new_database()`` a fresh copy of the template."""

    def __init__(self) -> None:
        self.bin = binaries()
        self.root: Path | None = None
        self.port = 0
        self._lock = threading.Lock()
        self._count = 0

    # --- running the server's programs -----------------------------------------------------------

    def _as_owner(self, args: list[str]) -> list[str]:
        if os.geteuid() != 0:
            return args
        if shutil.which("runuser"):
            return ["runuser", "-u", "nobody", "--", *args]
        return ["su", "-s", "/bin/sh", "nobody", "-c", " ".join(f"'{a}'" for a in args)]

    def _run(self, *args: str) -> None:
        assert self.bin is not None
        command = self._as_owner([str(self.bin / args[0]), *args[1:]])
        result = subprocess.run(command, capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            log = self.root / "server.log" if self.root else None
            tail = log.read_text(errors="replace")[-2000:] if log and log.exists() else ""
            raise RuntimeError(f"{' '.join(args[:2])} failed: {result.stderr.strip()}\n{tail}")

    def start(self) -> PostgresServer:
        if self.bin is None:
            raise RuntimeError(unavailable() or "no PostgreSQL")
        self.root = Path(tempfile.mkdtemp(prefix="ember-pg-"))
        if os.geteuid() == 0:
            os.chown(self.root, 65534, 65534)  # nobody: PostgreSQL will not run as root
        data = self.root / "data"
        self._run("initdb", "-D", str(data), "-A", "trust", "-U", USER, "-E", "UTF8", "--locale=C.UTF-8",
                  "--no-sync", "--no-instructions")
        for attempt in range(5):
            self.port = _free_port()
            options = (f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={self.root}"
                       " -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300"
                       " -c shared_buffers=64MB")
            try:
                self._run("pg_ctl", "-D", str(data), "-o", options, "-l", str(self.root / "server.log"), "-w",
                          "-t", "60", "start")
                break
            except RuntimeError:
                if attempt == 4:
                    raise
        self._admin(f"CREATE DATABASE {TEMPLATE}")
        from ember.store.backends import open_backend

        open_backend(self.url(TEMPLATE), home=self.root).close()  # migrated once; each test copies it
        return self

    def stop(self) -> None:
        if self.root is None:
            return
        try:
            self._run("pg_ctl", "-D", str(self.root / "data"), "-m", "immediate", "-w", "stop")
        except Exception:
            pass
        shutil.rmtree(self.root, ignore_errors=True)
        self.root = None

    # --- databases ---------------------------------------------------------------------------------

    def url(self, database: str = "postgres", *, user: str = USER, password: str | None = None) -> str:
        secret = f":{password}" if password else ""
        return f"postgresql://{user}{secret}@127.0.0.1:{self.port}/{database}"

    def _admin(self, *statements: str) -> None:
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as conn:
            for statement in statements:
                conn.execute(statement)

    def new_database(self, name: str | None = None) -> str:
        """A new database, a copy of the migrated template; its name."""
        with self._lock:
            self._count += 1
            name = name or f"t{os.getpid()}_{self._count}"
            for attempt in range(50):
                try:
                    self._admin(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE} STRATEGY FILE_COPY")
                    break
                except Exception as exc:  # the template is briefly in use by another copy
                    if "being accessed by other users" not in str(exc) or attempt == 49:
                        raise
                    time.sleep(0.05)
        return name

    def empty_database(self) -> str:
        """A new database without Ember's schema (as a person creates one for Ember); its name."""
        with self._lock:
            self._count += 1
            name = f"e{os.getpid()}_{self._count}"
        self._admin(f"CREATE DATABASE {name}")
        return name

    def database_for(self, home: Path | str) -> str:
        """The name of the database that stands for ``home`` (made the first time it is asked for)."""
        name = "h" + hashlib.sha1(str(home).encode()).hexdigest()[:20]
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            self.new_database(name)
        return name

    def drop(self, name: str) -> None:
        self._admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    def dump(self, name: str) -> bytes:
        """Every value of every table of a database, as text: what a test looks through for
        anything that must never be stored."""
        import psycopg

        chunks = []
        with psycopg.connect(self.url(name), autocommit=True) as conn:
            tables = [r[0] for r in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() ORDER BY tablename")]
            for table in tables:
                for (row,) in conn.execute(f'SELECT t::text FROM "{table}" t'):
                    chunks.append(row)
        return "\n".join(chunks).encode("utf-8", "replace")
