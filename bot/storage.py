"""Where a user's conversation state lives: SQLite from the standard library, written through.

Every change is committed before the reply goes out, and a user's state is read fresh when their
message arrives, so a process killed at any moment loses no acknowledged step and a second
process sharing the file sees the same state. Only the triage progress is stored — never
message text — and `delete` removes every row about a user. `purge` deletes what is older than
the bot promises to keep it (bot/retention.py), whether or not the user comes back; deleted
rows are overwritten (secure_delete) and the write-ahead log is emptied after a delete, so no
copy of them lingers in either file.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import sqlite3
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

from bot.errors import StartupError

logger = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS user_state (
    user_id INTEGER PRIMARY KEY,
    state   TEXT NOT NULL,
    updated REAL NOT NULL
)
"""


class Store(Protocol):
    """Per-user state: a small JSON-able dict."""

    def load(self, user_id: int) -> dict[str, Any]: ...

    def save(self, user_id: int, state: dict[str, Any], now: float) -> None: ...

    def delete(self, user_id: int) -> None: ...

    def purge(self, now: float, keep: Mapping[str, float]) -> int:
        """Drop each part of a state (`keep`'s keys) whose own "updated" is older than its keep
        time, and every row untouched for the longest of them; return how many deletions that took
        (0: nothing was due)."""
        ...


def expire(state: dict[str, Any], now: float, keep: Mapping[str, float]) -> dict[str, Any]:
    """`state` without the parts older than their keep time."""
    return {k: v for k, v in state.items() if not (k in keep and isinstance(v, dict) and now - float(v.get("updated", now)) > keep[k])}


class MemoryStore:
    """For one-shot answers (`ask`) and unit tests: nothing touches the disk."""

    def __init__(self) -> None:
        self._states: dict[int, tuple[float, str]] = {}

    def load(self, user_id: int) -> dict[str, Any]:
        row = self._states.get(user_id)
        return json.loads(row[1]) if row else {}

    def save(self, user_id: int, state: dict[str, Any], now: float) -> None:
        if state:
            self._states[user_id] = (now, json.dumps(state))
        else:
            self._states.pop(user_id, None)

    def delete(self, user_id: int) -> None:
        self._states.pop(user_id, None)

    def purge(self, now: float, keep: Mapping[str, float]) -> int:
        changed = 0
        for user_id, (updated, raw) in list(self._states.items()):
            state = json.loads(raw)
            kept = expire(state, now, keep) if now - updated <= max(keep.values()) else {}
            if kept != state:
                changed += 1
                self._states[user_id] = (updated, json.dumps(kept))
                if not kept:
                    del self._states[user_id]
        return changed


class SqliteStore:
    """The persistent store under BOT_DATA_DIR: WAL mode, one transaction per change, owner-only file."""

    FILE = "bot.sqlite3"

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / self.FILE
        self._lock = threading.Lock()
        self._db = _open(data_dir, self.path)

    def load(self, user_id: int) -> dict[str, Any]:
        with self._lock:
            row = self._db.execute("SELECT state FROM user_state WHERE user_id = ?", (user_id,)).fetchone()
        return json.loads(row[0]) if row else {}

    def save(self, user_id: int, state: dict[str, Any], now: float) -> None:
        with self._lock:
            if state:
                self._db.execute(
                    "INSERT INTO user_state (user_id, state, updated) VALUES (?, ?, ?) "
                    "ON CONFLICT(user_id) DO UPDATE SET state = excluded.state, updated = excluded.updated",
                    (user_id, json.dumps(state), now),
                )
            else:
                self._db.execute("DELETE FROM user_state WHERE user_id = ?", (user_id,))

    def delete(self, user_id: int) -> None:
        with self._lock:
            if self._db.execute("DELETE FROM user_state WHERE user_id = ?", (user_id,)).rowcount:
                self._checkpoint()

    def purge(self, now: float, keep: Mapping[str, float]) -> int:
        with self._lock:
            changed = self._db.execute("DELETE FROM user_state WHERE updated < ?", (now - max(keep.values()),)).rowcount
            for part, seconds in keep.items():
                path = f"$.{part}"
                changed += self._db.execute(
                    "UPDATE user_state SET state = json_remove(state, ?) WHERE json_extract(state, ?) < ?",
                    (path, f"{path}.updated", now - seconds),
                ).rowcount
            changed += self._db.execute("DELETE FROM user_state WHERE state = '{}'").rowcount
            if changed:
                self._checkpoint()
        return changed

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _checkpoint(self) -> None:
        """Copy the log into the database and empty it, so deleted answers are nowhere on disk."""
        busy, _, _ = self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        if busy:
            logger.warning("the database log could not be emptied now (another process is reading); the next purge retries")


def _open(data_dir: Path, path: Path) -> sqlite3.Connection:
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
    try:
        db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=10)
        db.execute("PRAGMA journal_mode=WAL")
        # WAL + NORMAL: a commit survives the process being killed (SIGKILL) at any moment; only a
        # power cut of the whole machine could lose the last few, and no fsync stalls each reply.
        db.execute("PRAGMA synchronous=NORMAL")
        # Deleted answers are overwritten with zeros, not just marked free.
        db.execute("PRAGMA secure_delete=ON")
        db.execute(SCHEMA)
        (check,) = db.execute("PRAGMA quick_check").fetchone()
    except sqlite3.OperationalError as error:
        raise StartupError(
            f"the database {path} cannot be opened ({error}): let this user write it and its folder, and stop any other process holding it"
        ) from error
    except sqlite3.DatabaseError as error:
        check = str(error)
    if check != "ok":
        raise StartupError(f"the database {path} is damaged ({check}): move it aside and start again (the bot makes a new one)")
    return db
