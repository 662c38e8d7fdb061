"""Shared fixtures: the content is loaded once; every test gets a fresh conversation store."""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from bot.brain import Brain
from bot.dialogue import Dialogue
from bot.settings import Settings
from bot.storage import MemoryStore, SqliteStore
from tests.fake_telegram import FakeTelegram

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"
_users = itertools.count(100)


def settings_for(data_dir: Path, base_url: str | None = None) -> Settings:
    return Settings(
        token="123456:TEST-TOKEN-never-logged" if base_url else None,
        api_base_url=base_url,
        data_dir=data_dir,
        emergency_number=None,
        urgent_number=None,
        crisis_line=None,
        webhook_url=None,
        webhook_secret=None,
        listen="127.0.0.1",
        port=0,
    )


@pytest.fixture(scope="session")
def brain() -> Brain:
    return Brain.load(settings_for(Path("unused")))


@pytest.fixture
def dialogue(brain: Brain) -> Dialogue:
    return Dialogue(brain, MemoryStore())


@pytest.fixture
def user() -> int:
    return next(_users)


@pytest.fixture
def fake() -> Iterator[FakeTelegram]:
    server = FakeTelegram().start()
    yield server
    server.stop()


async def until(predicate, seconds: float = 20.0) -> None:
    """Wait, without blocking the bot's event loop, until `predicate()` holds."""
    import asyncio

    for _ in range(int(seconds / 0.05)):
        if predicate():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("timed out")


class RunningBot:
    """The real Application polling the fake server, with its store under a test folder."""

    def __init__(
        self, brain: Brain, fake: FakeTelegram, data_dir: Path, timeout: float | None = None, telegram_limits: bool = True, http: str = "aiohttp"
    ) -> None:
        from bot.telegram_app import build_application

        self.settings = dataclasses.replace(settings_for(data_dir, fake.base_url), http=http)
        self.store = SqliteStore(data_dir)
        self.dialogue = Dialogue(brain, self.store)
        self.app = build_application(self.settings, self.dialogue, timeout=timeout, telegram_limits=telegram_limits)

    async def start(self) -> None:
        await self.app.initialize()
        if self.app.post_init:
            await self.app.post_init(self.app)
        await self.app.start()
        await self.app.updater.start_polling(poll_interval=0.0, timeout=1)

    async def stop(self) -> None:
        await self.app.updater.stop()
        await self.app.stop()
        await self.app.shutdown()
        self.store.close()

    async def __aenter__(self) -> RunningBot:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


@pytest.fixture
async def running(brain: Brain, fake: FakeTelegram, tmp_path: Path) -> AsyncIterator[RunningBot]:
    async with RunningBot(brain, fake, tmp_path / "data") as bot:
        yield bot
