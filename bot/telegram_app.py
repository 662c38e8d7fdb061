"""The Telegram adapter: python-telegram-bot's Application around the dialogue core.

Thin on purpose: every message goes to `Dialogue` (which checks red flags first, also mid-flow),
and this module only turns its replies into Telegram messages and buttons. No message text is
logged at the default level.
"""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import Sequence
from functools import partial
from typing import cast

from telegram import (
    BotCommand,
    CallbackQuery,
    InlineQueryResultArticle,
    InputTextMessageContent,
    MessageEntity,
    Update,
)
from telegram.constants import ChatType, ParseMode
from telegram.error import TelegramError
from telegram.ext import (
    AIORateLimiter,
    Application,
    CallbackQueryHandler,
    ContextTypes,
    InlineQueryHandler,
    JobQueue,
    MessageHandler,
    filters,
)
from telegram.request import BaseRequest, HTTPXRequest

from bot.brain import Brain
from bot.dialogue import Dialogue, parse_command
from bot.guard import UserGuard
from bot.outbox import MAX_MESSAGE, ReplyBot, keyboard, merge, retrying, send_replies, split_text, utf16_len
from bot.redact import protect
from bot.replies import Reply, plain
from bot.retention import KEEP, PURGE_EVERY
from bot.settings import Settings
from bot.startup import check, serve
from bot.storage import SqliteStore
from bot.transport import AiohttpRequest

logger = logging.getLogger(__name__)

#: Updates handled at once (different users; one user's updates always run in order).
CONCURRENT_UPDATES = 256


async def reply_to(update: Update, context: ContextTypes.DEFAULT_TYPE, replies: Sequence[Reply]) -> None:
    """Send the replies to the update's chat as one message, in the user's forum topic if any."""
    message = update.effective_message
    thread = message.message_thread_id if message is not None and message.is_topic_message else None
    if update.effective_chat is not None:
        await send_replies(_bot(context), update.effective_chat.id, replies, thread)


def _commands(context: ContextTypes.DEFAULT_TYPE) -> dict[str, str]:
    """The command menu of messages.yaml: name → description."""
    return _dialogue(context).brain.content.messages["commands"]


def _bot(context: ContextTypes.DEFAULT_TYPE) -> ReplyBot:
    return cast(ReplyBot, context.bot)


def _dialogue(context: ContextTypes.DEFAULT_TYPE) -> Dialogue:
    return context.application.bot_data["dialogue"]


def _guard(context: ContextTypes.DEFAULT_TYPE) -> UserGuard:
    return context.application.bot_data["guard"]


def _addressed_text(update: Update, username: str, commands: dict[str, str]) -> str | None:
    """In a group: the text when it mentions or replies to the bot, or is a command; else None."""
    message = update.effective_message
    if message is None or message.text is None:
        return None
    text = message.text
    mention = f"@{username}".lower()
    if message.reply_to_message and message.reply_to_message.from_user and message.reply_to_message.from_user.username == username:
        return text
    for entity, value in message.parse_entities([MessageEntity.MENTION, MessageEntity.BOT_COMMAND]).items():
        if entity.type == MessageEntity.MENTION and value.lower() == mention:
            return text.replace(value, " ").strip()
        if entity.type == MessageEntity.BOT_COMMAND and entity.offset == 0:
            name, _, target = value[1:].partition("@")
            # "/help@thisbot", or one of this bot's commands; other bots' commands are not ours.
            if target.lower() == username.lower() or (not target and name.lower() in commands):
                return text
    return None


