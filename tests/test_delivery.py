"""Never a lost or doubled answer: the fault probe's cases against the real bot and a fake Bot API.
Telegram redelivers and reorders updates and goes down for ten seconds; another process holds
the database; a stored row is garbage; an update cannot be parsed; a burst of questions arrives
just before a red flag."""

from __future__ import annotations

import random
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bot.brain import Brain
from tests.conftest import RunningBot, until
from tests.fake_telegram import FakeTelegram
from tests.patients import Patients

USERS = range(40_000, 40_012)
RED_FLAG = "I can't control my bladder and my back is killing me"


async def test_redelivered_and_reordered_updates_and_a_ten_second_outage_lose_and_double_nothing(brain: Brain, fake: FakeTelegram, tmp_path: Path) -> None:
    fake.replay = random.Random(7)
    fake.down = {"sendMessage": time.monotonic() + 10, "editMessageText": time.monotonic() + 10}
    patients = Patients(fake, USERS)
    async with RunningBot(brain, fake, tmp_path / "data", telegram_limits=False) as running:
        patients.start()
        await until(patients.step, seconds=180)
        await until(lambda: running.drained())
    assert len(fake.injected) > len(USERS), "the outage refused sends"
    patients.assert_whole()


async def test_a_red_flag_is_answered_while_another_process_holds_the_database(brain: Brain, fake: FakeTelegram, tmp_path: Path) -> None:
    async with RunningBot(brain, fake, tmp_path / "data") as running:
        holder = subprocess.Popen(
            [sys.executable, "-c", "import sqlite3,sys; d=sqlite3.connect(sys.argv[1], isolation_level=None); d.execute('BEGIN IMMEDIATE');"
             "print('locked', flush=True); sys.stdin.read()", str(running.store.path)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )
        try:
            assert holder.stdout.readline().strip() == "locked"
            asked = time.monotonic()
            fake.send_text(41_000, RED_FLAG)
            fake.send_text(41_001, "how long should i ice my back")
            await until(lambda: fake.sent(41_000), seconds=20)
            waited = time.monotonic() - asked
            assert holder.poll() is None, "answered while the database was still held"
            assert not fake.sent(41_001), "an ordinary answer waits for the database"
        finally:
            holder.communicate("")  # releases the lock
        await until(lambda: fake.sent(41_001) and running.drained(), seconds=60)
    assert len(fake.sent(41_000)) == 1, "the red flag answered once, not again once it was kept"
    assert "999" in fake.sent(41_000)[0]["text"], f"with an emergency number (after {waited:.1f} s)"


async def test_a_garbage_row_still_gets_the_red_flag_answered_and_forget_works(brain: Brain, fake: FakeTelegram, tmp_path: Path) -> None:
    import sqlite3

    user = 41_100
    async with RunningBot(brain, fake, tmp_path / "data") as running:
        fake.send_text(user, "/triage")
        await until(lambda: fake.sent(user) and running.drained())
        db = sqlite3.connect(running.store.path)
        db.execute("UPDATE user_state SET state = ? WHERE user_id = ?", ("\x00{garbage", user))
        db.commit()
        db.close()
        running.telegram._snapshots.clear()  # as after a restart: read from the database
        fake.send_text(user, RED_FLAG)
        await until(lambda: len(fake.sent(user)) == 2)
        assert "999" in fake.sent(user)[1]["text"]
        fake.send_text(user, "/forget")
        await until(lambda: len(fake.sent(user)) == 3 and running.drained())
        assert "deleted" in fake.sent(user)[2]["text"]
        assert running.store.load(user) == {}


async def test_an_update_that_cannot_be_parsed_is_skipped_by_id_and_never_wedges_polling(
    brain: Brain, fake: FakeTelegram, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with RunningBot(brain, fake, tmp_path / "data") as running:
        fake._push({"message": {"message_id": "not a number", "chat": "nonsense", "text": "my secret words", "from": {"id": 41_200, "first_name": "Pat"}}})
        fake.send_text(41_201, RED_FLAG)
        await until(lambda: fake.sent(41_201) and running.drained())
        getupdates = len(fake.calls_to("getUpdates"))
    assert getupdates < 20, "no tight loop of getUpdates"
    assert "could not be read; skipped" in caplog.text and "secret" not in caplog.text


async def test_a_red_flag_goes_ahead_of_a_burst_of_ordinary_answers(brain: Brain, fake: FakeTelegram, tmp_path: Path) -> None:
    """With Telegram's pacing on (about 30 messages a second), 150 questions queue for seconds."""
    order: list[int] = []
    fake.on_send = lambda chat_id, at: order.append(chat_id)
    async with RunningBot(brain, fake, tmp_path / "data") as running:
        for user in range(42_000, 42_150):
            fake.send_text(user, "how long should i ice my back")
        fake.send_text(41_300, RED_FLAG)
        await until(lambda: len(order) == 151 and running.drained(), seconds=120)
    assert order.index(41_300) < 50, f"the red flag went out {order.index(41_300) + 1}th of 151"


async def test_a_typed_answer_never_answers_a_question_the_user_has_not_seen(brain: Brain, fake: FakeTelegram, tmp_path: Path) -> None:
    """The probe's case: the next question cannot be delivered; the user, seeing nothing, types "no"
    again. It must not be stored as the answer to the unseen emergency question."""
    user = 41_400
    async with RunningBot(brain, fake, tmp_path / "data") as running:
        fake.send_text(user, "/triage")
        await until(lambda: fake.sent(user) and running.drained())
        fake.down = {"sendMessage": float("inf"), "editMessageText": float("inf")}
        fake.send_text(user, "no")  # answers question 1, which the user saw
        await until(lambda: running.store.backlog() == (0, 1))  # question 2 waits in the outbox
        fake.send_text(user, "no")  # typed again: question 2 never arrived
        await until(lambda: running.store.backlog() == (0, 2))
        flow = running.store.load(user)["flow"]
        assert list(flow["answers"]) == ["urine"], "only the question the user saw is answered"
        fake.down = {}
        await until(lambda: running.drained(), seconds=60)
    assert all("Safety check 2 of 14" in m["text"] for m in fake.sent(user)[1:])

