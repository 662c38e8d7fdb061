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
        self._threads = threads
        self._gathered: dict[Callable[..., Any], list[tuple[Any, asyncio.Future[Any]]]] = {}
        self._flushing: dict[Callable[..., Any], set[asyncio.Task[None]]] = {}

    async def run(self, call: Callable[..., T], *args: Any) -> T:
        """`call(*args)` on a store thread; TimeoutError when it takes longer than the timeout (the
        thread finishes on its own; the caller retries later)."""
        future = asyncio.get_running_loop().run_in_executor(self._pool, partial(call, *args))
        return await asyncio.wait_for(future, self.timeout)

    async def together(self, call_many: Callable[[list[Any]], list[Any]], item: Any) -> Any:
        """`call_many([item, …])[i]` for this item, gathered with the items other tasks submit while
        the store's threads are all busy with such calls: under load many commits become one
        transaction each thread, idle a commit goes at once. A result that is an exception is
        raised to its own caller only."""
        future = asyncio.get_running_loop().create_future()
        self._gathered.setdefault(call_many, []).append((item, future))
        flushing = self._flushing.setdefault(call_many, set())
        if len(flushing) < self._threads:
            flushing.add(asyncio.create_task(self._flush(call_many)))
        return await asyncio.wait_for(asyncio.shield(future), self.timeout)

    async def _flush(self, call_many: Callable[[list[Any]], list[Any]]) -> None:
        try:
            await self._flush_all(call_many)
        finally:  # with no await after the last look at the queue: nothing can be left behind
            self._flushing[call_many].discard(asyncio.current_task())  # type: ignore[arg-type]

    async def _flush_all(self, call_many: Callable[[list[Any]], list[Any]]) -> None:
        while batch := self._gathered.pop(call_many, []):
            try:
                results = await self.run(call_many, [item for item, _ in batch])
            except Exception as error:  # the database: every caller of this batch hears it
                results = [error] * len(batch)
            for (_, future), result in zip(batch, results, strict=True):
                if future.done():
                    continue
                if isinstance(result, Exception):
                    future.set_exception(result)
                else:
                    future.set_result(result)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        self.store.close()
