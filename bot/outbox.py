"""How replies leave for Telegram: one message per reply, buttons as the Bot API's JSON, retries.

Sends and edits go through `ReplyBot`, which does not read back Telegram's copy of each message
it sends: python-telegram-bot's `send_message` turns that copy into a `Message`, which the bot
never uses and which was a sixth of its CPU under load (README: Load).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Awaitable, Callable, Sequence
from functools import lru_cache, partial
from typing import Any

from telegram import MaybeInaccessibleMessage
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, NetworkError, TelegramError, TimedOut
from telegram.ext import ExtBot

from bot.replies import Button, Reply, plain

logger = logging.getLogger(__name__)

#: Telegram refuses messages over 4096 UTF-16 code units (an emoji is two); stay below, counting
#: the HTML tags too, which Telegram strips before it counts.
MAX_MESSAGE = 4000
#: Telegram allows 64 bytes of callback data.
MAX_CALLBACK_BYTES = 64
#: Sending a message is tried this often on network errors, waiting SEND_BACKOFF·2ⁿ seconds between.
SEND_ATTEMPTS = 6
SEND_BACKOFF = 0.25
#: Buttons with labels this short share a row (Yes / No / Not sure).
SHORT_LABEL = 12

#: An inline keyboard as the Bot API reads it: {"inline_keyboard": [[{"text", "callback_data"}]]}.
Markup = dict[str, Any]


class ReplyBot(ExtBot[None]):
    """The Application's bot, with sends and edits that return nothing instead of a `Message`.

    They go through the same `_post` as every library call, so the rate limiter, retry_after,
    and the error types (BadRequest, Forbidden, NetworkError…) are exactly the library's.
    """

    async def send_text(self, chat_id: int, text: str, parse_mode: str | None, markup: Markup | None, thread: int | None = None) -> None:
        where = {"chat_id": chat_id} | ({"message_thread_id": thread} if thread else {})
        await self._post("sendMessage", {**where, "text": text, "parse_mode": parse_mode, "reply_markup": markup})

    async def edit_text(self, message: MaybeInaccessibleMessage, text: str, parse_mode: str | None, markup: Markup | None) -> None:
        where = {"chat_id": message.chat.id, "message_id": message.message_id}
        await self._post("editMessageText", {**where, "text": text, "parse_mode": parse_mode, "reply_markup": markup})

    async def remove_buttons(self, message: MaybeInaccessibleMessage) -> None:
        await self._post("editMessageReplyMarkup", {"chat_id": message.chat.id, "message_id": message.message_id})


def utf16_len(text: str) -> int:
    """The length Telegram counts: UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


def _fitting(text: str, limit: int) -> int:
    """How many characters from the start of `text` fit in `limit` UTF-16 units."""
    low, high = limit // 2, min(len(text), limit)  # each character is one or two units
    while low < high:
        middle = (low + high + 1) // 2
        low, high = (middle, high) if utf16_len(text[:middle]) <= limit else (low, middle - 1)
    return low


def split_text(text: str, limit: int = MAX_MESSAGE) -> list[str]:
    """Split a long reply at paragraph or line breaks so every part fits in one message (`limit`
    UTF-16 units, as Telegram counts)."""
    parts: list[str] = []
    while utf16_len(text) > limit:
        fits = _fitting(text, limit)
        cut = max(text.rfind("\n\n", 0, fits), text.rfind("\n", 0, fits))
        cut = cut if cut > fits // 2 else fits
        parts.append(text[:cut].rstrip())
        text = text[cut:].lstrip("\n")
    return [*parts, text] if text or not parts else parts


@lru_cache(maxsize=1024)
def keyboard(buttons: tuple[Button, ...]) -> Markup | None:
    """The buttons as an inline keyboard: short labels share a row, long ones stand alone.
    Cached: the same few keyboards (each /triage question's) are sent over and over."""
    rows: list[list[dict[str, str]]] = []
    for button in buttons:
        if len(button.data.encode()) > MAX_CALLBACK_BYTES:
            logger.warning("button data over 64 bytes dropped")
            continue
        item = {"text": button.label, "url": button.url} if button.url else {"text": button.label, "callback_data": button.data}
        if rows and len(button.label) <= SHORT_LABEL and all(len(b["text"]) <= SHORT_LABEL for b in rows[-1]) and len(rows[-1]) < 3:
            rows[-1].append(item)
        else:
            rows.append([item])
    return {"inline_keyboard": rows} if rows else None


def merge(replies: Sequence[Reply]) -> Reply | None:
    """The dialogue's replies to one message as one Telegram message: one notification, and the
    buttons of the last reply that offers any (the current question's)."""
    if not replies:
        return None
    buttons = next((r.buttons for r in reversed(replies) if r.buttons), ())
    return dataclasses.replace(replies[-1], text="\n\n".join(r.text for r in replies), buttons=buttons)


async def retrying(call: Callable[[str, str | None], Awaitable[object]], text: str) -> None:
    """Run one Bot API call (send or edit), retrying network failures with back-off; a formatting
    error falls back to plain text, so a user never loses an answer to a stray character."""
    for attempt in range(SEND_ATTEMPTS):
        try:
            await call(text, ParseMode.HTML)
            return
        except BadRequest as error:
            if "not modified" in str(error).lower():
                return  # the same question again: the user already sees it
            await call(plain(text), None)
            return
        except Forbidden:
            return  # the user blocked the bot
        except (NetworkError, TelegramError) as error:
            if type(error) not in (NetworkError, TimedOut, TelegramError) or attempt == SEND_ATTEMPTS - 1:
                raise
            logger.warning("send failed (%s), retrying", type(error).__name__)
            await asyncio.sleep(SEND_BACKOFF * 2**attempt)


async def send_replies(bot: ReplyBot, chat_id: int, replies: Sequence[Reply], thread: int | None = None) -> None:
    """Send the replies as one message (split only above Telegram's length limit), in the forum
    topic (`thread`) the user wrote in."""
    reply = merge(replies)
    if reply is None:
        return
    parts = split_text(reply.text)
    for i, part in enumerate(parts):
        markup = keyboard(reply.buttons) if i == len(parts) - 1 else None
        await retrying(partial(bot.send_text, chat_id, markup=markup, thread=thread), part)
