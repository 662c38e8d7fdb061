"""The Telegram adapter: updates in through a durable inbox, replies out through a durable outbox.

Thin on purpose: every message goes to `Dialogue` (which checks red flags first, also mid-flow);
this module keeps each update before Telegram is told it arrived, hands it to the dialogue with
the user's stored state, and commits the new state, the replies and the mark "handled" in one
transaction (bot/storage.py); bot/courier.py delivers the replies. So a process killed at any
moment loses no message and answers none twice, and several processes can share one database.

A red flag never waits for storage: when keeping an update takes longer than `ALARM_AFTER`, its
warning-sign reply is sent at once, from the text alone. No message text is logged.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import Counter, OrderedDict
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

from telegram import BotCommand, InlineQueryResultArticle, InputTextMessageContent, Message, MessageEntity, Update
from telegram.constants import ChatType, ParseMode
from telegram.error import TelegramError
from telegram.ext import ExtBot
from telegram.request import BaseRequest, HTTPXRequest

from bot.brain import Brain
from bot.courier import LEASE, Courier, PriorityRateLimiter, call
from bot.dialogue import Dialogue, parse_command
from bot.guard import UserGuard
from bot.offload import Offloaded
from bot.outbox import MAX_MESSAGE, edit, letters, merge, split_text, utf16_len
from bot.redact import protect
from bot.replies import Reply, plain
from bot.settings import Settings
from bot.storage import Change, Conflict, Duplicate, Incoming, Letter, Outgoing, Pending, Seen, Snapshot, Store
from bot.transport import AiohttpRequest

logger = logging.getLogger(__name__)

#: How long a red flag waits for its update to be kept before its reply goes out without it.
ALARM_AFTER = 0.5
#: A database call given up after this many seconds (the update stays in the inbox and is retried).
STORE_TIMEOUT = 5.0
#: An update whose handling fails this often (a bug, not the database) gets the error notice.
MAX_FAILURES = 3
#: A state changed by another worker meanwhile is read again, this many times at most.
CONFLICT_RETRIES = 5
#: Users whose last committed state is remembered between their updates.
REMEMBERED = 10_000


@dataclass(frozen=True)
class Work:
    """What one update comes to: replies to queue, and the user's state after it."""

    outgoing: Sequence[Outgoing] = ()
    state: dict[str, Any] | None = None
    snapshot: Snapshot | None = None


def user_of(raw: dict[str, Any]) -> int:
    """Whose updates this one is ordered with: the sender, else the chat, else 0 (no order)."""
    for key, value in raw.items():
        if key != "update_id" and isinstance(value, dict):
            for holder in ("from", "chat", "user"):
                who = value.get(holder)
                if isinstance(who, dict) and isinstance(who.get("id"), int):
                    return who["id"]
    return 0


