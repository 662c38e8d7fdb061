"""What the bot keeps, behind one interface: each user's conversation state, the inbox of received
updates and the outbox of replies not yet delivered.

Two implementations pass one contract suite (tests/test_storage.py): SQLite under BOT_DATA_DIR
(bot/sql_store.py, the default) and PostgreSQL when DATABASE_URL is set (bot/postgres_store.py),
which several workers can share. An update's effect is one transaction (`commit`): the user's new
state, the replies it causes, and the mark that the update was handled, so a process killed at any
moment loses no received message and never applies one twice. A concurrent change to the same
user's state makes `commit` raise `Conflict`, and the update is read again.

Only what the conversation needs is kept: the triage progress, the last answer's id, the step of
the last question delivered, and an update's raw JSON only until it is handled. `forget` removes
every row about a user.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from bot.errors import StartupError


class Conflict(Exception):
    """The user's state changed since it was read: read it again and redo the update."""


class Duplicate(Exception):
    """The update was handled already (a redelivery, or another worker was first)."""


@dataclass(frozen=True)
class Incoming:
    """A received update as Telegram sent it; `user_id` is whose order it joins (0: none)."""

    update_id: int
    user_id: int
    raw: str


@dataclass(frozen=True)
class Outgoing:
    """A Bot API call to make for a user: a reply, an edit. `urgent` ones go first; `step` is the
    /triage question it shows, recorded as seen once Telegram accepts it."""

    user_id: int
    method: str
    params: dict[str, Any]
    urgent: bool = False
    step: str | None = None


@dataclass(frozen=True)
class Letter(Outgoing):
    """An outbox row: an `Outgoing` with its id, tries so far and when it was written."""

    id: int = 0
    attempts: int = 0
    created: float = 0.0


@dataclass(frozen=True)
class Seen:
    """The last /triage question delivered to a user, and the Telegram message that showed it."""

    step: str
    message_id: int


@dataclass
class Snapshot:
    """A user's state as read, with the version `commit` checks. `reset`: the stored row could not
    be read and was taken as empty (the user is told their place was lost)."""

    state: dict[str, Any] = field(default_factory=dict)
    version: int = 0
    seen: Seen | None = None
    reset: bool = False

    def changed_by(self, state: dict[str, Any]) -> bool:
        """Whether committing `state` writes the row (and so moves its version on)."""
        return state != self.state or self.reset

    def after(self, state: dict[str, Any] | None) -> Snapshot:
        """The snapshot as `state` leaves it once committed (None: forgotten)."""
        if state is None:
            return Snapshot()
        return Snapshot(state, self.version + 1 if self.changed_by(state) else self.version, self.seen)


@dataclass(frozen=True)
class Change:
    """What one update does, for `Store.commit_many` (the arguments of `Store.commit`)."""

    user_id: int
    snapshot: Snapshot | None
    state: dict[str, Any] | None
    outgoing: tuple[Outgoing, ...]
    update_id: int | None
    now: float
    lease: float


