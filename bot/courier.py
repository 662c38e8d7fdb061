"""Delivers the outbox: every letter until Telegram accepts it, each user's in order, urgent first.

A letter a process has just committed is handed to it at once (no waiting for a sweep); letters
whose send failed, or that a stopped process left behind, are claimed by the sweep when due. A
failed send is tried again with back-off up to `MAX_BACKOFF` (Telegram's retry_after honoured)
and given up only after `GIVE_UP` seconds, logged by id. Red-flag and crisis replies skip the
rate limiter's queue (`PriorityRateLimiter`): they never wait behind a burst of ordinary answers.
"""

from __future__ import annotations

import asyncio
import logging
import time
import warnings
from collections import defaultdict
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from telegram.error import BadRequest, Forbidden, RetryAfter, TelegramError
from telegram.ext import AIORateLimiter, ExtBot
from telegram.warnings import PTBUserWarning

from bot.offload import Offloaded
from bot.replies import plain
from bot.startup import pause
from bot.storage import Letter, Outgoing

logger = logging.getLogger(__name__)

#: Seconds a process may hold a letter it is sending before another may take it over.
LEASE = 60.0
#: Back-off after a failed send: FIRST_BACKOFF · 2ⁿ seconds, at most MAX_BACKOFF.
FIRST_BACKOFF, MAX_BACKOFF = 0.5, 120.0
#: A letter Telegram has not accepted after this many seconds is given up.
GIVE_UP = 3600.0
#: How often the outbox is looked through for letters due again.
SWEEP_EVERY = 0.5
#: The rate-limiter argument that marks an urgent call.
URGENT = -1

# The bot sends through Bot.do_api_request on purpose: it returns Telegram's JSON as it is,
# where send_message would build a Message object the bot never reads (docs/PERFORMANCE.md).
warnings.filterwarnings("ignore", message=r"Please use 'Bot\.", category=PTBUserWarning)


class PriorityRateLimiter(AIORateLimiter):
    """Telegram's pacing (about 30 messages a second) for ordinary replies; urgent ones skip the
    queue. RetryAfter is not retried here: the courier schedules the letter again itself."""

    def __init__(self, pace: bool = True) -> None:
        super().__init__(max_retries=0) if pace else super().__init__(overall_max_rate=0, group_max_rate=0, max_retries=0)

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, bool | dict[str, Any] | list[dict[str, Any]]]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | None,
    ) -> bool | dict[str, Any] | list[dict[str, Any]]:
        if rate_limit_args == URGENT:
            return await callback(*args, **kwargs)
        return await super().process_request(callback, args, kwargs, endpoint, data, rate_limit_args)


async def call(bot: ExtBot[None], outgoing: Outgoing) -> Any:
    """Make the letter's Bot API call once; the raw JSON result."""
    return await bot.do_api_request(outgoing.method, api_kwargs=dict(outgoing.params), rate_limit_args=URGENT if outgoing.urgent else None)


