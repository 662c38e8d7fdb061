"""Where a user's conversation state lives: SQLite from the standard library, written through.

Every change is committed before the reply goes out, and a user's state is read fresh when their
message arrives, so a process killed at any moment loses no acknowledged step and a second
process sharing the file sees the same state. Only the triage progress is stored — never
message text — and `delete` removes every row about a user.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from pathlib import Path
from typing import Any, Protocol

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


class MemoryStore:
    """For one-shot answers (`ask`) and unit tests: nothing touches the disk."""

    def __init__(self) -> None:
        self._states: dict[int, str] = {}

    def load(self, user_id: int) -> dict[str, Any]:
        raw = self._states.get(user_id)
        return json.loads(raw) if raw else {}

    def save(self, user_id: int, state: dict[str, Any], now: float) -> None:
        if state:
            self._states[user_id] = json.dumps(state)
        else:
            self._states.pop(user_id, None)

    def delete(self, user_id: int) -> None:
        self._states.pop(user_id, None)


class SqliteStore:
    """The persistent store under BOT_DATA_DIR: WAL mode, one transaction per change, owner-only file."""

    FILE = "bot.sqlite3"

    def __init__(self, data_dir: Path) -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(data_dir, 0o700)
        self.path = data_dir / self.FILE
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        os.close(fd)
        os.chmod(self.path, 0o600)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=10)
        self._db.execute("PRAGMA journal_mode=WAL")
        # WAL + NORMAL: a commit survives the process being killed (SIGKILL) at any moment; only a
        # power cut of the whole machine could lose the last few, and no fsync stalls each reply.
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(SCHEMA)

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
            self._db.execute("DELETE FROM user_state WHERE user_id = ?", (user_id,))

    def close(self) -> None:
        with self._lock:
            self._db.close()