class TelegramBot:
    """One process of the bot on Telegram, around a store that several processes may share."""

    def __init__(
        self, settings: Settings, brain: Brain, store: Store, timeout: float | None = None,
        telegram_limits: bool = True, threads: int = 1,
    ) -> None:
        protect(settings.token)
        base = settings.api_base_url
        urls = {"base_url": base, "base_file_url": base.replace("/bot", "/file/bot")} if base else {}
        request, updates_request = _requests(settings.http, timeout)
        limiter = PriorityRateLimiter(pace=telegram_limits)
        self.bot: ExtBot[None] = ExtBot(
            settings.token or "", request=request, get_updates_request=updates_request, rate_limiter=limiter, **urls
        )
        self.brain = brain
        self.db = Offloaded(store, threads=threads, timeout=STORE_TIMEOUT)
        self.courier = Courier(self.bot, self.db, on_seen=self._seen)
        self.guard = UserGuard()
        self.clock = time.time
        #: Updates whose warning-sign reply went out before they were kept (not sent again).
        self._alarmed: set[int] = set()
        self._failures: Counter[int] = Counter()
        #: The last committed state of recently active users (bounded; see `_remember`).
        self._snapshots: OrderedDict[int, Snapshot] = OrderedDict()
        self._tasks: set[asyncio.Task[None]] = set()
        #: Updates this process is handling now (a sweep for stale ones does not start them again).
        self._handling: set[int] = set()

    @property
    def store(self) -> Store:
        return self.db.store

    async def start(self) -> None:
        """Connect (getMe) and register the command menu, so Telegram shows it."""
        await self.bot.initialize()
        commands = self.brain.content.messages["commands"]
        await self.bot.set_my_commands([BotCommand(c, d) for c, d in commands.items()])

    async def stop(self) -> None:
        """Finish what is under way (what is not stays in the inbox and outbox for the next start)."""
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=5.0)
        await self.courier.stop()
        await self.bot.shutdown()
        self.db.close()

    @property
    def idle(self) -> bool:
        """Nothing being handled or delivered right now (tests wait for it)."""
        return not self._tasks and not self.courier.busy

    # -- receiving ------------------------------------------------------------------------

    async def receive(self, raws: Sequence[Any]) -> bool:
        """Keep the updates, then handle the new ones; True once they are kept (only then may
        Telegram be told they arrived). Red flags are answered even when they cannot be kept."""
        incoming = [Incoming(raw["update_id"], user_of(raw), json.dumps(raw)) for raw in raws if is_update(raw)]
        if len(incoming) < len(raws):
            logger.warning("%d received item(s) without an update_id ignored", len(raws) - len(incoming))
        if not incoming:
            return True
        keeping = asyncio.ensure_future(self.db.run(self.store.receive, incoming, self.clock()))
        done, _ = await asyncio.wait({keeping}, timeout=ALARM_AFTER)
        if not done:
            await self._alarm_now(incoming)
        try:
            new = set(await keeping)
        except Exception as error:
            logger.warning("received updates could not be kept (%s); they will be fetched again", type(error).__name__)
            await self._alarm_now(incoming)
            return False
        for item in incoming:
            if item.update_id in new:
                self.spawn(item)
        return True

    def spawn(self, item: Incoming) -> None:
        """Handle the update in its own task (a user's tasks take their lock in arrival order),
        unless this process is handling it already."""
        if item.update_id in self._handling:
            return
        self._handling.add(item.update_id)
        task = asyncio.create_task(self.handle(item))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        task.add_done_callback(lambda _: self._handling.discard(item.update_id))

    async def recover(self, received_before: float | None = None) -> int:
        """Handle what was kept but not handled (after a restart, or a failure); how many."""
        pending = await self.db.run(self.store.pending, 10_000, received_before)
        for item in pending:
            self.spawn(item)
        return len(pending)

    async def _alarm_now(self, items: Sequence[Incoming]) -> None:
        """Send the red-flag replies of these updates straight away, from their text alone."""
        for item in items:
            if item.update_id in self._alarmed:
                continue
            update = _parse(item, self.bot)
            message = update.effective_message if update else None
            if update is None or message is None or not message.text or update.callback_query:
                continue
            text = message.text if message.chat.type == ChatType.PRIVATE else self._addressed(message)
            alarm = self._dialogue().alarm(text) if text else None
            if alarm:
                self._alarmed.add(item.update_id)
                for outgoing in letters([alarm], item.user_id, message.chat.id, _thread(message)):
                    with suppress(TelegramError):
                        await call(self.bot, outgoing)

    # -- handling -------------------------------------------------------------------------

    async def handle(self, item: Incoming) -> None:
        """One update, start to end, after the user's earlier ones."""
        async with self.guard.lock(item.user_id):
            for _ in range(CONFLICT_RETRIES):
                try:
                    await self._handle_once(item)
                    return
                except Conflict:
                    continue
                except Duplicate:
                    return
                except Exception as error:  # the database: the update stays in the inbox, retried later
                    logger.warning("update %s not handled yet (%s)", item.update_id, type(error).__name__)
                    return
        logger.warning("update %s kept conflicting with other workers; retried later", item.update_id)

    async def _handle_once(self, item: Incoming) -> None:
        update = _parse(item, self.bot)
        if update is None:
            logger.warning("update %s could not be read; skipped", item.update_id)
            await self.db.run(self.store.skip, item.update_id, self.clock())
            return
        if update.inline_query:
            await self._inline(update)
            await self.db.run(self.store.skip, item.update_id, self.clock())
            return
        chat = update.effective_chat
        private = chat is not None and chat.type == ChatType.PRIVATE
        snapshot = (self._snapshots.get(item.user_id) or await self.db.run(self.store.read, item.user_id)) if private else None
        try:
            work = self._private(update, item.user_id, snapshot) if snapshot else self._group(update, item.user_id)
        except Exception as error:
            self._failures[item.update_id] += 1
            if self._failures[item.update_id] < MAX_FAILURES:
                raise
            logger.error("update %s failed %d times (%s); the user is told", item.update_id, MAX_FAILURES, type(error).__name__)
            logger.debug("traceback", exc_info=error)
            notice = letters([self._dialogue().say("error")], item.user_id, chat.id) if private and chat else []
            work = Work(notice)
        change = Change(item.user_id, work.snapshot, work.state, tuple(work.outgoing), item.update_id, self.clock(), LEASE)
        try:
            leased = await self.db.together(self.store.commit_many, change)
        except Conflict:
            self._snapshots.pop(item.user_id, None)  # changed elsewhere: read it again
            raise
        self._remember(item.user_id, work)
        self._alarmed.discard(item.update_id)
        self._failures.pop(item.update_id, None)
        if work.outgoing:
            self.courier.post(item.user_id, leased, more=len(leased) < len(work.outgoing))

    def _remember(self, user_id: int, work: Work) -> None:
        """Keep the user's state as just committed, so their next update needs no read. Safe with
        several workers: a commit over a state changed elsewhere is a Conflict, and reads again."""
        if work.snapshot is None:
            return
        self._snapshots[user_id] = work.snapshot.after(work.state)
        self._snapshots.move_to_end(user_id)
        while len(self._snapshots) > REMEMBERED:
            self._snapshots.popitem(last=False)

    def _seen(self, letter: Letter, message_id: int) -> None:
        """A question reached the user: their remembered state says so too."""
        snapshot = self._snapshots.get(letter.user_id)
        if snapshot is not None and letter.step:
            snapshot.seen = Seen(letter.step, message_id)

    def _private(self, update: Update, user_id: int, snapshot: Snapshot) -> Work:
        """A private chat's update through the dialogue, over the user's state as read."""
        pending = Pending(snapshot)
        dialogue = self._dialogue(pending)
        notes = [dialogue.say("state_reset")] if snapshot.reset else []
        message, query = update.effective_message, update.callback_query
        if query is not None:
            replies = dialogue.handle_button(user_id, str(query.data or ""))
            reply = merge(replies)
            pressed = query.message
            # The next /triage question replaces the pressed one (its old buttons go with it).
            fits = reply is not None and reply.state is not None and utf16_len(reply.text) <= MAX_MESSAGE
            self._acknowledge(query, remove_keyboard=not (fits and pressed is not None and not notes))
            if fits and pressed is not None and reply is not None and not notes:
                return Work([edit(reply, user_id, pressed.chat.id, pressed.message_id)], pending.outcome, snapshot)
            chat_id = pressed.chat.id if pressed else user_id
            replies = [*notes, *replies]
        elif message is None:
            return Work((), pending.outcome, snapshot)
        else:
            chat_id = message.chat.id
            replies = [*notes, *self._typed(dialogue, update, message, user_id, snapshot)]
        dialogue.delivered(user_id, replies)  # the outbox delivers them: a repeated last tap gets nothing new
        if update.update_id in self._alarmed:
            sent = dialogue.alarm(message.text or "") if message else None
            replies = [r for r in replies if r != sent]
        outgoing = letters(replies, user_id, chat_id, _thread(message) if message else None)
        return Work(outgoing, pending.outcome, snapshot)

    def _typed(self, dialogue: Dialogue, update: Update, message: Message, user_id: int, snapshot: Snapshot) -> list[Reply]:
        """A message in a private chat: text, an edit, or something the bot cannot read."""
        if update.edited_message:
            return dialogue.handle_edit(user_id, message.text) if message.text else []
        if message.text is None:
            return dialogue.handle_unreadable(user_id)
        if self.guard.flooding(user_id):
            # Throttled, but a warning sign is still answered and /forget still deletes.
            alarm = dialogue.alarm(message.text)
            if alarm:
                return [alarm]
            if (parse_command(message.text) or ("",))[0] == "forget":
                replies = dialogue.handle_text(user_id, message.text)
                return replies if self.guard.once(user_id, "forget") else []
            return [dialogue.say("throttled")] if self.guard.once(user_id, "throttled") else []
        seen = snapshot.seen
        seen_step = seen.step if seen and message.message_id > seen.message_id else None
        return dialogue.handle_text(user_id, message.text, seen_step)

    def _group(self, update: Update, user_id: int) -> Work:
        """In a group, only messages addressed to the bot are answered; health stays private."""
        if update.callback_query:
            self._acknowledge(update.callback_query, remove_keyboard=False)
        message = update.message
        text = self._addressed(message) if message and message.text else None
        if message is None or text is None:
            return Work()
        replies = self._dialogue().handle_group_text(text, self.bot.username)
        if update.update_id in self._alarmed:
            replies = [r for r in replies if r.kind != "urgent"]
        return Work(letters(replies, user_id, message.chat.id, _thread(message)))

    def _addressed(self, message: Message) -> str | None:
        """In a group: the text when it mentions or replies to the bot, or is a command; else None."""
        text, username = message.text or "", self.bot.username
        mention = f"@{username}".lower()
        replied = message.reply_to_message
        if replied and replied.from_user and replied.from_user.username == username:
            return text
        commands = self.brain.content.messages["commands"]
        for entity, value in message.parse_entities([MessageEntity.MENTION, MessageEntity.BOT_COMMAND]).items():
            if entity.type == MessageEntity.MENTION and value.lower() == mention:
                return text.replace(value, " ").strip()
            if entity.type == MessageEntity.BOT_COMMAND and entity.offset == 0:
                name, _, target = value[1:].partition("@")
                # "/help@thisbot", or one of this bot's commands; other bots' commands are not ours.
                if target.lower() == username.lower() or (not target and name.lower() in commands):
                    return text
        return None

    def _acknowledge(self, query: Any, remove_keyboard: bool) -> None:
        """Stop the button's spinner and, unless the message is being edited anyway, remove the
        pressed keyboard so it cannot be pressed twice. Best effort, in the background: the press
        itself is handled either way."""

        async def acknowledge() -> None:
            try:
                await self.bot.answer_callback_query(query.id)
                if remove_keyboard and query.message is not None:
                    params = {"chat_id": query.message.chat.id, "message_id": query.message.message_id}
                    await self.bot.do_api_request("editMessageReplyMarkup", api_kwargs=params)
            except TelegramError as error:
                logger.info("could not acknowledge a button press: %s", type(error).__name__)

        task = asyncio.create_task(acknowledge())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _inline(self, update: Update) -> None:
        """Inline mode: `@bot heat or ice` offers the best answers (or the red-flag advice)."""
        query = update.inline_query
        assert query is not None
        brain, text = self.brain, query.query.strip()
        results = []
        if text:
            first = brain.answer(text)
            replies = [first]
            if first.kind != "urgent":
                ranking = brain.matcher.rank(text, limit=3)
                entries = brain.content.entries
                others = [c for c in ranking.candidates if c.entry.id in entries and c.entry.id != first.id]
                replies += [brain.entry_reply(c.entry, c.score) for c in others]
            for i, reply in enumerate(r for r in replies if r.kind in ("answer", "urgent", "smalltalk")):
                title = brain.content.entries[reply.id].question if reply.id in brain.content.entries else plain(reply.text).split("\n")[0]
                body = InputTextMessageContent(split_text(reply.text)[0], parse_mode=ParseMode.HTML)
                summary = plain(reply.text)[:100]
                results.append(InlineQueryResultArticle(id=str(i), title=title[:64], description=summary, input_message_content=body))
        with suppress(TelegramError):  # an inline answer is only useful at once; no retry
            await query.answer(results[:5], cache_time=60, is_personal=False)

    def _dialogue(self, pending: Pending | None = None) -> Dialogue:
        """The dialogue over one user's state for one update; with none, for what needs no state
        (a red flag from the text alone, a group message, a notice)."""
        return Dialogue(self.brain, pending or Pending(Snapshot()), self.clock)


