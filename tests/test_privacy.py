"""Privacy and security: no words, names or token in logs; an owner-only database; /forget
removes every row and leaves no copy on disk, and works in a flood too; floods are throttled.
The webhook is tested in test_webhook.py, the token in every output in test_secrets.py."""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import stat
from pathlib import Path

import pytest

from tests.conftest import RunningBot, until
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
    from bot.sql_store import SqliteStore

    store = SqliteStore(tmp_path / "data")
    store.save(1, {"flow": {"step": "urine"}}, 0.0)
    mode = stat.S_IMODE(os.stat(store.path).st_mode)
    assert mode == 0o600
    assert stat.S_IMODE(os.stat(tmp_path / "data").st_mode) == 0o700


def test_store_keeps_no_message_text(dialogue, user, tmp_path: Path) -> None:
    from bot.dialogue import Dialogue
    from bot.sql_store import SqliteStore

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


async def test_forget_leaves_no_copy_of_the_answers_in_the_database_or_its_log(running: RunningBot, fake: FakeTelegram) -> None:
    user = 7307
    fake.send_text(user, "/triage")
    for answered in range(3):
        await until(lambda n=answered: len(fake.sent(user)) == n + 1)
        fake.press(user, _no(fake.sent(user)[-1]))
    await until(lambda: len(running.store.load(user).get("flow", {}).get("answers", {})) == 3)
    answers = json.dumps(running.store.load(user)["flow"]["answers"]).encode()
    assert answers in _disk(running.store), "the answers are on disk, in the form the test looks for"
    fake.send_text(user, "/forget")
    await until(lambda: "deleted" in fake.sent(user)[-1]["text"])
    assert answers not in _disk(running.store)
    assert b'"saddle": "no"' not in _disk(running.store), "not even in a freed page or an old log frame"


async def test_forget_is_answered_and_deletes_even_in_a_flood(running: RunningBot, fake: FakeTelegram) -> None:
    user = 7308
    fake.send_text(user, "/triage")
    await until(lambda: running.store.load(user).get("flow"))
    for i in range(30):
        fake.send_text(user, f"how long should i ice my back {i}")
    fake.send_text(user, "/forget")
    fake.send_text(user, "/forget")
    await until(lambda: any("deleted" in m["text"] for m in fake.sent(user)))
    assert running.store.load(user) == {}
    await until(lambda: len(fake.calls_to("getUpdates")) > 2 and not fake.updates)  # every update taken
    assert sum("deleted" in m["text"] for m in fake.sent(user)) == 1, "one answer per flood, not one per /forget"


def _no(question: dict) -> str:
    """The data of a question's "No" button."""
    return next(b["callback_data"] for row in question["reply_markup"]["inline_keyboard"] for b in row if b["callback_data"].endswith(":no"))


def _disk(store) -> bytes:
    """Every byte of the database and its write-ahead log."""
    wal = store.path.with_name(store.path.name + "-wal")
    return store.path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")


async def test_a_flood_is_throttled_politely_without_slowing_others(running: RunningBot, fake: FakeTelegram) -> None:
    flooder, other = 7305, 7306
    for i in range(100):
        fake.send_text(flooder, f"how long should i ice my back {i}")
    fake.send_text(other, "when can i switch to heat")
    await until(lambda: len(fake.sent(other)) == 1, seconds=5)
    await until(lambda: not fake.updates and running.drained())  # the whole flood handled
    sent = fake.sent(flooder)
    assert len(sent) < 20, "the flood is not answered message by message"
    assert sum("very fast" in m["text"] for m in sent) == 1, "one polite note"
    fake.send_text(flooder, "i wet myself")
    await until(lambda: "999" in fake.sent(flooder)[-1]["text"], seconds=5)
