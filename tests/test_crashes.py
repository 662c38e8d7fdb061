"""Crashes: the bot process killed with SIGKILL and restarted. Users never press anything again
(a person with a red flag may not): every message they sent is answered after the restart,
nothing they answered is lost or corrupted, and the database survives being killed mid-write.
Each kill waits for the bot to be ready first (its first getUpdates), so a slow machine cannot
kill it before it has even opened its database."""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT, until
from tests.fake_telegram import FakeTelegram
from tests.patients import Patients

USERS = list(range(8000, 8025))
KILLS = 10


async def _start(fake: FakeTelegram, data: Path) -> subprocess.Popen:
    """The bot process, once it polls: it has opened its database and handed back what it kept."""
    env = {**os.environ, "TELEGRAM_BOT_TOKEN": "123456:CRASH-TEST", "TELEGRAM_API_BASE_URL": fake.base_url, "BOT_DATA_DIR": str(data)}
    polls = len(fake.calls_to("getUpdates"))
    proc = subprocess.Popen([sys.executable, "-m", "bot", "run"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    await until(lambda: len(fake.calls_to("getUpdates")) > polls or proc.poll() is not None, seconds=300)
    assert proc.poll() is None, "the bot started"
    return proc


def _kill(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait()


def _backlog(data: Path) -> tuple[int, int]:
    """Updates not yet handled and replies not yet delivered, as the database holds them."""
    db = sqlite3.connect(data / "bot.sqlite3")
    try:
        return db.execute("SELECT COUNT(*) FROM inbox WHERE handled IS NULL").fetchone()[0], db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0]
    finally:
        db.close()


@pytest.mark.slow
async def test_sigkill_at_random_moments_loses_no_answer_and_sends_no_outcome_twice(fake: FakeTelegram, tmp_path: Path) -> None:
    rng = random.Random(99)
    data = tmp_path / "data"
    patients = Patients(fake, USERS)
    proc = await _start(fake, data)
    try:
        patients.start()
        for _ in range(KILLS):
            deadline = time.monotonic() + rng.uniform(1.0, 3.0)
            while time.monotonic() < deadline:
                patients.step()
                await asyncio.sleep(0.05)
            _kill(proc)
            _check_database(data)
            proc = await _start(fake, data)
        for _ in range(2400):
            if patients.done():
                break
            patients.step()
            await asyncio.sleep(0.05)
    finally:
        _kill(proc)
    for user in USERS:
        sent = fake.sent(user)
        outcomes = [m for m in sent if "What you told me" in m["text"]]
        assert len(outcomes) == 1, f"user {user}: {len(outcomes)} outcome messages; last: {[m['text'][:70] for m in sent[-3:]]}"
        read_back = outcomes[0]["text"].split("What you told me")[-1]
        assert "No to all 14 warning signs" in read_back and "Lower back" in read_back, "every answer kept, none corrupted"
    states = [json.loads(s) for (s,) in sqlite3.connect(data / "bot.sqlite3").execute("SELECT state FROM user_state")]
    assert not [s for s in states if "flow" in s], "every flow finished"


@pytest.mark.slow
async def test_hundreds_of_red_flags_kept_but_unanswered_at_a_sigkill_are_each_answered_once_after_the_restart(
    fake: FakeTelegram, tmp_path: Path
) -> None:
    """The fault probe's case: 300 users each report a red flag, and the process dies before it
    could answer them (Telegram was not taking messages)."""
    data, users = tmp_path / "data", range(30_000, 30_300)
    proc = await _start(fake, data)
    try:
        fake.down = {"sendMessage": float("inf")}
        last = max(fake.send_text(user, "I can't control my bladder and my back is killing me") for user in users)
        await until(lambda: fake.confirmed > last, seconds=120)  # every one kept: Telegram was told
        assert not any(fake.sent(user) for user in users)
        _kill(proc)
        fake.down = {}
        proc = await _start(fake, data)
        await until(lambda: all(fake.sent(user) for user in users) and _backlog(data) == (0, 0), seconds=120)
    finally:
        _kill(proc)
    for user in users:
        (reply,) = fake.sent(user)
        assert "112" in reply["text"] or "911" in reply["text"], "the emergency advice, with an emergency number"


def _check_database(data: Path) -> None:
    db = sqlite3.connect(data / "bot.sqlite3")
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    for (state,) in db.execute("SELECT state FROM user_state"):
        flow = json.loads(state).get("flow")
        if flow:
            assert flow["step"] is not None and set(flow["answers"]) == set(flow["history"])
    db.close()