async def on_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A text message or command: everything goes to the dialogue core."""
    message, user, chat = update.effective_message, update.effective_user, update.effective_chat
    if message is None or user is None or chat is None or message.text is None:
        return
    text: str | None = message.text
    dialogue, guard = _dialogue(context), _guard(context)
    if chat.type != ChatType.PRIVATE:
        text = _addressed_text(update, context.bot.username, _commands(context))
        if text is not None:  # a warning sign is answered where it was written; the rest in private
            await reply_to(update, context, dialogue.handle_group_text(text, context.bot.username))
        return
    async with guard.lock(user.id):
        if guard.flooding(user.id):
            # Throttled, but a warning sign is still answered and /forget still deletes.
            alarm = dialogue.brain.alarm(text)
            if alarm:
                await reply_to(update, context, [alarm])
            elif (parse_command(text) or ("",))[0] == "forget":
                replies = dialogue.handle_text(user.id, text)
                if guard.once(user.id, "forget"):
                    await reply_to(update, context, replies)
            elif guard.once(user.id, "throttled"):
                await reply_to(update, context, [dialogue.say("throttled")])
            return
        replies = dialogue.handle_text(user.id, text)
        await reply_to(update, context, replies)
        dialogue.delivered(user.id, replies)


async def on_edited_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """An edited message: a warning sign it adds is answered; mid-flow, a note that the answer was
    already taken and Back changes it."""
    message, user, chat = update.effective_message, update.effective_user, update.effective_chat
    if message is None or user is None or not message.text or chat is None or chat.type != ChatType.PRIVATE:
        return
    async with _guard(context).lock(user.id):
        await reply_to(update, context, _dialogue(context).handle_edit(user.id, message.text))


async def on_other(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Stickers, photos, voice, locations… in a private chat: say what the bot can read."""
    user = update.effective_user
    if update.effective_chat and update.effective_chat.type == ChatType.PRIVATE and user:
        async with _guard(context).lock(user.id):
            await reply_to(update, context, _dialogue(context).handle_unreadable(user.id))


async def _acknowledge(bot: ReplyBot, query: CallbackQuery, remove_keyboard: bool = True) -> None:
    """Stop the button's spinner and, unless the message is being edited anyway, remove the
    pressed keyboard so it cannot be pressed twice."""
    try:
        await query.answer()
        if remove_keyboard and query.message is not None:
            await bot.remove_buttons(query.message)
    except TelegramError as error:
        # An old message or a hiccup: the press itself is still handled.
        logger.info("could not acknowledge a button press: %s", type(error).__name__)


async def on_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A button press: the next /triage question replaces the pressed one (its old buttons go with
    it); any other reply is sent as a new message while the pressed keyboard is removed."""
    query = update.callback_query
    if query is None or query.from_user is None:
        return
    bot, message = _bot(context), query.message
    if message is None:
        await _acknowledge(bot, query)
        return
    dialogue = _dialogue(context)
    async with _guard(context).lock(query.from_user.id):
        replies = dialogue.handle_button(query.from_user.id, str(query.data or ""))
        reply = merge(replies)
        if reply is not None and reply.state is not None and utf16_len(reply.text) <= MAX_MESSAGE:
            shown = retrying(partial(bot.edit_text, message, markup=keyboard(reply.buttons)), reply.text)
            await asyncio.gather(_acknowledge(bot, query, remove_keyboard=False), shown)
        else:
            await asyncio.gather(_acknowledge(bot, query), send_replies(bot, message.chat.id, replies))
            dialogue.delivered(query.from_user.id, replies)


async def on_inline(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Inline mode: `@bot heat or ice` offers the best answers (or the red-flag advice)."""
    query = update.inline_query
    if query is None:
        return
    brain = _dialogue(context).brain
    text = query.query.strip()
    results = []
    if text:
        first = brain.answer(text)
        replies = [first]
        if first.kind != "urgent":
            ranking = brain.matcher.rank(text, limit=3)
            entries = brain.content.entries
            replies += [brain.entry_reply(c.entry, c.score) for c in ranking.candidates if c.entry.id in entries and c.entry.id != first.id]
        for i, reply in enumerate(r for r in replies if r.kind in ("answer", "urgent", "smalltalk")):
            title = brain.content.entries[reply.id].question if reply.id in brain.content.entries else plain(reply.text).split("\n")[0]
            body = split_text(reply.text)[0]
            results.append(
                InlineQueryResultArticle(
                    id=str(i),
                    title=title[:64],
                    description=plain(reply.text)[:100],
                    input_message_content=InputTextMessageContent(body, parse_mode=ParseMode.HTML),
                )
            )
    await query.answer(results[:5], cache_time=60, is_personal=False)


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Log the failure without the user's words, and tell them something went wrong."""
    error = context.error
    logger.error("%s failed: %s", "update" if update else "background job", type(error).__name__)
    logger.debug("traceback", exc_info=error)
    if isinstance(update, Update) and update.effective_chat and update.effective_chat.type == ChatType.PRIVATE:
        try:
            await update.effective_chat.send_message(_dialogue(context).brain.content.message("error"))
        except TelegramError:
            logger.warning("could not send the error notice")


