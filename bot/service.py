"""One process of the bot on Telegram, from start to stop.

It connects (bot/startup.py explains what the configuration gets wrong), finishes what an earlier
process kept but did not handle, then until SIGINT or SIGTERM: polls (bot/polling.py) or serves
the webhook (bot/webhook.py), delivers the outbox (bot/courier.py), takes up content edits
(bot/reload.py: within seconds, or at once on SIGHUP), and keeps house: updates kept
but not handled (a database hiccup, a stopped worker) are handled again, what /privacy promises
to delete is purged, and a heartbeat says the process is alive (`python -m bot health`). A
second instance polling with the same token (409 Conflict) ends in one line and exit code 2.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
import socket
from functools import partial

from telegram import Update
from telegram.error import Conflict

from bot.brain import Brain
from bot.polling import LONG_POLL, poll
from bot.redact import redact
from bot.reload import ContentWatcher
from bot.retention import KEEP, PURGE_EVERY
from bot.settings import Settings
from bot.startup import EXIT_CONFIG, check, connect, pause
from bot.storage import open_store
from bot.telegram_app import TelegramBot
from bot.webhook import PATH, WebhookServer, derive_secret

logger = logging.getLogger(__name__)

#: An update kept this many seconds and not handled is handled again (by any worker).
STALE = 10.0
#: How often the house is kept: stale updates, the heartbeat.
TICK = 2.0
#: `python -m bot health` passes while the heartbeat is younger than this.
HEALTHY_WITHIN = 30.0


def worker_name(settings: Settings) -> str:
    """This process among the workers sharing a database: the host (a container) and the webhook
    port, or "polling"; `python -m bot health`, run beside it, works out the same name."""
    return f"{socket.gethostname()}:{settings.port if settings.webhook_url else 'polling'}"


async def serve(telegram: TelegramBot, settings: Settings) -> int:
    """Run until SIGINT/SIGTERM."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    return await run(telegram, settings, stop)


async def run(telegram: TelegramBot, settings: Settings, stop: asyncio.Event, long_poll: int = LONG_POLL) -> int:
    """Poll (or serve the webhook) until `stop`: exit code 0; or until Telegram reports another
    instance polling with this token: EXIT_CONFIG."""
    secret = settings.webhook_secret or derive_secret(settings.token or "")
    webhook = WebhookServer(telegram.receive, secret, healthy=lambda: _healthy(telegram)) if settings.webhook_url else None

    async def bootstrap() -> None:
        await telegram.start()
        if webhook and settings.webhook_url:
            url = settings.webhook_url.rstrip("/") + PATH
            await telegram.bot.set_webhook(url, secret_token=secret, allowed_updates=Update.ALL_TYPES)
        else:
            await telegram.bot.delete_webhook()

    tasks: list[asyncio.Task[None]] = []
    watcher = ContentWatcher(lambda: Brain.load(settings), partial(setattr, telegram, "brain"))
    try:
        if webhook:
            await webhook.start(settings.listen, settings.port)
        if not await connect(bootstrap, partial(pause, stop)):
            return 0
        await watcher.start()
        finished = await telegram.recover()
        if finished:
            logger.info("%d update(s) received before the last stop are being answered", finished)
        tasks = [asyncio.create_task(telegram.courier.sweep(stop)), asyncio.create_task(keep_house(telegram, worker_name(settings), stop))]
        if webhook:
            logger.info("webhook listening on %s:%s", settings.listen, webhook.port)
            await stop.wait()
        else:
            logger.info("long polling started")
            await poll(telegram, stop, long_poll)
    except Conflict as error:
        logger.error(
            "another instance of this bot is polling with the same token (Telegram: %s): stop the other one, or run only one; stopping",
            redact(str(error)),
        )
        return EXIT_CONFIG
    finally:
        stop.set()
        await watcher.stop()
        if tasks:
            await asyncio.wait(tasks, timeout=5.0)
        if webhook:
            await webhook.stop()
        await telegram.stop()
    return 0


async def keep_house(telegram: TelegramBot, worker: str, stop: asyncio.Event) -> None:
    """Every TICK: handle stale updates and beat; every PURGE_EVERY: purge (once at start too)."""
    store, purged = telegram.store, -float("inf")
    while not stop.is_set():
        now = telegram.clock()
        try:
            await telegram.db.run(store.beat, worker, now)
            await telegram.recover(received_before=now - STALE)
            if now - purged >= PURGE_EVERY:
                purged = now
                if await telegram.db.run(store.purge, now, KEEP):
                    logger.debug("expired conversation state purged")
        except Exception as error:  # the database is away: the next tick tries again
            logger.warning("housekeeping skipped (%s)", type(error).__name__)
        await pause(stop, TICK)


async def _healthy(telegram: TelegramBot) -> bool:
    try:
        await telegram.db.run(telegram.store.last_beat)
    except Exception:
        return False
    return True


def run_telegram(settings: Settings) -> int:
    """Run until interrupted: long polling, or the webhook when WEBHOOK_URL is set. The
    configuration and the database are checked before the content is loaded, so a mistake is
    reported at once."""
    check(settings)
    store = open_store(settings.data_dir, settings.database_url)
    threads = 4 if settings.database_url else 1  # SQLite has one writer at a time anyway
    telegram = TelegramBot(settings, Brain.load(settings), store, telegram_limits=settings.telegram_limits, threads=threads)
    # The content and its index live as long as the process: keep them out of the garbage
    # collector's full passes, each of which would otherwise stall every reply for ~30 ms.
    gc.freeze()
    return asyncio.run(serve(telegram, settings))
