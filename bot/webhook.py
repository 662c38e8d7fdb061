"""The webhook: Telegram POSTs each update here; it is kept in the inbox before the 200 that tells
Telegram it arrived (a 503 when it cannot be kept: Telegram sends it again later).

Not python-telegram-bot's own webhook server, which reads every body whole before it looks at
the secret, and bounds neither the connections nor how long a client may take. This one runs on
aiohttp's low-level server and refuses abuse before it costs anything:

- the secret header is checked before a byte of the body is read, and a refused body is never
  read (the connection is closed instead);
- a body over `Limits.max_body` (1 MB; Telegram's updates are a few KB) is refused unread;
- a client gets `header_timeout` seconds to send its headers and `body_timeout` for its body;
- at most `Limits.connections` connections stay open: a new one closes the oldest, so slow
  clients cannot hold every slot and Telegram's requests (which send at once) still get in.

A reverse proxy in front does the same at the edge (docs/HARDENING.md). `GET /healthz` answers
200 while the bot can reach its database (a load balancer's or container's health check).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from bot.errors import StartupError
from bot.telegram_app import is_update

PATH = "/telegram"
HEALTH = "/healthz"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


@dataclass(frozen=True)
class Limits:
    """What one client may cost. Telegram opens at most 40 connections (setWebhook's default)."""

    max_body: int = 1 << 20
    header_timeout: float = 10.0
    body_timeout: float = 10.0
    connections: int = 100
    #: Connections accepted per turn of the event loop (and the kernel's queue): a few turns pass
    #: before a connection over the bound is closed, so this keeps the open files near the bound.
    backlog: int = 64


def derive_secret(token: str) -> str:
    """The secret when WEBHOOK_SECRET is unset: every worker with this token derives the same
    one, and it does not reveal the token (an HMAC of it)."""
    return hmac.new(token.encode(), b"backspasm-bot webhook secret", hashlib.sha256).hexdigest()


class WebhookServer:
    """Serves POST /telegram: `receive` keeps an update and says whether it could."""

    def __init__(
        self, receive: Callable[[list[Any]], Awaitable[bool]], secret: str, healthy: Callable[[], Awaitable[bool]] | None = None,
        limits: Limits = Limits(),
    ) -> None:
        self.limits = limits
        self._receive = receive
        self._healthy = healthy
        self.secret = secret
        # keepalive_timeout also runs from the moment a connection opens until its request's
        # headers are complete: it is the header timeout. lingering_time=0: never drain a body.
        self._server = web.Server(self._handle, keepalive_timeout=limits.header_timeout, lingering_time=0, access_log=None)
        self._listener: asyncio.Server | None = None

    @property
    def port(self) -> int:
        """The port listened on (the one the OS picked, when asked for 0)."""
        assert self._listener is not None
        return self._listener.sockets[0].getsockname()[1]

    async def start(self, host: str, port: int) -> None:
        try:
            self._listener = await asyncio.get_running_loop().create_server(self._connection, host, port, backlog=self.limits.backlog)
        except OSError as error:
            where = f"{host}:{port}"
            raise StartupError(f"cannot listen on {where} ({error.strerror}): set WEBHOOK_LISTEN and PORT to a free address") from error

    async def stop(self) -> None:
        if self._listener is not None:
            self._listener.close()
            await self._server.shutdown(1.0)
            await self._listener.wait_closed()

    def _connection(self) -> asyncio.BaseProtocol:
        """A new connection; at the bound, the oldest ones are closed to make room (a slow client,
        or an idle keep-alive connection, which Telegram simply opens again)."""
        open_ = self._server.connections
        for oldest in open_[: max(0, len(open_) - self.limits.connections + 1)]:
            oldest.force_close()
        return self._server()

    async def _handle(self, request: web.BaseRequest) -> web.StreamResponse:
        if request.method == "GET" and request.path == HEALTH and self._healthy:
            return web.Response(status=200 if await self._healthy() else 503)
        if request.method != "POST" or request.path != PATH:
            return _refuse(404)
        if not hmac.compare_digest(request.headers.get(SECRET_HEADER, "").encode(), self.secret.encode()):
            return _refuse(403)
        length = request.content_length
        if length is None:
            return _refuse(411)  # Telegram always says how long its body is
        if length > self.limits.max_body:
            return _refuse(413)
        try:
            async with asyncio.timeout(self.limits.body_timeout):
                body = await request.content.readexactly(length)
            update = _object(json.loads(body))
        except TimeoutError:
            return _refuse(408)
        except (asyncio.IncompleteReadError, ValueError, TypeError):
            return _refuse(400)
        return web.Response() if await self._receive([update]) else web.Response(status=503)


def _object(data: object) -> dict[str, Any]:
    """A JSON object with an update_id; any other JSON is not an update."""
    if not is_update(data):
        raise TypeError("an update is a JSON object with an update_id")
    return data


def _refuse(status: int) -> web.Response:
    """A refusal that also closes the connection, so whatever body follows is never read."""
    response = web.Response(status=status)
    response.force_close()
    return response
