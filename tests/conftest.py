"""Shared fixtures: the content is loaded once; every test gets a fresh conversation store."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from bot.brain import Brain
from bot.dialogue import Dialogue
from bot.settings import Settings
from bot.sql_store import SqliteStore
from bot.storage import MemoryStore, Store
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
def content_copy(tmp_path: Path) -> Path:
    """A copy of every content file, to edit in a test (point BOT_CONTENT_DIR or load() at it)."""
    for name in ("faq.yaml", "messages.yaml", "language.yaml"):
        shutil.copy(ROOT / name, tmp_path / name)
    shutil.copytree(ROOT / "intents", tmp_path / "intents")
    shutil.copytree(ROOT / "flows", tmp_path / "flows")
    return tmp_path


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
    for _ in range(int(seconds / 0.05)):
        if predicate():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("timed out")


class RunningBot:
    """The real bot polling the fake server (bot/service.py's `run`), its store under a test folder."""

    def __init__(
        self, brain: Brain, fake: FakeTelegram, data_dir: Path, timeout: float | None = None, telegram_limits: bool = True,
        http: str = "aiohttp", store: Store | None = None,
    ) -> None:
        from bot.telegram_app import TelegramBot

        self.settings = dataclasses.replace(settings_for(data_dir, fake.base_url), http=http)
        self.telegram = TelegramBot(self.settings, brain, store or SqliteStore(data_dir), timeout=timeout, telegram_limits=telegram_limits)
        self.store = self.telegram.store
        self.dialogue = Dialogue(brain, self.store)
        self.fake = fake

    async def start(self) -> None:
        from bot.service import run

        self._stop = asyncio.Event()
        self._task = asyncio.create_task(run(self.telegram, self.settings, self._stop, long_poll=1))
        await until(lambda: any(method == "getUpdates" for method, _ in self.fake.calls) or self._task.done())

    def drained(self) -> bool:
        """Every update received so far handled and every reply delivered."""
        return self.telegram.idle and self.store.backlog() == (0, 0)

    async def stop(self) -> None:
        self._stop.set()
        await self._task

    async def __aenter__(self) -> RunningBot:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


@pytest.fixture
async def running(brain: Brain, fake: FakeTelegram, tmp_path: Path) -> AsyncIterator[RunningBot]:
    async with RunningBot(brain, fake, tmp_path / "data") as bot:
        yield bot


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A `postgresql://` DSN of a real, empty PostgreSQL database, for the whole session.

    $DATABASE_URL_TEST is used as is when set. Otherwise the tests start their own server (see
    tests/postgres_server.py) in a temporary folder, and stop it and remove the folder at the end.
    When that is impossible the PostgreSQL tests are skipped, except with CI=true, where they fail."""
    import os
    import shutil
    import tempfile

    from tests.postgres_server import PostgresUnavailable, start_postgres

    if os.environ.get("DATABASE_URL_TEST"):
        yield os.environ["DATABASE_URL_TEST"]
        return
    # As root the server runs as the 'postgres' user, who cannot enter pytest's 0700 /tmp/pytest-of-root.
    base = Path(tempfile.mkdtemp(prefix="pgtest-", dir="/tmp" if os.geteuid() == 0 and os.path.isdir("/tmp") else None))
    try:
        server = start_postgres(base)
    except PostgresUnavailable as e:
        reason = str(e)
        shutil.rmtree(base, ignore_errors=True)
    else:
        reason = None
    if reason is not None:  # outside the except clause, so that the report is just the reason
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL tests cannot be skipped on CI (CI=true): {reason}", pytrace=False)
        pytest.skip(f"PostgreSQL tests skipped: {reason}")
    try:
        yield server.url
    finally:
        server.stop()
