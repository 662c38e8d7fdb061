"""Hostile and odd input: arbitrary Unicode through the dialogue core (hypothesis), and 10,000
random updates through the real Application. Nothing crashes, nobody loses their place."""

from __future__ import annotations

import logging
import random
import string
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bot.brain import Brain
from bot.dialogue import Dialogue
from bot.storage import MemoryStore
from tests.conftest import RunningBot, until
from tests.fake_telegram import FakeTelegram

ODD = st.one_of(
    st.text(max_size=300),
    st.text(alphabet=st.characters(categories=["Cc", "Cf", "Zs", "So", "Mn"]), max_size=100),
    st.sampled_from(["", " ", "\u200b\u200b", "\u202eeulb", "🙂" * 500, "a" * 100_000, "/", "/start@", "/triage " * 50, "\x00\x01\x1b[31m"]),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=ODD)
@example(text="²")  # found by this test: a non-ASCII digit once crashed the typed-answer reader
@example(text="N")
def test_any_text_gets_a_reply_and_keeps_the_users_place(brain: Brain, text: str) -> None:
    dialogue = Dialogue(brain, MemoryStore())
    dialogue.handle_text(1, "/triage")
    dialogue.handle_button(1, "tr:urine:no")
    replies = dialogue.handle_text(1, text)
    assert replies and all(r.text for r in replies)
    step = dialogue.current_step(1)
    if text.strip().startswith("/"):
        assert step in (None, "leaking", "urine")  # /cancel, /forget, /triage move it on purpose
    elif any(r.kind == "urgent" and r.id and not r.id.startswith("triage.") for r in replies):
        assert step == "leaking", "a red flag interrupts but keeps the place"
    else:
        choice = dialogue.flow.typed_choice(dialogue.flow.steps["leaking"], text.strip())
        expected = "leaking" if choice is None else ("bowel" if choice.value == "no" else None)
        assert step == expected


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.text(max_size=200))
def test_any_button_data_is_answered_without_losing_the_flow(brain: Brain, data: str) -> None:
    dialogue = Dialogue(brain, MemoryStore())
    dialogue.handle_text(1, "/triage")
    replies = dialogue.handle_button(1, data)
    assert replies
    assert dialogue.current_step(1) in ("urine", "leaking", None)


def _random_update(fake: FakeTelegram, rng: random.Random, users: list[int], seen_data: list[str]) -> str:
    """Push one random update; return what kind it was."""
    user = rng.choice(users)
    kind = rng.choice(["text", "text", "command", "other", "edited", "group", "callback", "replay", "inline", "channel"])
    junk = "".join(rng.choice(string.printable + "🙂ßé\u200b") for _ in range(rng.randint(0, 60)))
    if kind == "text":
        fake.send_text(user, rng.choice([junk, "how long should i ice", "i cant pee", "yes", "2", "no fever"]) or "?")
    elif kind == "command":
        fake.send_text(user, rng.choice(["/start", "/triage", "/cancel", "/help", "/nonsense", "/forget", "/topics"]) + " " + junk)
    elif kind == "other":
        fake.send_other(user, rng.choice(["sticker", "photo", "voice", "location"]))
    elif kind == "edited":
        fake.send_text(user, junk or "edit", edited=True)
    elif kind == "group":
        fake.send_text(user, junk or "hello group", chat_id=-1000 - user, chat_type="supergroup")
    elif kind == "callback":
        data = rng.choice(["tr:urine:no", "tr:urine:yes", "e:no_such", "m:", "t:heat_therapy", junk[:64]])
        seen_data.append(data)
        fake.press(user, data)
    elif kind == "replay":
        fake.press(user, rng.choice(seen_data) if seen_data else "tr:urine:no")
    elif kind == "inline":
        fake.inline(user, junk)
    else:
        fake._push({"channel_post": {"message_id": fake.message_id(), "date": 0, "chat": {"id": -77, "type": "channel", "title": "c"}, "text": junk or "post"}})
    return kind


@pytest.mark.slow
async def test_ten_thousand_random_updates_cause_no_error_and_one_reply_per_private_text(
    brain, fake: FakeTelegram, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    bot = RunningBot(brain, fake, tmp_path / "data", telegram_limits=False)
    rng = random.Random(2026)
    users = list(range(20_000, 22_000))  # enough users that nobody floods
    kinds: dict[str, int] = {}
    seen: list[str] = []
    async with bot:
        total = 10_000
        for _ in range(total):
            kind = _random_update(fake, rng, users, seen)
            kinds[kind] = kinds.get(kind, 0) + 1
        await until(lambda: not fake.updates and bot.drained(), seconds=180)
    errors = [r.getMessage() for r in caplog.records if r.name.startswith("bot") and r.levelno >= logging.WARNING]
    assert errors == []
    private_texts = kinds["text"] + kinds["command"]
    sent_private = [m for m in fake.sent() if int(m["chat_id"]) > 0]
    answers = len(fake.calls_to("answerCallbackQuery"))
    assert answers == kinds["callback"] + kinds["replay"], "every button press is answered"
    assert len(fake.calls_to("answerInlineQuery")) == kinds["inline"]
    # one message per private text, command and non-text message; at most one per button press
    # (none when the press repeats the last answer of a plan already delivered); edited messages
    # only for a warning sign; nothing for channel posts or group chatter that does not address us
    expected_min = private_texts + kinds["other"]
    assert expected_min <= len(sent_private) <= expected_min + kinds["callback"] + kinds["replay"] + kinds["edited"]
    assert not [m for m in fake.sent() if int(m["chat_id"]) < 0], "group chatter and channel posts get no reply"
