"""How replies become Bot API calls: one message per update's replies, buttons as the Bot API's
JSON, long texts split where Telegram would refuse them. The calls are queued in the outbox and
delivered by bot/courier.py."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from telegram.constants import ParseMode

from bot.replies import Button, Reply
from bot.storage import Outgoing

logger = logging.getLogger(__name__)

#: Telegram refuses messages over 4096 UTF-16 code units (an emoji is two); stay below, counting
#: the HTML tags too, which Telegram strips before it counts.
MAX_MESSAGE = 4000
#: Telegram allows 64 bytes of callback data.
MAX_CALLBACK_BYTES = 64
#: Buttons with labels this short share a row (Yes / No / Not sure).
SHORT_LABEL = 12

#: An inline keyboard as the Bot API reads it: {"inline_keyboard": [[{"text", "callback_data"}]]}.
Markup = dict[str, Any]


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


def letters(replies: Sequence[Reply], user_id: int, chat_id: int, thread: int | None = None) -> list[Outgoing]:
    """The replies as the Bot API calls that send them: one message (split only above Telegram's
    length limit), in the forum topic (`thread`) the user wrote in, the buttons on the last part.
    Urgent if any reply is; the last part carries the /triage step it asks."""
    reply = merge(replies)
    if reply is None:
        return []
    urgent = any(r.kind == "urgent" for r in replies)
    parts = split_text(reply.text)
    where: dict[str, Any] = {"chat_id": chat_id} | ({"message_thread_id": thread} if thread else {})
    markup = keyboard(reply.buttons)
    buttons = {"reply_markup": markup} if markup else {}
    return [
        Outgoing(
            user_id,
            "sendMessage",
            {**where, "text": part, "parse_mode": ParseMode.HTML} | (buttons if i == len(parts) - 1 else {}),
            urgent,
            reply.state if i == len(parts) - 1 else None,
        )
        for i, part in enumerate(parts)
    ]


def edit(reply: Reply, user_id: int, chat_id: int, message_id: int) -> Outgoing:
    """The reply shown in place of the message whose button was pressed (the next question)."""
    params = {"chat_id": chat_id, "message_id": message_id, "text": reply.text, "parse_mode": ParseMode.HTML}
    markup = keyboard(reply.buttons)
    return Outgoing(user_id, "editMessageText", params | ({"reply_markup": markup} if markup else {}), reply.kind == "urgent", reply.state)
