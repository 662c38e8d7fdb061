"""Per-user protection for the Telegram adapter: one update at a time per user, and a polite
throttle for floods, so one user's 100 messages never slow anyone else down."""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict, deque
from collections.abc import Callable

#: At most this many messages from one user …
FLOOD_MESSAGES = 12
#: … within this many seconds; more are answered once with a "slow down" note and then ignored.
FLOOD_SECONDS = 10.0


class UserGuard:
    """A lock per user (their updates run in order) and a sliding-window flood counter."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._locks: dict[int, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._recent: dict[int, deque[float]] = defaultdict(deque)
        self._warned: dict[int, float] = {}
        self._clock = clock

    def lock(self, user_id: int) -> asyncio.Lock:
        return self._locks[user_id]

    def flooding(self, user_id: int) -> bool:
        """Count this message; True when the user is over the limit."""
        now = self._clock()
        recent = self._recent[user_id]
        while recent and now - recent[0] > FLOOD_SECONDS:
            recent.popleft()
        recent.append(now)
        if len(recent) <= FLOOD_MESSAGES:
            self._warned.pop(user_id, None)
            return False
        return True

    def should_warn(self, user_id: int) -> bool:
        """True once per flood: the first message over the limit gets the note."""
        if user_id in self._warned:
            return False
        self._warned[user_id] = self._clock()
        return True

    def forget(self, user_id: int) -> None:
        """Drop what is kept in memory about a user (for /forget)."""
        self._recent.pop(user_id, None)
        self._warned.pop(user_id, None)
