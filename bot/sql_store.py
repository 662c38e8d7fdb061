"""The store in SQL, shared by both databases, and its SQLite form (the embedded default).

`SqlStore` holds every query, written once with `?` placeholders; a subclass supplies the
connection, the transaction and what differs between SQLite and PostgreSQL (bot/postgres_store.py):
the JSON functions of the purge and row locking. SQLite keeps everything in BOT_DATA_DIR in WAL
mode; deleted rows are overwritten (secure_delete) and the write-ahead log is emptied after a
delete, so no copy of a forgotten user lingers in either file.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bot.errors import StartupError
from bot.storage import Change, Conflict, Duplicate, Incoming, Letter, Outgoing, Seen, Snapshot, decode

logger = logging.getLogger(__name__)

#: Runs one statement in the open transaction and returns its cursor.
Execute = Callable[[str, Sequence[Any]], Any]

SCHEMA = (
    """CREATE TABLE IF NOT EXISTS user_state (
        user_id BIGINT PRIMARY KEY, state TEXT NOT NULL, updated DOUBLE PRECISION NOT NULL, version BIGINT NOT NULL DEFAULT 1)""",
    """CREATE TABLE IF NOT EXISTS seen (
        user_id BIGINT PRIMARY KEY, step TEXT NOT NULL, message_id BIGINT NOT NULL, updated DOUBLE PRECISION NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS inbox (
        update_id BIGINT PRIMARY KEY, user_id BIGINT NOT NULL, raw TEXT,
        received DOUBLE PRECISION NOT NULL, handled DOUBLE PRECISION)""",
    "CREATE INDEX IF NOT EXISTS inbox_pending ON inbox (update_id) WHERE handled IS NULL",
    "CREATE INDEX IF NOT EXISTS inbox_user ON inbox (user_id)",
    """CREATE TABLE IF NOT EXISTS outbox (
        id {serial} PRIMARY KEY, user_id BIGINT NOT NULL, method TEXT NOT NULL, params TEXT NOT NULL,
        urgent SMALLINT NOT NULL, step TEXT, attempts INTEGER NOT NULL DEFAULT 0,
        created DOUBLE PRECISION NOT NULL, next_try DOUBLE PRECISION NOT NULL, lease_until DOUBLE PRECISION NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS outbox_user ON outbox (user_id, id)",
    "CREATE TABLE IF NOT EXISTS heartbeat (worker TEXT PRIMARY KEY, at DOUBLE PRECISION NOT NULL)",
)

#: Rows written by one statement at most (SQLite takes at most 32,766 parameters in one).
BATCH = 500

#: Of each user, the oldest ordinary letter only: a user's replies are delivered in order.
CLAIM = """SELECT id, user_id, method, params, urgent, step, attempts, created FROM outbox o
    WHERE next_try <= ? AND lease_until < ? {user}
      AND (urgent = 1 OR id = (SELECT MIN(id) FROM outbox p WHERE p.user_id = o.user_id AND p.urgent = 0))
    ORDER BY urgent DESC, id LIMIT ?{lock}"""


class SqlStore:
    """Every query of the store; subclasses give `_transaction` and the dialect's pieces."""

    #: The serial primary key's type; what makes a claim skip the letters another worker is claiming.
    SERIAL = "INTEGER"
    SKIP_LOCKED = ""
    #: Taken before the tables are created, so workers starting together do not race.
    SCHEMA_LOCK = ""

    @contextmanager
    def _transaction(self) -> Iterator[Execute]:  # pragma: no cover - each database gives its own
        raise NotImplementedError
        yield

    def _remove_part(self, execute: Execute, part: str, before: float) -> int:  # pragma: no cover
        raise NotImplementedError

    def _emptied(self) -> None:
        """After rows about a user were deleted (SQLite empties its log here)."""

    def _create(self) -> None:
        with self._transaction() as execute:
            for statement in (self.SCHEMA_LOCK, *SCHEMA) if self.SCHEMA_LOCK else SCHEMA:
                execute(statement.format(serial=self.SERIAL), ())

    # -- conversation state ---------------------------------------------------------------

    def load(self, user_id: int) -> dict[str, Any]:
        return self.read(user_id).state

    def save(self, user_id: int, state: dict[str, Any], now: float) -> None:
        with self._transaction() as execute:
            execute(
                "INSERT INTO user_state (user_id, state, updated, version) VALUES (?, ?, ?, 1) ON CONFLICT (user_id) "
                "DO UPDATE SET state = excluded.state, updated = excluded.updated, version = user_state.version + 1",
                (user_id, json.dumps(state), now),
            )

    def delete(self, user_id: int) -> None:
        with self._transaction() as execute:
            self._forget(execute, user_id, None)
        self._emptied()

    def _forget(self, execute: Execute, user_id: int, keep_update: int | None) -> None:
        """Delete every row about the user; the update being handled stays marked (not its text)."""
        execute("DELETE FROM user_state WHERE user_id = ?", (user_id,))
        execute("DELETE FROM seen WHERE user_id = ?", (user_id,))
        execute("DELETE FROM outbox WHERE user_id = ?", (user_id,))
        execute("DELETE FROM inbox WHERE user_id = ? AND handled IS NOT NULL AND update_id <> ?", (user_id, keep_update or 0))

    def purge(self, now: float, keep: Mapping[str, float]) -> int:
        oldest = now - max(keep.values())
        with self._transaction() as execute:
            changed = execute("DELETE FROM user_state WHERE updated < ?", (oldest,)).rowcount
            for part, seconds in keep.items():
                changed += self._remove_part(execute, part, now - seconds)
            changed += execute("DELETE FROM user_state WHERE state = '{}'", ()).rowcount
            changed += execute("DELETE FROM seen WHERE updated < ?", (oldest,)).rowcount
            changed += execute("DELETE FROM inbox WHERE handled < ?", (oldest,)).rowcount
            execute("DELETE FROM heartbeat WHERE at < ?", (oldest,))  # workers long gone
        if changed:
            self._emptied()
        return changed

    # -- one update, one transaction ------------------------------------------------------

    def read(self, user_id: int) -> Snapshot:
        with self._transaction() as execute:
            row = execute("SELECT state, version FROM user_state WHERE user_id = ?", (user_id,)).fetchone()
            seen = execute("SELECT step, message_id FROM seen WHERE user_id = ?", (user_id,)).fetchone()
        state, reset = decode(row[0] if row else None)
        return Snapshot(state, int(row[1]) if row else 0, Seen(seen[0], int(seen[1])) if seen else None, reset)

    def commit(
        self, user_id: int, snapshot: Snapshot | None, state: dict[str, Any] | None, outgoing: Sequence[Outgoing],
        update_id: int | None, now: float, lease: float,
    ) -> list[Letter]:
        (result,) = self.commit_many([Change(user_id, snapshot, state, tuple(outgoing), update_id, now, lease)])
        if isinstance(result, Exception):
            raise result
        return result

    def commit_many(self, changes: Sequence[Change]) -> list[list[Letter] | Conflict | Duplicate]:
        """Several users' changes in one transaction (one write to disk for all), each in its own
        savepoint: a Conflict or Duplicate undoes that change only, and is returned in its place."""
        results: list[list[Letter] | Conflict | Duplicate] = []
        with self._transaction() as execute:
            for change in changes:
                execute("SAVEPOINT change", ())
                try:
                    results.append(self._apply(execute, change))
                except (Conflict, Duplicate) as refused:
                    execute("ROLLBACK TO SAVEPOINT change", ())
                    results.append(refused)
                execute("RELEASE SAVEPOINT change", ())
        if any(c.snapshot is not None and c.state is None for c in changes):
            self._emptied()
        return results

    def _apply(self, execute: Execute, change: Change) -> list[Letter]:
        user_id, now = change.user_id, change.now
        if change.update_id is not None:
            self._handled(execute, change.update_id, user_id, now)
        if change.snapshot is not None and change.state is None:
            self._forget(execute, user_id, change.update_id)
        elif change.snapshot is not None and change.state is not None:
            self._store_state(execute, user_id, change.snapshot, change.state, now)
        waiting = execute("SELECT 1 FROM outbox WHERE user_id = ? AND urgent = 0 LIMIT 1", (user_id,)).fetchone()
        leased = [not waiting or o.urgent for o in change.outgoing]
        ids = [self._queue(execute, o, now, now + change.lease if mine else 0.0) for o, mine in zip(change.outgoing, leased, strict=True)]
        return [Letter(**vars(o), id=i, created=now) for o, i, mine in zip(change.outgoing, ids, leased, strict=True) if mine]

    def _handled(self, execute: Execute, update_id: int, user_id: int, now: float) -> None:
        """Mark the update handled, or raise Duplicate when it was already."""
        if execute("UPDATE inbox SET handled = ?, raw = NULL WHERE update_id = ? AND handled IS NULL", (now, update_id)).rowcount:
            return
        if execute("SELECT 1 FROM inbox WHERE update_id = ?", (update_id,)).fetchone():
            raise Duplicate(update_id)
        execute("INSERT INTO inbox (update_id, user_id, raw, received, handled) VALUES (?, ?, NULL, ?, ?)", (update_id, user_id, now, now))

    def _store_state(self, execute: Execute, user_id: int, snapshot: Snapshot, state: dict[str, Any], now: float) -> None:
        """Write the state if it is still at the version read (Conflict if not): one statement, the
        version checked by the write itself."""
        if not snapshot.changed_by(state):
            row = execute("SELECT version FROM user_state WHERE user_id = ?", (user_id,)).fetchone()
            if (int(row[0]) if row else 0) != snapshot.version:
                raise Conflict(user_id)
            return
        if snapshot.version:
            written = execute(
                "UPDATE user_state SET state = ?, updated = ?, version = version + 1 WHERE user_id = ? AND version = ?",
                (json.dumps(state), now, user_id, snapshot.version),
            ).rowcount
        else:
            written = execute(
                "INSERT INTO user_state (user_id, state, updated, version) VALUES (?, ?, ?, 1) ON CONFLICT (user_id) DO NOTHING",
                (user_id, json.dumps(state), now),
            ).rowcount
        if not written:
            raise Conflict(user_id)

    @staticmethod
    def _queue(execute: Execute, letter: Outgoing, now: float, lease_until: float) -> int:
        row = execute(
            "INSERT INTO outbox (user_id, method, params, urgent, step, created, next_try, lease_until) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
            (letter.user_id, letter.method, json.dumps(letter.params), int(letter.urgent), letter.step, now, now, lease_until),
        ).fetchone()
        return int(row[0])

    # -- the inbox ------------------------------------------------------------------------

    def receive(self, updates: Sequence[Incoming], now: float) -> list[int]:
        with self._transaction() as execute:
            return [
                u.update_id
                for u in updates
                if execute(
                    "INSERT INTO inbox (update_id, user_id, raw, received) VALUES (?, ?, ?, ?) ON CONFLICT (update_id) DO NOTHING",
                    (u.update_id, u.user_id, u.raw, now),
                ).rowcount
            ]

    def pending(self, limit: int, received_before: float | None = None) -> list[Incoming]:
        before = "" if received_before is None else " AND received < ?"
        args: tuple[Any, ...] = () if received_before is None else (received_before,)
        with self._transaction() as execute:
            query = f"SELECT update_id, user_id, raw FROM inbox WHERE handled IS NULL{before} ORDER BY update_id LIMIT ?"
            rows = execute(query, (*args, limit))
            return [Incoming(int(u), int(user), raw or "") for u, user, raw in rows.fetchall()]

    def skip(self, update_id: int, now: float) -> None:
        with self._transaction() as execute:
            execute("UPDATE inbox SET handled = ?, raw = NULL WHERE update_id = ?", (now, update_id))

    # -- the outbox -----------------------------------------------------------------------

    def claim(self, now: float, lease: float, limit: int, user_id: int | None = None) -> list[Letter]:
        user = "" if user_id is None else "AND user_id = ?"
        args = (now, now, *(() if user_id is None else (user_id,)), limit)
        with self._transaction() as execute:
            rows = execute(CLAIM.format(user=user, lock=self.SKIP_LOCKED), args).fetchall()
            letters = [
                Letter(int(u), method, json.loads(params), bool(urgent), step, id=int(i), attempts=int(a), created=float(c))
                for i, u, method, params, urgent, step, a, c in rows
            ]
            for letter in letters:
                execute("UPDATE outbox SET lease_until = ? WHERE id = ?", (now + lease, letter.id))
        return letters

    def sent(self, delivered: Sequence[tuple[Letter, int | None]], now: float) -> None:
        # A few statements for the whole batch (each is a round trip to PostgreSQL); of a user's
        # questions, the last delivered is the one they have seen.
        with self._transaction() as execute:
            for start in range(0, len(delivered), BATCH):
                part = sorted(delivered[start : start + BATCH], key=lambda d: d[0].id)
                ids = [letter.id for letter, _ in part]
                execute(f"DELETE FROM outbox WHERE id IN ({', '.join('?' * len(ids))})", ids)
                seen = {letter.user_id: (letter.user_id, letter.step, message_id, now) for letter, message_id in part
                        if letter.step and message_id is not None}
                if seen:
                    rows = ", ".join(["(?, ?, ?, ?)"] * len(seen))
                    execute(
                        f"INSERT INTO seen (user_id, step, message_id, updated) VALUES {rows} ON CONFLICT (user_id) "
                        "DO UPDATE SET step = excluded.step, message_id = excluded.message_id, updated = excluded.updated",
                        [value for row in seen.values() for value in row],
                    )

    def retry(self, letter_id: int, at: float) -> None:
        with self._transaction() as execute:
            execute("UPDATE outbox SET next_try = ?, lease_until = 0, attempts = attempts + 1 WHERE id = ?", (at, letter_id))

    def drop(self, letter_id: int) -> None:
        with self._transaction() as execute:
            execute("DELETE FROM outbox WHERE id = ?", (letter_id,))

    def beat(self, worker: str, now: float) -> None:
        with self._transaction() as execute:
            execute("INSERT INTO heartbeat (worker, at) VALUES (?, ?) ON CONFLICT (worker) DO UPDATE SET at = excluded.at", (worker, now))

    def backlog(self) -> tuple[int, int]:
        with self._transaction() as execute:
            (updates,) = execute("SELECT COUNT(*) FROM inbox WHERE handled IS NULL", ()).fetchone()
            (letters,) = execute("SELECT COUNT(*) FROM outbox", ()).fetchone()
        return int(updates), int(letters)

    def last_beat(self, worker: str | None = None) -> float | None:
        where, args = ("WHERE worker = ?", (worker,)) if worker else ("", ())
        with self._transaction() as execute:
            (at,) = execute(f"SELECT MAX(at) FROM heartbeat {where}", args).fetchone()
        return None if at is None else float(at)


class SqliteStore(SqlStore):
    """The store in BOT_DATA_DIR/bot.sqlite3: WAL mode, one transaction per change, owner-only file."""

    FILE = "bot.sqlite3"

    def __init__(self, data_dir: Path, busy_timeout: float = 10.0) -> None:
        self.path = Path(data_dir) / self.FILE
        self._lock = threading.Lock()
        self._db = _open(Path(data_dir), self.path, busy_timeout)
        self._create()

    @contextmanager
    def _transaction(self) -> Iterator[Execute]:
        """BEGIN IMMEDIATE: the write lock is taken at once, so two processes never both read a
        version and both write it."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db.execute
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _remove_part(self, execute: Execute, part: str, before: float) -> int:
        path = f"$.{part}"
        return execute(
            "UPDATE user_state SET state = json_remove(state, ?), version = version + 1 WHERE json_extract(state, ?) < ?",
            (path, f"{path}.updated", before),
        ).rowcount

    def _emptied(self) -> None:
        """Copy the log into the database and empty it, so deleted answers are nowhere on disk."""
        with self._lock:
            busy, _, _ = self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        if busy:
            logger.warning("the database log could not be emptied now (another process is reading); the next purge retries")

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _open(data_dir: Path, path: Path, busy_timeout: float) -> sqlite3.Connection:
    """The database, owner-only, checked; a folder or file it cannot use is a StartupError that
    says which and what to do."""
    where = f"BOT_DATA_DIR ({data_dir})"
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(data_dir, 0o700)
        if not os.access(data_dir, os.W_OK | os.X_OK):  # SQLite writes its log beside the file
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(data_dir))
        os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
        os.chmod(path, 0o600)
    except (FileExistsError, NotADirectoryError) as error:
        raise StartupError(f"{where} is not a folder ({error.strerror}): point BOT_DATA_DIR at a folder, or move that file away") from error
    except OSError as error:
        if error.errno not in (errno.EACCES, errno.EPERM, errno.EROFS):
            raise
        raise StartupError(
            f"{where} cannot be used ({error.strerror}: {error.filename}): the bot needs a folder it owns and can write; "
            f"chown it to this user (uid {os.geteuid()}), or point BOT_DATA_DIR elsewhere"
        ) from error
    deadline = time.monotonic() + busy_timeout
    while True:
        try:
            db, check = _connect(path, busy_timeout)
            break
        except sqlite3.OperationalError as error:
            # Two workers starting at once on a new file: switching it to WAL takes a lock SQLite
            # does not wait for, so the later one tries again until the busy timeout.
            if "locked" in str(error) and time.monotonic() < deadline:
                time.sleep(0.1)
                continue
            raise StartupError(
                f"the database {path} cannot be opened ({error}): "
                "let this user write it and its folder, and stop any other process holding it"
            ) from error
    if check != "ok":
        raise StartupError(f"the database {path} is damaged ({check}): move it aside and start again (the bot makes a new one)")
    return db


def _connect(path: Path, busy_timeout: float) -> tuple[sqlite3.Connection, str]:
    """A connection in WAL mode, and what SQLite's quick check says of the file."""
    db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=busy_timeout)
    try:
        db.execute("PRAGMA journal_mode=WAL")
        # WAL + NORMAL: a commit survives the process being killed (SIGKILL) at any moment; only a
        # power cut of the whole machine could lose the last few, and no fsync stalls each reply.
        db.execute("PRAGMA synchronous=NORMAL")
        # Deleted answers are overwritten with zeros, not just marked free.
        db.execute("PRAGMA secure_delete=ON")
        _upgrade(db)
        (check,) = db.execute("PRAGMA quick_check").fetchone()
    except sqlite3.OperationalError:
        db.close()
        raise
    except sqlite3.DatabaseError as error:
        check = str(error)
    return db, check


def _upgrade(db: sqlite3.Connection) -> None:
    """A database from before versioned states gets its version column."""
    columns = [row[1] for row in db.execute("PRAGMA table_info(user_state)")]
    if columns and "version" not in columns:
        db.execute("ALTER TABLE user_state ADD COLUMN version BIGINT NOT NULL DEFAULT 1")
