"""An aiohttp transport for python-telegram-bot (its `BaseRequest` interface).

Measured with `benchmarks/load.py`: under load the bot spends most of its CPU in the HTTP client
(httpx + httpcore + anyio); aiohttp's client does the same work with less (docs/PERFORMANCE.md: Load).
"""

from __future__ import annotations

from typing import Any

import aiohttp
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

FORM_BODY = {"Content-Type": "application/x-www-form-urlencoded"}
#: "Not given": the library's public marker for a timeout left to the request's default.
DEFAULT_NONE = BaseRequest.DEFAULT_NONE
#: A timeout as the library passes it: seconds, None (no limit), or DEFAULT_NONE.
Timeout = Any


class AiohttpRequest(BaseRequest):
    """One aiohttp session with a bounded connection pool."""

    def __init__(self, connections: int = 256, read_timeout: float | None = 5.0, connect_timeout: float | None = 5.0) -> None:
        self._connections = connections
        self._read_timeout = read_timeout
        self._connect_timeout = connect_timeout
        self._session: aiohttp.ClientSession | None = None

    @property
    def read_timeout(self) -> float | None:
        return self._read_timeout

    async def initialize(self) -> None:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=self._connections)
            self._session = aiohttp.ClientSession(connector=connector, headers={"User-Agent": self.USER_AGENT})

    async def shutdown(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Timeout = DEFAULT_NONE,
        write_timeout: Timeout = DEFAULT_NONE,
        connect_timeout: Timeout = DEFAULT_NONE,
        pool_timeout: Timeout = DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        if self._session is None or self._session.closed:
            raise RuntimeError("AiohttpRequest is not initialized")
        read = self._read_timeout if read_timeout is DEFAULT_NONE else read_timeout
        connect = self._connect_timeout if connect_timeout is DEFAULT_NONE else connect_timeout
        timeout = aiohttp.ClientTimeout(sock_read=read, sock_connect=connect)
        data: aiohttp.FormData | bytes | None = None
        headers = None
        if request_data is not None and request_data.contains_files:
            data = aiohttp.FormData(request_data.json_parameters)
            for name, (filename, content, mimetype) in request_data.multipart_data.items():
                data.add_field(name, content, filename=filename, content_type=mimetype)
        elif request_data is not None:
            # The same form body the library's own client sends, so every Bot API server (and
            # stand-in) that serves python-telegram-bot serves this too; encoded here in one call,
            # which costs a third of what aiohttp's FormData does.
            data, headers = request_data.url_encoded_parameters().encode(), FORM_BODY
        try:
            async with self._session.request(method, url, data=data, headers=headers, timeout=timeout) as response:
                return response.status, await response.read()
        except TimeoutError as error:
            raise TimedOut from error
        except aiohttp.ClientError as error:
            raise NetworkError(f"aiohttp.{type(error).__name__}: {error}") from error
