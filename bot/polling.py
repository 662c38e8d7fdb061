"""Long polling that loses nothing: an update is confirmed to Telegram (the next getUpdates'
offset moves past it) only after it is kept in the inbox.

Updates are fetched as Telegram's JSON (`Bot.do_api_request`), not as parsed objects, so one
update python-telegram-bot cannot read does not fail its whole batch: it is kept, logged by id
and skipped (bot/telegram_app.py). While the inbox cannot be written, the same batch is fetched
again every second, so red flags arriving meanwhile are still answered at once.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import suppress
from typing import Any

from telegram import Update
from telegram.error import Conflict, TelegramError

from bot.redact import redact
from bot.startup import RETRY_FIRST, RETRY_MAX, SAY_EVERY, Every, pause
from bot.telegram_app import TelegramBot, is_update

logger = logging.getLogger(__name__)

#: Seconds Telegram holds a getUpdates open when there is nothing to deliver.
LONG_POLL = 10
#: Another poller with the same token is waited out this long before giving up: during a
#: rolling deploy the old process polls for a few seconds more.
CONFLICT_GRACE = 30.0


async def poll(telegram: TelegramBot, stop: asyncio.Event, long_poll: int = LONG_POLL) -> None:
    """Fetch and keep updates until `stop`; Conflict (another poller) that lasts CONFLICT_GRACE
    seconds is raised to the caller."""
    offset: int | None = None
    wait, delay, say = long_poll, RETRY_FIRST, Every(SAY_EVERY)
    loop, conflicted = asyncio.get_running_loop(), None
    stopped = asyncio.ensure_future(stop.wait())
    try:
        while not stop.is_set():
            fetch = asyncio.ensure_future(_get_updates(telegram, offset, wait))
            await asyncio.wait({fetch, stopped}, return_when=asyncio.FIRST_COMPLETED)
            if stop.is_set():
                fetch.cancel()
                break
            try:
                raws = fetch.result()
                conflicted = None
            except Conflict:
                conflicted = conflicted or loop.time()
                if loop.time() - conflicted > CONFLICT_GRACE:
                    raise
                await pause(stop, RETRY_FIRST)
                continue
            except TelegramError as error:
                if say.due():
                    logger.warning("getting updates failed (%s): retrying", redact(str(error)) or type(error).__name__)
                await pause(stop, delay)
                delay = min(delay * 2, RETRY_MAX)
                continue
            delay = RETRY_FIRST
            ids = [raw["update_id"] for raw in raws if is_update(raw)]
            if not raws:
                continue
            if await telegram.receive(raws):
                offset, wait = (max(ids) + 1 if ids else offset), long_poll
            else:
                wait = 1  # the inbox is down: fetch the same updates again soon
        if offset is not None:  # confirm what was kept, so a restart does not fetch it again
            with suppress(TimeoutError, TelegramError):
                await _get_updates(telegram, offset, 0)
    finally:
        stopped.cancel()


async def _get_updates(telegram: TelegramBot, offset: int | None, wait: int) -> list[Any]:
    params: dict[str, Any] = {"timeout": wait, "allowed_updates": list(Update.ALL_TYPES)}
    if offset is not None:
        params["offset"] = offset
    result = await telegram.bot.do_api_request("getUpdates", api_kwargs=params, read_timeout=wait + 5)
    return result if isinstance(result, list) else []
