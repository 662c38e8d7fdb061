"""A webhook that holds. The probe sent six 90 MB bodies without the secret (read whole: 64 → 494 MB)
and 1,100 slow half-open connections (never timed out; real updates timed out behind them; 31 MB
of "Too many open files" tracebacks). Here the secret is checked before the body, big bodies are
refused unread, slow clients time out, and the connections are bounded without locking Telegram out."""

from __future__ import annotations

import asyncio
import json
import resource
import signal
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import aiohttp
import pytest

from bot.sql_store import SqliteStore
from bot.telegram_app import TelegramBot
from bot.webhook import PATH, SECRET_HEADER, Limits, WebhookServer, derive_secret
from tests.bot_process import TOKEN, BotProcess, environment, until_true
from tests.conftest import settings_for, until
from tests.fake_telegram import FakeTelegram

SECRET = "s3cret-for-tests"
MB = 1 << 20

Serve = Callable[..., Awaitable[WebhookServer]]


def update(user: int, text: str = "how long should i ice my back") -> bytes:
    message = {"message_id": 1, "date": 0, "chat": {"id": user, "type": "private"},
               "from": {"id": user, "is_bot": False, "first_name": "Pat"}, "text": text}
    return json.dumps({"update_id": user, "message": message}).encode()


@pytest.fixture
async def serve(brain, fake: FakeTelegram, tmp_path: Path) -> AsyncIterator[Serve]:
    """Start the webhook (with the given limits) in front of the real bot."""
    settings = settings_for(tmp_path / "data", fake.base_url)
    telegram = TelegramBot(settings, brain, SqliteStore(settings.data_dir))
    await telegram.start()
    servers: list[WebhookServer] = []

    async def start(limits: Limits | None = None) -> WebhookServer:
        server = WebhookServer(telegram.receive, SECRET, limits=limits or Limits())
        await server.start("127.0.0.1", 0)
        servers.append(server)
        return server

    yield start
    for server in servers:
        await server.stop()
    await telegram.stop()


def head(length: int, secret: str | None = None) -> bytes:
    lines = [f"POST {PATH} HTTP/1.1", "Host: bot", "Content-Type: application/json", f"Content-Length: {length}"]
    lines += [f"{SECRET_HEADER}: {secret}"] if secret else []
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def post(port: int, body: bytes, secret: str | None = SECRET) -> int:
    headers = {SECRET_HEADER: secret} if secret else {}
    async with aiohttp.ClientSession() as session, session.post(f"http://127.0.0.1:{port}{PATH}", data=body, headers=headers) as response:
        return response.status


async def test_only_updates_with_the_secret_are_run(serve: Serve, fake: FakeTelegram) -> None:
    server = await serve()
    assert await post(server.port, update(7601), secret=None) == 403
    assert await post(server.port, update(7601), secret="guess") == 403
    assert await post(server.port, update(7602)) == 200
    await until(lambda: len(fake.sent(7602)) == 1)
    assert fake.sent(7601) == [], "a refused update never runs"
    assert await post(server.port, b"[1, 2]") == 400 and await post(server.port, b"{not json") == 400


async def _refused_unread(port: int, request: bytes, length: int) -> bytes:
    """Send `request`; its answer's status line, which comes before the body is sent, and then
    the server closes the connection before taking the whole body (a server reading it would
    take all `length` bytes)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    status = await asyncio.wait_for(reader.readline(), 60)
    chunk, sent = b"x" * (64 * 1024), 0
    with pytest.raises(ConnectionError):
        while sent < length:
            writer.write(chunk)
            await asyncio.wait_for(writer.drain(), 60)
            sent += len(chunk)
    writer.close()
    return status


async def test_the_secret_is_checked_before_a_byte_of_the_body_is_read(serve: Serve) -> None:
    server = await serve()
    answer = await _refused_unread(server.port, head(90 * MB), 90 * MB)
    assert answer.startswith(b"HTTP/1.1 403")


async def test_a_body_over_one_megabyte_is_refused_unread(serve: Serve) -> None:
    server = await serve()
    answer = await _refused_unread(server.port, head(2 * MB, SECRET), 2 * MB)
    assert answer.startswith(b"HTTP/1.1 413")


async def test_a_client_slow_to_send_its_headers_is_cut_off(serve: Serve) -> None:
    server = await serve(Limits(header_timeout=0.5))
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(b"POST /telegram HTTP/1.1\r\nHost: b")
    assert await asyncio.wait_for(reader.read(), 60) == b"", "closed without an answer"
    writer.close()


async def test_a_client_slow_to_send_its_body_is_cut_off(serve: Serve) -> None:
    server = await serve(Limits(body_timeout=0.5))
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(head(100, SECRET) + b"{")
    assert (await asyncio.wait_for(reader.read(), 60)).startswith(b"HTTP/1.1 408")
    writer.close()


async def test_slow_clients_holding_every_connection_cannot_lock_telegram_out(serve: Serve, fake: FakeTelegram) -> None:
    server = await serve(Limits(connections=20, header_timeout=600))  # the header timeout alone would not help
    slow = []
    for _ in range(60):
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"POST /telegram HTTP/1.1\r\nHost: b")
        slow.append((reader, writer))
    await until(lambda: sum(r.at_eof() for r, _ in slow) >= 40)  # the oldest made room
    assert await asyncio.wait_for(post(server.port, update(7603)), 60) == 200
    await until(lambda: len(fake.sent(7603)) == 1)
    for _, writer in slow:
        writer.close()


def test_without_webhook_secret_every_worker_derives_the_same_secret_not_the_token() -> None:
    secret = derive_secret(TOKEN)
    assert secret == derive_secret(TOKEN) != derive_secret(TOKEN + "x")
    assert TOKEN.partition(":")[2] not in secret and len(secret) <= 256 and secret.isalnum()


async def test_the_bot_process_registers_and_serves_its_webhook(fake: FakeTelegram, tmp_path: Path) -> None:
    """With a file-descriptor limit low enough that 800 idle connections would exhaust it, had
    they been kept: they are not, nothing is logged about them, and updates still get through."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = environment(tmp_path / "data", fake.base_url, WEBHOOK_URL="https://bot.example", WEBHOOK_LISTEN="127.0.0.1", PORT=str(port))
    low = (512, 512)
    bot = BotProcess(env, tmp_path, preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, low))
    idle: list[socket.socket] = []
    try:
        await bot.printed("webhook listening")
        registered = fake.calls_to("setWebhook")[-1]
        assert registered["url"] == "https://bot.example/telegram" and registered["secret_token"] == derive_secret(TOKEN)
        for _ in range(800):
            idle.append(socket.create_connection(("127.0.0.1", port)))
        headers = {SECRET_HEADER: derive_secret(TOKEN)}
        async with aiohttp.ClientSession() as session:
            async def accepted() -> int:
                async with session.post(f"http://127.0.0.1:{port}{PATH}", data=update(7604), headers=headers) as response:
                    return response.status
            assert await asyncio.wait_for(accepted(), 60) == 200
        await until_true(lambda: len(fake.sent(7604)) == 1, 60)
        bot.proc.send_signal(signal.SIGTERM)
        assert await bot.exits() == 0
    finally:
        for sock in idle:
            sock.close()
        bot.kill()
    assert "Too many open files" not in bot.stderr and "Traceback" not in bot.stderr
