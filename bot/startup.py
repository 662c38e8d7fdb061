"""A start-up that explains itself.

Before anything connects, the token and the API address are checked (the database and the data
folder are checked when the store opens, bot/storage.py). Then the bot connects, retrying with
back-off while Telegram cannot be reached, one line a minute saying so (bot/service.py runs it).
What the configuration gets wrong — a malformed or rejected token, a bad address — ends in one
line that says what to do, and exit code 2.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
import time
from collections.abc import Awaitable, Callable
from contextlib import suppress
from urllib.parse import urlsplit

from telegram.error import InvalidToken, RetryAfter, TelegramError

from bot.errors import StartupError
from bot.redact import redact
from bot.settings import Settings

logger = logging.getLogger(__name__)

#: The exit code of a start-up the configuration does not allow.
EXIT_CONFIG = 2
#: Connecting is retried after RETRY_FIRST seconds, doubling up to RETRY_MAX.
RETRY_FIRST, RETRY_MAX = 1.0, 60.0
#: A failure that goes on is logged once per this many seconds, not once per try.
SAY_EVERY = 60.0
#: What BotFather hands out: the bot's number, a colon, then letters, digits, - and _.
TOKEN = re.compile(r"\d+:[\w-]+")


def check(settings: Settings) -> None:
    """Raise StartupError for a token or an API address that cannot work, before connecting."""
    if not TOKEN.fullmatch(settings.token or ""):
        raise StartupError("TELEGRAM_BOT_TOKEN does not look like a token from @BotFather (digits, a colon, then letters): copy it again")
    if settings.api_base_url and not _http_address(settings.api_base_url):
        raise StartupError(
            f"TELEGRAM_API_BASE_URL ({redact(settings.api_base_url)}) is not an http(s) address like http://127.0.0.1:8081/bot: "
            "correct it, or unset it to use Telegram's"
        )


def _http_address(url: str) -> bool:
    """Whether `url` is an http(s) address with a host (and, if any, a port that is a number)."""
    try:
        parts = urlsplit(url)
        port_ok = parts.port != 0
    except ValueError:
        return False
    return port_ok and parts.scheme in ("http", "https") and bool(parts.hostname) and not any(c.isspace() for c in url)


async def pause(stop: asyncio.Event, seconds: float) -> bool:
    """Wait `seconds`, or less when `stop` is set meanwhile; whether to go on (not stopped)."""
    with suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
    return not stop.is_set()


class Every:
    """Says whether something may be logged again: at most once per `seconds`."""

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._seconds, self._clock, self._last = seconds, clock, -math.inf

    def due(self) -> bool:
        now = self._clock()
        if now - self._last < self._seconds:
            return False
        self._last = now
        return True


async def connect(
    step: Callable[[], Awaitable[None]], wait: Callable[[float], Awaitable[bool]], clock: Callable[[], float] = time.monotonic
) -> bool:
    """Run `step` (getMe and the start-up calls) until it succeeds, waiting with back-off while
    Telegram cannot be reached. False if `wait` reports a stop first; a token Telegram rejects
    raises StartupError, because no retry can fix it."""
    delay, say = RETRY_FIRST, Every(SAY_EVERY, clock)
    while True:
        try:
            await step()
            return True
        except InvalidToken as error:
            reason = redact(str(error.__cause__ or error))
            raise StartupError(
                f"Telegram rejected TELEGRAM_BOT_TOKEN ({reason}): copy the token again from @BotFather"
                " (and check TELEGRAM_API_BASE_URL, if set)"
            ) from error
        except RetryAfter as error:
            pause = error.retry_after if isinstance(error.retry_after, int | float) else error.retry_after.total_seconds()
        except TelegramError as error:  # NetworkError, TimedOut, a server answering nonsense…
            pause = delay
            delay = min(delay * 2, RETRY_MAX)
            if say.due():
                reason = redact(str(error)) or type(error).__name__
                logger.warning("cannot reach Telegram (%s): retrying, with this line once a minute while it lasts", reason)
        if not await wait(pause):
            return False
