"""Several webhook workers behind a load balancer, sharing one database (SQLite on one disk, or
PostgreSQL): each update goes to a worker picked at random, as a balancer would, while users go
through /triage. No answer is lost, no question is sent twice, and every user gets one plan."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from bot.webhook import HEALTH, PATH, derive_secret
from tests.bot_process import TOKEN, BotProcess, environment
from tests.conftest import until
from tests.fake_telegram import FakeTelegram
from tests.patients import Patients

USERS = range(50_000, 50_016)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh PostgreSQL database on the test server: update ids start at 1 again in each test."""
    import psycopg

    base = request.getfixturevalue("postgres_url")
    name = f"workers_{tmp_path.name.lower().replace('-', '_')}"[:60]
    with psycopg.connect(base, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    yield base.rsplit("/", 1)[0] + "/" + name
    with psycopg.connect(base, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def healthy(port: int) -> bool:
    try:
        async with aiohttp.ClientSession() as session, session.get(f"http://127.0.0.1:{port}{HEALTH}") as response:
            return response.status == 200
    except aiohttp.ClientError:
        return False


@pytest.mark.slow
@pytest.mark.parametrize("workers", [2, 4])
@pytest.mark.parametrize("database", ["sqlite", "postgres"])
async def test_webhook_workers_sharing_a_database_lose_nothing_and_send_nothing_twice(
    workers: int, database: str, fake: FakeTelegram, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    extra = {"DATABASE_URL": request.getfixturevalue("database_url")} if database == "postgres" else {}
    ports = [free_port() for _ in range(workers)]
    procs = [
        BotProcess(environment(tmp_path / "data", fake.base_url, WEBHOOK_URL="https://bot.example.org", WEBHOOK_LISTEN="127.0.0.1",
                               PORT=str(port), **extra), tmp_path / f"w{i}")
        for i, port in enumerate(ports)
        if (tmp_path / f"w{i}").mkdir() is None
    ]
    try:
        for proc in procs:
            await proc.printed("webhook listening")
        assert all([await healthy(port) for port in ports])
        fake.webhooks = [f"http://127.0.0.1:{port}{PATH}" for port in ports]
        fake.webhook_secret = derive_secret(TOKEN)
        patients = Patients(fake, USERS)
        patients.start()
        await until(patients.step, seconds=240)
    finally:
        for proc in procs:
            proc.kill()
    assert all("Traceback" not in proc.stderr for proc in procs)
    assert all(fake.accepted.get(url, 0) > 10 for url in fake.webhooks), f"every worker took its share: {fake.accepted}"
    patients.assert_whole()