async def purge(context: ContextTypes.DEFAULT_TYPE) -> None:
    """Delete what is kept longer than /privacy promises (bot/retention.py), whether or not the
    user comes back."""
    dialogue = _dialogue(context)
    if dialogue.store.purge(dialogue.clock(), KEEP):
        logger.debug("expired conversation state purged")


async def _post_init(application: Application) -> None:
    """Register the command menu, so Telegram shows it."""
    commands = application.bot_data["dialogue"].brain.content.messages["commands"]
    await application.bot.set_my_commands([BotCommand(c, d) for c, d in commands.items()])


def _requests(http: str, timeout: float | None) -> tuple[BaseRequest, BaseRequest]:
    """The HTTP clients for API calls and for long polling: aiohttp by default, or the library's
    own httpx (BOT_HTTP=httpx); README: Load compares them."""
    wait = timeout or 5.0
    if http == "aiohttp":
        return AiohttpRequest(read_timeout=wait, connect_timeout=wait), AiohttpRequest(connections=2, read_timeout=wait + 2)
    timeouts = {"read_timeout": wait, "write_timeout": wait, "connect_timeout": wait, "pool_timeout": wait}
    return HTTPXRequest(connection_pool_size=CONCURRENT_UPDATES, **timeouts), HTTPXRequest(**{**timeouts, "read_timeout": wait + 2})


def build_application(
    settings: Settings, dialogue: Dialogue, timeout: float | None = None, telegram_limits: bool = True
) -> Application:
    """The Application with every handler; shared by `run` and the end-to-end tests.

    `timeout` shortens the HTTP timeouts (the fault-injection tests use it); `telegram_limits=False`
    keeps honouring retry_after but drops the 30 messages/s pacing (for load tests on a fake server).
    """
    protect(settings.token)
    limiter = AIORateLimiter(max_retries=5) if telegram_limits else AIORateLimiter(overall_max_rate=0, group_max_rate=0, max_retries=5)
    base = settings.api_base_url
    urls = {"base_url": base, "base_file_url": base.replace("/bot", "/file/bot")} if base else {}
    request, updates_request = _requests(settings.http, timeout)
    bot = ReplyBot(settings.token or "", request=request, get_updates_request=updates_request, rate_limiter=limiter, **urls)
    builder = Application.builder().bot(bot).post_init(_post_init).concurrent_updates(CONCURRENT_UPDATES)
    application = builder.build()
    application.bot_data["dialogue"] = dialogue
    application.bot_data["guard"] = UserGuard()
    text = filters.TEXT & filters.UpdateType.MESSAGE
    application.add_handler(MessageHandler(text, on_text))
    application.add_handler(MessageHandler(filters.TEXT & filters.UpdateType.EDITED_MESSAGE, on_edited_text))
    application.add_handler(CallbackQueryHandler(on_button))
    application.add_handler(InlineQueryHandler(on_inline))
    application.add_handler(MessageHandler(filters.UpdateType.MESSAGE & ~filters.TEXT, on_other))
    application.add_error_handler(on_error)
    # Once at start-up (what expired while the bot was down), then every PURGE_EVERY seconds;
    # a run the busy event loop delays is run late, not skipped with a warning.
    jobs, late = cast(JobQueue, application.job_queue), {"misfire_grace_time": None}
    jobs.run_once(purge, 0, name="purge", job_kwargs=late)
    jobs.run_repeating(purge, interval=PURGE_EVERY, first=PURGE_EVERY, name="purge", job_kwargs=late)
    return application


def run_telegram(settings: Settings) -> int:
    """Run until interrupted: long polling, or the webhook when WEBHOOK_URL is set (bot/startup.py).
    The configuration and the database are checked before the content is loaded, so a mistake
    is reported at once."""
    check(settings)
    store = SqliteStore(settings.data_dir)
    dialogue = Dialogue(Brain.load(settings), store)
    application = build_application(settings, dialogue, telegram_limits=settings.telegram_limits)
    # The content and its index live as long as the process: keep them out of the garbage
    # collector's full passes, each of which would otherwise stall every reply for ~30 ms.
    gc.freeze()
    try:
        return asyncio.run(serve(application, settings))
    finally:
        store.close()
