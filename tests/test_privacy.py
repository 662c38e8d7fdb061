"""Privacy and security: no words, names or token in logs; an owner-only database; /forget
removes every row; the webhook refuses requests without its secret; floods are throttled."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import sqlite3
import stat
from pathlib import Path

import httpx
import pytest

from tests.conftest import RunningBot, settings_for, until
from tests.fake_telegram import FakeTelegram

SECRET_WORDS = "my husband Bartholomew cannot feel when he wipes"



@pytest.mark.parametrize("level", [logging.INFO, logging.DEBUG])
async def test_logs_hold_no_message_text_name_or_token(brain, fake: FakeTelegram, tmp_path: Path, caplog, level: int) -> None:
    caplog.set_level(level)
    if level == logging.DEBUG:
        # At DEBUG the libraries log request parameters (message text); the token must still never show.
        logging.getLogger("httpx").setLevel(logging.DEBUG)
    async with RunningBot(brain, fake, tmp_path / "data") as bot:
        fake.send_text(7301, SECRET_WORDS)
        fake.send_text(7301, "/triage")
        await until(lambda: len(fake.sent(7301)) >= 2)
        fake.press(7301, "tr:urine:no")
        await until(lambda: len(fake.sent(7301)) >= 3)
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert logged, "something was logged"
    assert bot.settings.token not in logged and "TEST-TOKEN" not in logged
    if level == logging.INFO:
        assert "Bartholomew" not in logged and "wipes" not in logged and "Pat" not in logged


def test_database_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    from bot.storage import SqliteStore

    store = SqliteStore(tmp_path / "data")
    store.save(1, {"flow": {"step": "urine"}}, 0.0)
    mode = stat.S_IMODE(os.stat(store.path).st_mode)
    assert mode == 0o600
    assert stat.S_IMODE(os.stat(tmp_path / "data").st_mode) == 0o700


def test_store_keeps_no_message_text(dialogue, user, tmp_path: Path) -> None:
    from bot.dialogue import Dialogue
    from bot.storage import SqliteStore

    store = SqliteStore(tmp_path / "d")
    talk = Dialogue(dialogue.brain, store)
    talk.handle_text(user, "/triage")
    talk.handle_text(user, "my neighbour Agatha says heat is best, what do you think")
    raw = store.path.read_bytes() + (store.path.with_name(store.path.name + "-wal").read_bytes() if store.path.with_name(store.path.name + "-wal").exists() else b"")
    assert b"Agatha" not in raw


async def test_forget_removes_every_row_about_the_user(running: RunningBot, fake: FakeTelegram) -> None:
    fake.send_text(7302, "/triage")
    await until(lambda: len(fake.sent(7302)) >= 1)
    fake.send_text(7303, "/triage")
    await until(lambda: len(fake.sent(7303)) >= 1)
    fake.send_text(7302, "/forget")
    await until(lambda: len(fake.sent(7302)) >= 2)
    rows = sqlite3.connect(running.store.path).execute("SELECT user_id FROM user_state").fetchall()
    assert (7302,) not in rows and (7303,) in rows


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_webhook_refuses_requests_without_the_secret_and_never_runs_them(brain, fake: FakeTelegram, tmp_path: Path) -> None:
    from bot.dialogue import Dialogue
    from bot.storage import SqliteStore
    from bot.telegram_app import build_application

    settings = settings_for(tmp_path / "data", fake.base_url)
    app = build_application(settings, Dialogue(brain, SqliteStore(settings.data_dir)))
    port = _free_port()
    update = {"update_id": 1, "message": {"message_id": 1, "date": 0, "chat": {"id": 7304, "type": "private"},
                                          "from": {"id": 7304, "is_bot": False, "first_name": "Pat"}, "text": "how long should i ice my back"}}
    await app.initialize()
    await app.start()
    await app.updater.start_webhook(listen="127.0.0.1", port=port, url_path="telegram", secret_token="s3cret",
                                    webhook_url=f"http://127.0.0.1:{port}/telegram")
    try:
        async with httpx.AsyncClient() as client:
            url = f"http://127.0.0.1:{port}/telegram"
            refused = await client.post(url, json=update)
            wrong = await client.post(url, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": "guess"})
            assert (refused.status_code, wrong.status_code) == (403, 403)
            await asyncio.sleep(0.5)
            assert fake.sent(7304) == [], "a refused update never runs"
            accepted = await client.post(url, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": "s3cret"})
            assert accepted.status_code == 200
            await until(lambda: len(fake.sent(7304)) == 1)
    finally:
        await app.updater.stop()
        await app.stop()
        await app.shutdown()


async def test_a_flood_is_throttled_politely_without_slowing_others(running: RunningBot, fake: FakeTelegram) -> None:
    flooder, other = 7305, 7306
    for i in range(100):
        fake.send_text(flooder, f"how long should i ice my back {i}")
    fake.send_text(other, "when can i switch to heat")
    await until(lambda: len(fake.sent(other)) == 1, seconds=5)
    await asyncio.sleep(1.0)
    sent = fake.sent(flooder)
    assert len(sent) < 20, "the flood is not answered message by message"
    assert sum("very fast" in m["text"] for m in sent) == 1, "one polite note"
    fake.send_text(flooder, "i wet myself")
    await until(lambda: "999" in fake.sent(flooder)[-1]["text"], seconds=5)
