"""Telegram misbehaves: 429 with retry_after, 500/502, slow replies past the client's timeout,
dropped connections, malformed JSON, and getUpdates failing for a while. The bot keeps running,
handles every update exactly once and delivers every reply."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.conftest import RunningBot, until
from tests.fake_telegram import FakeTelegram

QUESTIONS = {  # question → a word its answer must contain
    "how long should i ice my back": "15",
    "when can i switch to heat": "72",
    "which painkillers help": "buprofen",
    "how should i sleep to protect my back": "pillow",
    "what is a tens machine": "electrical",
}



@pytest.mark.slow
async def test_every_update_is_handled_once_and_every_reply_delivered_despite_faults(brain, fake: FakeTelegram, tmp_path: Path) -> None:
    fake.slow_seconds = 1.5
    fake.inject("getUpdates", "500", "drop", "badjson", "502")
    fake.inject("sendMessage", "429", "500", "slow", "502", "drop", "badjson", "500", "429")
    async with RunningBot(brain, fake, tmp_path / "data", timeout=1.0):
        users = list(range(9000, 9020))
        asked = {user: list(QUESTIONS)[i % len(QUESTIONS)] for i, user in enumerate(users)}
        for user, question in asked.items():
            fake.send_text(user, question)
        await until(lambda: all(len(fake.sent(u)) >= 1 for u in users), seconds=60)
        await asyncio.sleep(1.0)  # room for any duplicate to show up
    assert all(len(fake.sent(u)) == 1 for u in users), "every reply delivered exactly once"
    assert all(QUESTIONS[asked[u]] in fake.sent(u)[0]["text"] for u in users), "and it is the answer, not an error notice"
    assert not any(fake.faults.values()), "every injected fault was met"
    sends = [t for m, t in fake.arrivals if m == "sendMessage"]
    assert len(sends) >= len(users) + 8, "the failed sends were retried"


@pytest.mark.slow
async def test_retry_after_is_honoured(brain, fake: FakeTelegram, tmp_path: Path) -> None:
    fake.inject("sendMessage", "429")
    async with RunningBot(brain, fake, tmp_path / "data", timeout=1.0):
        fake.send_text(9100, "how long should i ice my back")
        await until(lambda: len(fake.sent(9100)) == 1)
    sends = [t for m, t in fake.arrivals if m == "sendMessage"]
    assert len(sends) == 2 and sends[1] - sends[0] >= 0.95, "waited retry_after (1 s) before sending again"