class Courier:
    """Sends letters for one process; `post` hands over letters this process committed."""

    def __init__(
        self, bot: ExtBot[None], db: Offloaded, clock: Callable[[], float] = time.time,
        on_seen: Callable[[Letter, int], None] = lambda letter, message_id: None,
    ) -> None:
        self._bot = bot
        self._db = db
        self._clock = clock
        self._on_seen = on_seen
        self._queued: defaultdict[int, list[Letter]] = defaultdict(list)
        #: Users who may have letters in the outbox beyond those handed over.
        self._more: set[int] = set()
        self._drains: dict[int, asyncio.Task[None]] = {}

    @property
    def busy(self) -> bool:
        """Whether letters are being delivered (or their delivery recorded) right now."""
        return bool(self._drains)

    def post(self, user_id: int, letters: Sequence[Letter] = (), more: bool = True) -> None:
        """Deliver these letters (already leased to this process); `more`: then look in the outbox
        for whatever else of the user's is due."""
        self._queued[user_id].extend(letters)
        if more:
            self._more.add(user_id)
        if user_id not in self._drains:
            self._drains[user_id] = asyncio.create_task(self._drain(user_id))

    async def sweep(self, stop: asyncio.Event) -> None:
        """Until `stop`: claim the letters due again (failed sends, a stopped process's) and post them."""
        while not stop.is_set():
            try:
                letters = await self._db.run(self._db.store.claim, self._clock(), LEASE, 100)
            except Exception as error:  # the database is down or locked: try again next sweep
                logger.warning("the outbox could not be read (%s)", type(error).__name__)
                letters = []
            by_user: defaultdict[int, list[Letter]] = defaultdict(list)
            for letter in letters:
                by_user[letter.user_id].append(letter)
            for user_id, theirs in by_user.items():
                self.post(user_id, theirs)
            await pause(stop, SWEEP_EVERY)

    async def stop(self) -> None:
        """Let the sends under way finish (their letters stay in the outbox if they do not)."""
        if self._drains:
            await asyncio.wait(list(self._drains.values()), timeout=5.0)

    async def _drain(self, user_id: int) -> None:
        try:
            while True:
                batch = self._queued.pop(user_id, None)
                if not batch and user_id in self._more:
                    self._more.discard(user_id)
                    batch = await self._claim(user_id) or self._queued.pop(user_id, None)
                if not batch:
                    return
                for i, letter in enumerate(batch):
                    wait = await self._deliver(letter)
                    if wait is not None:
                        await self._later(batch[i:], wait)
                        return
        finally:
            del self._drains[user_id]

    async def _claim(self, user_id: int) -> list[Letter]:
        try:
            return await self._db.run(self._db.store.claim, self._clock(), LEASE, 10, user_id)
        except Exception as error:
            logger.warning("the outbox could not be read (%s)", type(error).__name__)
            return []

    async def _deliver(self, letter: Letter) -> float | None:
        """Send one letter: None when it is done with (accepted, or refused for good), else the
        seconds to wait before trying again."""
        outgoing: Outgoing = letter
        while True:
            try:
                result = await call(self._bot, outgoing)
            except BadRequest as error:
                fixed = _fixed(outgoing, str(error).lower())
                if fixed is None:
                    if "not modified" not in str(error).lower():
                        logger.warning("letter %s refused by Telegram (%s); dropped", letter.id, error)
                    await self._done(letter, None)
                    return None
                outgoing = fixed
                continue
            except Forbidden:
                await self._done(letter, None)  # the user blocked the bot
                return None
            except RetryAfter as error:
                return _seconds(error.retry_after)
            except TelegramError as error:  # NetworkError, TimedOut, a 5xx…
                wait = min(MAX_BACKOFF, FIRST_BACKOFF * 2**letter.attempts)
                logger.info("letter %s not sent (%s); trying again in %.1f s", letter.id, type(error).__name__, wait)
                return wait
            message_id = result.get("message_id") if isinstance(result, dict) else None
            await self._done(letter, message_id)
            return None

    async def _done(self, letter: Letter, message_id: int | None) -> None:
        """Record the letter delivered: removed from the outbox in one transaction with the others
        delivered meanwhile (`Offloaded.together`). While the database is away, keep trying within
        the lease, or it would be sent again."""
        if letter.step and message_id is not None:
            self._on_seen(letter, message_id)
        deadline = self._clock() + LEASE / 2
        while True:
            try:
                await self._db.together(self._sent, (letter, message_id))
                return
            except Exception as error:
                if self._clock() > deadline:
                    logger.error("letter %s was sent but could not be marked (%s): it may be sent again", letter.id, type(error).__name__)
                    return
                await asyncio.sleep(0.5)

    def _sent(self, delivered: list[tuple[Letter, int | None]]) -> list[None]:
        """`Store.sent` in the shape `Offloaded.together` gathers (one result per letter)."""
        self._db.store.sent(delivered, self._clock())
        return [None] * len(delivered)

    async def _later(self, letters: Sequence[Letter], wait: float) -> None:
        """Schedule the letters again after the wait the failure asked for; give up old ones."""
        now = self._clock()
        for letter in letters:
            try:
                if now - letter.created > GIVE_UP:
                    logger.error("letter %s could not be delivered within %d s; given up", letter.id, GIVE_UP)
                    await self._db.run(self._db.store.drop, letter.id)
                else:
                    await self._db.run(self._db.store.retry, letter.id, now + wait)
            except Exception as error:  # the lease runs out and the sweep takes it again
                logger.warning("letter %s could not be rescheduled (%s)", letter.id, type(error).__name__)


def _fixed(outgoing: Outgoing, error: str) -> Outgoing | None:
    """The letter changed so Telegram can take it, or None: formatting Telegram cannot read is sent
    as plain text; a message that can no longer be edited gets the text as a new message."""
    params = outgoing.params
    if params.get("parse_mode") and "parse" in error:
        plain_text = {**params, "text": plain(params["text"]), "parse_mode": None}
        return Outgoing(outgoing.user_id, outgoing.method, plain_text, outgoing.urgent, outgoing.step)
    if outgoing.method == "editMessageText" and ("can't be edited" in error or "to edit not found" in error):
        fresh = {k: v for k, v in params.items() if k != "message_id"}
        return Outgoing(outgoing.user_id, "sendMessage", fresh, outgoing.urgent, outgoing.step)
    return None


def _seconds(value: Any) -> float:
    return float(value.total_seconds() if hasattr(value, "total_seconds") else value)