class Store(Protocol):
    """Everything the bot keeps. Synchronous: adapters call it from a worker thread
    (bot/inbox.py), never on the event loop."""

    # -- conversation state (the terminal chat and the dialogue's tests use these) ----------

    def load(self, user_id: int) -> dict[str, Any]: ...

    def save(self, user_id: int, state: dict[str, Any], now: float) -> None: ...

    def delete(self, user_id: int) -> None:
        """Remove every row about the user: state, what they saw, their handled updates."""
        ...

    def purge(self, now: float, keep: Mapping[str, float]) -> int:
        """Drop each part of a state (`keep`'s keys) whose own "updated" is older than its keep
        time, every row untouched for the longest of them, and handled updates older than that;
        return how many deletions that took (0: nothing was due)."""
        ...

    # -- one update, one transaction ------------------------------------------------------

    def read(self, user_id: int) -> Snapshot: ...

    def commit(
        self, user_id: int, snapshot: Snapshot | None, state: dict[str, Any] | None, outgoing: Sequence[Outgoing],
        update_id: int | None, now: float, lease: float,
    ) -> list[Letter]:
        """Store `state` (None: forget the user; no `snapshot`: leave the state as it is), queue
        `outgoing` and mark `update_id` handled, all at once. Return the letters leased to the
        caller for `lease` seconds, to send at once: all of them, unless an earlier letter of the
        user still waits (then the ordinary ones wait behind it, in order). Raises Conflict or
        Duplicate, and then nothing was written."""
        ...

    def commit_many(self, changes: Sequence[Change]) -> list[list[Letter] | Conflict | Duplicate]:
        """`commit` for several updates in one transaction; each change's letters, or the Conflict
        or Duplicate that refused it (and only it)."""
        ...

    # -- the inbox ------------------------------------------------------------------------

    def receive(self, updates: Sequence[Incoming], now: float) -> list[int]:
        """Keep each update not seen before; return the ids that were new."""
        ...

    def pending(self, limit: int, received_before: float | None = None) -> list[Incoming]:
        """Received but not handled, oldest first (only those received before the time, if given)."""
        ...

    def skip(self, update_id: int, now: float) -> None:
        """Mark an update handled without any reply (it could not be parsed, or is not for us)."""
        ...

    # -- the outbox -----------------------------------------------------------------------

    def claim(self, now: float, lease: float, limit: int, user_id: int | None = None) -> list[Letter]:
        """Letters due now and not leased, leased to the caller: urgent ones first, and of each
        user only the oldest ordinary one (a user's replies arrive in order)."""
        ...

    def sent(self, delivered: Sequence[tuple[Letter, int | None]], now: float) -> None:
        """Telegram accepted these letters (with the id of the message each made): remove them; a
        question's step is recorded as seen."""
        ...

    def retry(self, letter_id: int, at: float) -> None:
        """Try the letter again at `at` (the lease is released)."""
        ...

    def drop(self, letter_id: int) -> None: ...

    def beat(self, worker: str, now: float) -> None:
        """Record that `worker` is alive (`python -m bot health` reads it)."""
        ...

    def backlog(self) -> tuple[int, int]:
        """How many updates wait to be handled and letters to be delivered."""
        ...

    def last_beat(self, worker: str | None = None) -> float | None:
        """When `worker` (any, if None) last beat."""
        ...

    def close(self) -> None: ...


def expire(state: dict[str, Any], now: float, keep: Mapping[str, float]) -> dict[str, Any]:
    """`state` without the parts older than their keep time."""
    return {k: v for k, v in state.items() if not (k in keep and isinstance(v, dict) and now - float(v.get("updated", now)) > keep[k])}


def decode(raw: str | None) -> tuple[dict[str, Any], bool]:
    """A stored state and whether it had to be reset: a row that is not a JSON object (a bad
    disk block, a hand edit) must not make every message of that user fail."""
    if raw is None:
        return {}, False
    try:
        state = json.loads(raw)
    except ValueError:
        return {}, True
    return (state, False) if isinstance(state, dict) else ({}, True)


class MemoryStore:
    """For one-shot answers (`ask`) and the dialogue's unit tests: state only, nothing on disk."""

    def __init__(self) -> None:
        self._states: dict[int, tuple[float, str]] = {}

    def load(self, user_id: int) -> dict[str, Any]:
        row = self._states.get(user_id)
        return decode(row[1])[0] if row else {}

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


class Pending:
    """One user's state for the length of one update: the dialogue loads and saves it here, and
    what it ends as is committed in one transaction with the replies (bot/telegram_app.py). It is
    a copy of the snapshot's, which stays as read (the commit compares the two)."""

    def __init__(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot
        self.state: dict[str, Any] = json.loads(json.dumps(snapshot.state)) if snapshot.state else {}
        self.forgotten = False

    @property
    def outcome(self) -> dict[str, Any] | None:
        """The state to commit: None when the user asked to be forgotten."""
        return None if self.forgotten else self.state

    def load(self, user_id: int) -> dict[str, Any]:
        return self.state

    def save(self, user_id: int, state: dict[str, Any], now: float) -> None:
        self.state = state

    def delete(self, user_id: int) -> None:
        self.state, self.forgotten = {}, True

    def purge(self, now: float, keep: Mapping[str, float]) -> int:
        return 0


def open_store(data_dir: Any, database_url: str | None, busy_timeout: float = 5.0) -> Store:
    """PostgreSQL when DATABASE_URL is set, else SQLite under BOT_DATA_DIR."""
    if database_url:
        if not database_url.startswith(("postgres://", "postgresql://")):
            raise StartupError("DATABASE_URL must be a PostgreSQL address (postgresql://user:password@host:5432/name), or unset for SQLite")
        from bot.postgres_store import PostgresStore

        return PostgresStore(database_url, busy_timeout)
    from bot.sql_store import SqliteStore

    return SqliteStore(data_dir, busy_timeout)
