"""Start-up that explains itself. The probe found a 217-line traceback and an exit without network,
raw tracebacks for a corrupt database or an unusable data folder, and a second poller with the
same token looping forever on "update failed: Conflict". Now: no network is retried with one line
a minute; what the configuration gets wrong is one line saying what to do, exit code 2."""

from __future__ import annotations

import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from telegram.error import NetworkError

from bot import startup
from tests.bot_process import BotProcess, environment, until_true
from tests.conftest import ROOT
from tests.fake_telegram import FakeTelegram


def _run(env: dict[str, str], *args: str, prefix: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    return subprocess.run([*prefix, sys.executable, "-m", "bot", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def _one_line(done: subprocess.CompletedProcess, *words: str) -> None:
    """Exit code 2 and a single line, no traceback, that says `words`."""
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("cannot start: "), done.stderr
    assert all(word in lines[0] for word in words), lines[0]


class Lines(logging.Handler):
    """Keeps what is logged."""

    def __init__(self) -> None:
        super().__init__()
        self.said: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.said.append(record.getMessage())


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_without_a_network_it_retries_saying_so_once_then_connects(brain, tmp_path: Path) -> None:
    port = _free_port()  # nothing listens there yet: connection refused, as with no network
    bot = BotProcess(environment(tmp_path / "data", f"http://127.0.0.1:{port}/bot"), tmp_path)
    fake = None
    try:
        await bot.printed("cannot reach Telegram")
        assert bot.proc.poll() is None, "still running, retrying"
        fake = FakeTelegram(port).start()  # the network is back
        fake.send_text(7501, "how long should i ice my back")
        await bot.printed("long polling started", seconds=120)
        await until_true(lambda: bool(fake.sent(7501)), 300)
        bot.proc.send_signal(signal.SIGTERM)
        assert await bot.exits() == 0
    finally:
        bot.kill()
        if fake:
            fake.stop()
    assert bot.stderr.count("cannot reach Telegram") == 1, "one line a minute, not one per try"
    assert "Traceback" not in bot.stderr


async def test_connecting_says_so_once_a_minute_and_backs_off() -> None:
    clock = [0.0]
    waits: list[float] = []

    async def step() -> None:
        raise NetworkError("Cannot connect to host")

    async def wait(seconds: float) -> bool:
        waits.append(seconds)
        clock[0] += seconds
        return clock[0] < 600

    lines = Lines()
    startup.logger.addHandler(lines)
    try:
        assert not await startup.connect(step, wait, clock=lambda: clock[0])
    finally:
        startup.logger.removeHandler(lines)
    assert waits[:4] == [1.0, 2.0, 4.0, 8.0] and max(waits) == startup.RETRY_MAX, "back-off, capped"
    assert 9 <= len(lines.said) <= 11, f"about one line a minute over ten minutes, not {len(lines.said)}"


async def test_a_second_poller_for_a_moment_is_waited_out(fake: FakeTelegram, tmp_path: Path) -> None:
    """During a rolling deploy the old process polls a few seconds more."""
    fake.inject("getUpdates", "409", "409")
    bot = BotProcess(environment(tmp_path / "data", fake.base_url), tmp_path)
    try:
        await until_true(lambda: len(fake.injected) == 2, 300)
        fake.send_text(7801, "how long should i ice my back")
        await until_true(lambda: fake.sent(7801), 300)
        assert bot.proc.poll() is None
    finally:
        bot.kill()


@pytest.mark.slow
async def test_a_second_poller_that_stays_stops_this_one_with_one_line(fake: FakeTelegram, tmp_path: Path) -> None:
    fake.inject("getUpdates", *["409"] * 200)
    bot = BotProcess(environment(tmp_path / "data", fake.base_url), tmp_path)
    try:
        assert await bot.exits() == 2
    finally:
        bot.kill()
    assert "another instance of this bot is polling with the same token" in bot.stderr
    assert "Traceback" not in bot.stderr and "update failed" not in bot.stderr


def test_a_corrupt_database_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "bot.sqlite3").write_bytes(b"not a database, " * 500)
    _one_line(_run(environment(tmp_path / "data", None), "run"), "bot.sqlite3", "damaged", "move it aside")


def test_a_corrupt_database_shows_its_traceback_with_debug(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "bot.sqlite3").write_bytes(b"not a database, " * 500)
    done = _run(environment(tmp_path / "data", None), "run", "--debug")
    assert done.returncode == 2 and "Traceback" in done.stderr and "cannot start:" in done.stderr.strip().splitlines()[-1]


def test_a_data_folder_that_is_a_file_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "data").write_text("a file")
    _one_line(_run(environment(tmp_path / "data", None), "run"), "BOT_DATA_DIR", "not a folder")


def test_a_bad_port_or_token_is_one_line(tmp_path: Path) -> None:
    _one_line(_run(environment(tmp_path / "data", None, PORT="https"), "run"), "PORT")
    _one_line(_run({**environment(tmp_path / "data", None), "TELEGRAM_BOT_TOKEN": "my token"}, "run"), "TELEGRAM_BOT_TOKEN", "@BotFather")


ROOT_ONLY = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to stage it")


@ROOT_ONLY
@pytest.mark.skipif(not shutil.which("unshare"), reason="needs unshare")
def test_a_read_only_data_folder_is_one_line(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    mount = f"mount --bind {data} {data} && mount -o remount,ro,bind {data} && exec \"$@\""
    done = _run(environment(data, None), "run", prefix=("unshare", "-m", "sh", "-c", mount, "sh"))
    _one_line(done, "BOT_DATA_DIR", "Read-only file system")


@ROOT_ONLY
@pytest.mark.skipif(not shutil.which("setpriv"), reason="needs setpriv")
def test_a_data_folder_owned_by_someone_else_is_one_line(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    shutil.chown(data, "nobody")
    # root without its capabilities meets permissions as any other user does
    done = _run(environment(data, None), "run", prefix=("setpriv", "--inh-caps=-all", "--bounding-set=-all"))
    _one_line(done, "BOT_DATA_DIR", "Operation not permitted", "chown")
