"""Database calls off the event loop: each runs on a worker thread and is given up after a
timeout, so a locked, slow or broken database never stalls a reply (the red-flag ones least)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any, TypeVar

from bot.storage import Store

T = TypeVar("T")


class Offloaded:
    """A `Store` whose calls are awaited: `await db.run(db.store.read, user_id)`."""

    def __init__(self, store: Store, threads: int = 1, timeout: float = 5.0) -> None:
        self.store = store
        self.timeout = timeout
        # One thread suits SQLite (one writer at a time anyway); PostgreSQL gets a few.
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="store")

    async def run(self, call: Callable[..., T], *args: Any) -> T:
        """`call(*args)` on a store thread; TimeoutError when it takes longer than the timeout (the
        thread finishes on its own; the caller retries later)."""
        future = asyncio.get_running_loop().run_in_executor(self._pool, partial(call, *args))
        return await asyncio.wait_for(future, self.timeout)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        self.store.close()