def is_update(raw: Any) -> bool:
    """A JSON object with an integer update_id: what Telegram sends, whatever else it holds."""
    return isinstance(raw, dict) and isinstance(raw.get("update_id"), int) and not isinstance(raw.get("update_id"), bool)


#: What a button press carries of the pressed message that the bot never reads: its text and
#: keyboard are the bot's own, and building them as objects was a third of the bot's CPU per press.
UNREAD = ("reply_markup", "entities", "text")


def _parse(item: Incoming, bot: ExtBot[None]) -> Update | None:
    """The update as python-telegram-bot's object, or None when it cannot be read."""
    try:
        raw = json.loads(item.raw)
        pressed = raw.get("callback_query", {}).get("message")
        if isinstance(pressed, dict):
            for key in UNREAD:
                pressed.pop(key, None)
        update = Update.de_json(raw, bot)
    except Exception:  # anything in a malformed update: it is skipped, never retried forever
        return None
    return update


def _thread(message: Message | None) -> int | None:
    """The forum topic to answer in, if the user wrote in one."""
    return message.message_thread_id if message is not None and message.is_topic_message else None


def _requests(http: str, timeout: float | None) -> tuple[BaseRequest, BaseRequest]:
    """The HTTP clients for API calls and for long polling: aiohttp by default, or the library's
    own httpx (BOT_HTTP=httpx); docs/PERFORMANCE.md compares them."""
    wait = timeout or 5.0
    if http == "aiohttp":
        return AiohttpRequest(read_timeout=wait, connect_timeout=wait), AiohttpRequest(connections=2, read_timeout=wait + 2)
    timeouts = {"read_timeout": wait, "write_timeout": wait, "connect_timeout": wait, "pool_timeout": wait}
    return HTTPXRequest(connection_pool_size=256, **timeouts), HTTPXRequest(**{**timeouts, "read_timeout": wait + 2})
