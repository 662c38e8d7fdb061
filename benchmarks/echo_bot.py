"""The cheapest bot on the load harness: a minimal python-telegram-bot echo bot, the floor that
`benchmarks/load.py` measures the real bot against on the same machine in the same run.

    TELEGRAM_BOT_TOKEN=123:abc TELEGRAM_API_BASE_URL=http://127.0.0.1:8081/bot python benchmarks/echo_bot.py

Long polling, `concurrent_updates(256)`, no rate limiter, the library's own HTTP client (httpx,
pool of 256). Every update gets exactly one message back: a text is replied to with the same
text; a button press is answered (answerCallbackQuery) and then gets one message with its data.

ECHO_HTTP=aiohttp swaps in an aiohttp transport instead (the same few lines as the bot's
`bot/transport.py`, copied here so the floor does not depend on the code under test): with it,
bot/echo compares what the bot does per update, without the HTTP client's difference in it.
"""

from __future__ import annotations

import os

from telegram import Update
from telegram.ext import Application, CallbackQueryHandler, ContextTypes, MessageHandler, filters
from telegram.request import BaseRequest, RequestData


async def echo(update: Update, _: ContextTypes.DEFAULT_TYPE) -> None:
    if update.message is not None and update.message.text is not None:
        await update.message.reply_text(update.message.text)


async def pressed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query = update.callback_query
    if query is None or query.message is None:
        return
    await query.answer()
    await context.bot.send_message(query.message.chat.id, f"pressed {query.data}")


class AiohttpRequest(BaseRequest):
    """python-telegram-bot's transport interface over one aiohttp session (ECHO_HTTP=aiohttp)."""

    def __init__(self, connections: int) -> None:
        self._connections = connections
        self._session = None

    @property
    def read_timeout(self) -> float:
        return 15.0

    async def initialize(self) -> None:
        import aiohttp

        self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=self._connections))

    async def shutdown(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def do_request(self, url: str, method: str, request_data: RequestData | None = None, *_, **__) -> tuple[int, bytes]:
        assert self._session is not None
        body = request_data.url_encoded_parameters().encode() if request_data is not None else None
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        async with self._session.request(method, url, data=body, headers=headers) as response:
            return response.status, await response.read()


def main() -> None:
    base = os.environ.get("TELEGRAM_API_BASE_URL") or "https://api.telegram.org/bot"
    builder = Application.builder().token(os.environ["TELEGRAM_BOT_TOKEN"]).base_url(base)
    builder = builder.base_file_url(base.replace("/bot", "/file/bot")).concurrent_updates(256)
    if os.environ.get("ECHO_HTTP") == "aiohttp":
        builder = builder.request(AiohttpRequest(256)).get_updates_request(AiohttpRequest(2))
    application = builder.build()
    application.add_handler(MessageHandler(filters.TEXT, echo))
    application.add_handler(CallbackQueryHandler(pressed))
    application.run_polling(allowed_updates=Update.ALL_TYPES)  # stops on SIGINT/SIGTERM


if __name__ == "__main__":
    main()
