"""The store in PostgreSQL (DATABASE_URL), for platforms whose disks are wiped on each deploy and
for several workers sharing one database.

The queries are bot/sql_store.py's; here are the connection (psycopg 3, one per worker thread),
the transaction, row locks (a claim skips letters another worker is claiming) and the purge's
JSON functions.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg

from bot.errors import StartupError
from bot.redact import redact
from bot.sql_store import Execute, SqlStore


class PostgresStore(SqlStore):
    """One connection per thread that uses the store, opened on first use."""

    SERIAL = "BIGSERIAL"
    SKIP_LOCKED = " FOR UPDATE SKIP LOCKED"
    SCHEMA_LOCK = "SELECT pg_advisory_xact_lock(4242)"

    def __init__(self, url: str, busy_timeout: float = 5.0) -> None:
        self._url = url
        self._timeout = busy_timeout
        self._local = threading.local()
        self._connections: list[psycopg.Connection[Any]] = []
        self._guard = threading.Lock()
        try:
            self._create()
        except psycopg.Error as error:
            reason = redact(str(error)).strip()
            raise StartupError(f"the database at DATABASE_URL cannot be used ({reason}): check the address and that it runs") from error

    def _connection(self) -> psycopg.Connection[Any]:
        connection = getattr(self._local, "connection", None)
        if connection is None or connection.closed:
            # A statement that waits longer than the timeout (a lock held elsewhere) fails instead
            # of stalling this worker thread.
            options = f"-c statement_timeout={int(self._timeout * 1000)} -c lock_timeout={int(self._timeout * 1000)}"
            connection = psycopg.connect(self._url, connect_timeout=max(1, int(self._timeout)), options=options)
            self._local.connection = connection
            with self._guard:
                self._connections.append(connection)
        return connection

    @contextmanager
    def _transaction(self) -> Iterator[Execute]:
        connection = self._connection()
        try:
            with connection.transaction():
                yield lambda sql, args: connection.execute(sql.replace("?", "%s"), args)  # type: ignore[arg-type]
        except psycopg.OperationalError:
            connection.close()  # a broken connection is opened again on the next use
            raise

    def _remove_part(self, execute: Execute, part: str, before: float) -> int:
        return execute(
            "UPDATE user_state SET state = (state::jsonb - ?)::text, version = version + 1 "
            "WHERE (state::jsonb -> ? ->> 'updated')::float8 < ?",
            (part, part, before),
        ).rowcount

    def close(self) -> None:
        with self._guard:
            for connection in self._connections:
                connection.close()
            self._connections.clear()
