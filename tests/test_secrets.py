"""The token is never printed: not in log records or the tracebacks they carry, not in uncaught
exceptions, not in error lines. The probe found it in a malformed-URL traceback
(…/bot123456:SECRET/getMe, four times) and in the "Network Retry Loop" traceback of a rejected token."""

from __future__ import annotations

import dataclasses
import io
import logging
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from bot.redact import protect
from tests.bot_process import TOKEN, BotProcess, environment
from tests.conftest import ROOT, settings_for
from tests.fake_telegram import FakeTelegram

SECRET_PART = TOKEN.partition(":")[2]


@pytest.fixture(autouse=True)
def protected() -> None:
    protect(TOKEN)


def test_a_logged_traceback_never_shows_the_token_at_any_level() -> None:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    log = logging.getLogger("tests.secrets")
    log.addHandler(handler)
    log.setLevel(logging.DEBUG)
    try:
        try:
            raise ConnectionError(f"cannot connect to http://127.0.0.1/bot{TOKEN}/getMe")
        except ConnectionError:
            log.debug("failed: %s", f"/bot{TOKEN}/getMe", exc_info=True)
            log.exception("failed again", stack_info=True)
    finally:
        log.removeHandler(handler)
    printed = out.getvalue()
    assert "Traceback" in printed and "getMe" in printed
    assert SECRET_PART not in printed


def test_uncaught_exceptions_in_any_thread_are_printed_without_the_token(capsys) -> None:
    try:
        raise RuntimeError(f"The token `{TOKEN}` was rejected by the server.")
    except RuntimeError as error:
        sys.excepthook(type(error), error, error.__traceback__)

    def crash() -> None:
        raise ValueError(f"/bot{TOKEN}/getUpdates")

    thread = threading.Thread(target=crash)
    thread.start()
    thread.join()
    printed = capsys.readouterr().err
    assert printed.count("Traceback") == 2 and "was rejected" in printed and "getUpdates" in printed
    assert SECRET_PART not in printed


async def test_a_url_the_http_client_rejects_is_reported_without_the_token(brain, tmp_path: Path, caplog) -> None:
    """Past the start-up check (as if it let one through): every log line, at DEBUG too."""
    from bot.sql_store import SqliteStore
    from bot.startup import connect
    from bot.telegram_app import TelegramBot

    caplog.set_level(logging.DEBUG)
    settings = dataclasses.replace(settings_for(tmp_path, "http:///bot"), token=TOKEN)
    telegram = TelegramBot(settings, brain, SqliteStore(tmp_path / "data"))
    tries: list[float] = []

    async def wait(seconds: float) -> bool:
        tries.append(seconds)
        return len(tries) < 3

    assert not await connect(telegram.start, wait)
    await telegram.stop()
    assert "cannot reach Telegram" in caplog.text and "getMe" in caplog.text, "the failing URL is shown…"
    assert SECRET_PART not in caplog.text, "…without the token"


def test_a_malformed_api_address_is_one_line_without_the_token(tmp_path: Path) -> None:
    env = environment(tmp_path / "data", f"http//127.0.0.1:8081/bot{TOKEN}")
    done = subprocess.run([sys.executable, "-m", "bot", "run"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [done.stderr.strip()], "one line"
    assert "TELEGRAM_API_BASE_URL" in done.stderr and "Traceback" not in done.stderr
    assert SECRET_PART not in done.stderr + done.stdout


async def test_a_rejected_token_is_one_line_without_the_token(fake: FakeTelegram, tmp_path: Path) -> None:
    fake.inject("getMe", "401")
    bot = BotProcess(environment(tmp_path / "data", fake.base_url), tmp_path)
    try:
        assert await bot.exits() == 2
    finally:
        bot.kill()
    lines = bot.stderr.strip().splitlines()
    assert len(lines) == 1 and "Telegram rejected TELEGRAM_BOT_TOKEN (Unauthorized)" in lines[0] and "@BotFather" in lines[0]
    assert SECRET_PART not in bot.stderr


def test_a_crash_prints_its_traceback_without_the_token(tmp_path: Path) -> None:
    crash = (
        "import bot.service as t\n"
        "def run(settings): raise RuntimeError(f'crashed while using {settings.token}')\n"
        "t.run_telegram = run\n"
        "from bot.cli import main\n"
        "raise SystemExit(main(['run']))\n"
    )
    env = environment(tmp_path / "data", None)
    done = subprocess.run([sys.executable, "-c", crash], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert "Traceback" in done.stderr and "crashed while using [token]" in done.stderr
    assert SECRET_PART not in done.stderr
