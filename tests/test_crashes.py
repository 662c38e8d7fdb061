"""Crashes: many users in /triage at once while the bot process is killed with SIGKILL at random
moments and restarted. Nothing a user answered is lost or corrupted, no outcome is sent twice,
and the database survives being killed mid-write."""

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

from tests.conftest import ROOT
from tests.fake_telegram import FakeTelegram

USERS = list(range(8000, 8025))
KILLS = 10


def _start(fake: FakeTelegram, data: Path) -> subprocess.Popen:
    env = {**os.environ, "TELEGRAM_BOT_TOKEN": "123456:CRASH-TEST", "TELEGRAM_API_BASE_URL": fake.base_url, "BOT_DATA_DIR": str(data)}
    return subprocess.Popen([sys.executable, "-m", "bot", "run"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _question_buttons(message: dict) -> list[str]:
    markup = message.get("reply_markup") or {"inline_keyboard": []}
    return [b["callback_data"] for row in markup["inline_keyboard"] for b in row if b["callback_data"].startswith("tr:")]


def _answer(buttons: list[str]) -> str | None:
    """The button a user who has no warning signs presses: "No", else the first choice."""
    choices = [b for b in buttons if not b.endswith((":back", ":restart", ":cancel"))]
    return next((b for b in choices if b.endswith(":no")), choices[0] if choices else None)


class Driver:
    """Users who press the newest question's answer, and press again if nothing comes back."""

    def __init__(self, fake: FakeTelegram) -> None:
        self.fake = fake
        self.seen: dict[int, int] = dict.fromkeys(USERS, 0)
        self.pressed_at: dict[int, float] = dict.fromkeys(USERS, 0.0)

    def step(self) -> None:
        now = time.monotonic()
        for user in USERS:
            sent = self.fake.sent(user)
            if not sent:
                continue
            press = _answer(_question_buttons(sent[-1]))
            if press is None:
                continue
            if len(sent) > self.seen[user] or now - self.pressed_at[user] > 3.0:
                self.seen[user] = len(sent)
                self.pressed_at[user] = now
                self.fake.press(user, press)

    def done(self) -> bool:
        return all(self.fake.sent(u) and "What you told me" in self.fake.sent(u)[-1]["text"] for u in USERS)


@pytest.mark.slow
async def test_sigkill_at_random_moments_loses_no_answer_and_sends_no_outcome_twice(fake: FakeTelegram, tmp_path: Path) -> None:
    rng = random.Random(99)
    data = tmp_path / "data"
    driver = Driver(fake)
    proc = _start(fake, data)
    try:
        for user in USERS:
            fake.send_text(user, "/triage")
        for _ in range(KILLS):
            deadline = time.monotonic() + rng.uniform(1.0, 3.0)
            while time.monotonic() < deadline:
                driver.step()
                await asyncio.sleep(0.05)
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            _check_database(data)
            proc = _start(fake, data)
        for _ in range(1200):
            if driver.done():
                break
            driver.step()
            await asyncio.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    for user in USERS:
        sent = fake.sent(user)
        outcomes = [m for m in sent if "What you told me" in m["text"]]
        assert len(outcomes) == 1, f"user {user}: {len(outcomes)} outcome messages; last: {[m['text'][:70] for m in sent[-3:]]}"
        read_back = outcomes[0]["text"].split("What you told me")[-1]
        assert "No to all 14 warning signs" in read_back and "Lower back" in read_back, "every answer kept, none corrupted"
    states = [json.loads(s) for (s,) in sqlite3.connect(data / "bot.sqlite3").execute("SELECT state FROM user_state")]
    assert not [s for s in states if "flow" in s], "every flow finished"


def _check_database(data: Path) -> None:
    db = sqlite3.connect(data / "bot.sqlite3")
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    for (state,) in db.execute("SELECT state FROM user_state"):
        flow = json.loads(state).get("flow")
        if flow:
            assert flow["step"] is not None and set(flow["answers"]) == set(flow["history"])
    db.close()
