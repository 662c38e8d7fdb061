"""Per-user protection for the Telegram adapter: one update at a time per user, and a polite
throttle for floods, so one user's 100 messages never slow anyone else down.

Memory follows the users active right now, not every user ever seen: a user's lock is dropped
once nobody holds or waits for it, and their flood window once they have been quiet for
FLOOD_SECONDS (an empty window and a fresh one are the same).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter, OrderedDict
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

#: At most this many messages from one user …
FLOOD_MESSAGES = 12
#: … within this many seconds; more are answered once with a "slow down" note and then ignored.
FLOOD_SECONDS = 10.0


class UserGuard:
    """A lock per user (their updates run in order) and a sliding-window flood counter."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._locks: dict[int, asyncio.Lock] = {}
        self._holders: Counter[int] = Counter()
        #: Each user's recent message times, least recently active user first.
        self._recent: OrderedDict[int, list[float]] = OrderedDict()
        #: The notes each flooding user has had in this flood (see `once`).
        self._notes: dict[int, set[str]] = {}
        self._clock = clock

    def __len__(self) -> int:
        """How many users are held in memory (tests and benchmarks/memory.py read it)."""
        return len(self._locks.keys() | self._recent.keys())

    @asynccontextmanager
    async def lock(self, user_id: int) -> AsyncIterator[None]:
        """Hold the user's lock; the last one out removes it."""
        lock = self._locks.get(user_id)
        if lock is None:
            lock = self._locks[user_id] = asyncio.Lock()
        self._holders[user_id] += 1
        try:
            async with lock:
                yield
        finally:
            self._holders[user_id] -= 1
            if not self._holders[user_id]:
                del self._holders[user_id], self._locks[user_id]

    def flooding(self, user_id: int) -> bool:
        """Count this message; True when the user is over the limit."""
        now = self._clock()
        self._expire(now)
        # A short list, not a deque: most users have one recent message, and a deque costs ten
        # times the memory. Only the newest FLOOD_MESSAGES + 1 matter: one over the limit floods.
        recent = [t for t in self._recent.pop(user_id, ()) if now - t <= FLOOD_SECONDS][-FLOOD_MESSAGES:]
        recent.append(now)
        self._recent[user_id] = recent  # last in the order: the most recently active
        if len(recent) <= FLOOD_MESSAGES:
            self._notes.pop(user_id, None)
            return False
        return True

    def once(self, user_id: int, note: str) -> bool:
        """True the first time in a flood that `note` is asked about: each note (the "slow down",
        the answer to /forget) is sent once per flood, so a flood of commands cannot become a
        flood of replies."""
        notes = self._notes.setdefault(user_id, set())
        if note in notes:
            return False
        notes.add(note)
        return True

    def _expire(self, now: float) -> None:
        """Drop the windows of users quiet for FLOOD_SECONDS (oldest first, so this stops early)."""
        while self._recent:
            user_id, recent = next(iter(self._recent.items()))
            if now - recent[-1] <= FLOOD_SECONDS:
                return
            del self._recent[user_id]
            self._notes.pop(user_id, None)
