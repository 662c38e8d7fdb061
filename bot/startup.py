"""Running on Telegram, with a start-up that explains itself.

Before anything connects, the token and the API address are checked (the database and the data
folder are checked when the store opens, bot/storage.py). Then the bot connects, retrying with
back-off while Telegram cannot be reached, one line a minute saying so, and polls or serves the
webhook until SIGINT or SIGTERM. What the configuration gets wrong — a malformed or rejected
token, a bad address, a second instance polling with the same token (409 Conflict) — ends in one
line that says what to do, and exit code 2.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
import signal
import time
from collections.abc import Awaitable, Callable
from contextlib import suppress
from urllib.parse import urlsplit

from telegram import Update
from telegram.error import Conflict, InvalidToken, RetryAfter, TelegramError
from telegram.ext import Application

from bot.errors import StartupError
from bot.redact import redact
from bot.settings import Settings
from bot.webhook import PATH, WebhookServer, derive_secret

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


async def serve(application: Application, settings: Settings) -> int:
    """Poll (or serve the webhook) until SIGINT/SIGTERM: exit code 0; or until Telegram reports
    another instance polling with this token: EXIT_CONFIG."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    conflict: list[Conflict] = []
    say = Every(SAY_EVERY)
    token = settings.token or ""
    webhook = WebhookServer(application, settings.webhook_secret or derive_secret(token)) if settings.webhook_url else None

    def polling_failed(error: TelegramError) -> None:
        """The library retries failed polls by itself; a Conflict, though, will not go away."""
        if isinstance(error, Conflict):
            conflict.append(error)
            stop.set()
        elif say.due():
            logger.warning("getting updates failed (%s): retrying", redact(str(error)) or type(error).__name__)

    async def bootstrap() -> None:
        await application.initialize()
        if application.post_init:
            await application.post_init(application)
        if webhook and settings.webhook_url:
            url = settings.webhook_url.rstrip("/") + PATH
            await application.bot.set_webhook(url, secret_token=webhook.secret, allowed_updates=Update.ALL_TYPES)

    async def wait(seconds: float) -> bool:
        with suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), seconds)
        return not stop.is_set()

    try:
        if webhook:
            await webhook.start(settings.listen, settings.port)
        if not await connect(bootstrap, wait):
            return 0
        await application.start()
        if webhook:
            logger.info("webhook listening on %s:%s", settings.listen, webhook.port)
        elif application.updater:
            await application.updater.start_polling(allowed_updates=Update.ALL_TYPES, bootstrap_retries=-1, error_callback=polling_failed)
            logger.info("long polling started")
        await stop.wait()
    finally:
        await _shut_down(application, webhook, quiet=bool(conflict))
    if conflict:
        logger.error(
            "another instance of this bot is polling with the same token (Telegram: %s): stop the other one, or run only one; stopping",
            redact(str(conflict[0])),
        )
        return EXIT_CONFIG
    return 0


async def _shut_down(application: Application, webhook: WebhookServer | None, quiet: bool) -> None:
    """Stop whatever started. `quiet`: after a Conflict, the library's last getUpdates on the way
    out meets the same Conflict, and its traceback would say nothing new."""
    updater = application.updater
    if updater and updater.running:
        updates_log = logging.getLogger("telegram.ext.Updater")
        level = updates_log.level
        if quiet:
            updates_log.setLevel(logging.CRITICAL)
        try:
            await updater.stop()
        finally:
            updates_log.setLevel(level)
    if application.running:
        await application.stop()
    if webhook:
        await webhook.stop()
    await application.shutdown()
    await application.bot.shutdown()  # its HTTP sessions, opened even when getMe never succeeded
