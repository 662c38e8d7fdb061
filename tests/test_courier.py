"""How the outbox is delivered: every letter until Telegram takes it, in order, urgent first."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter

from bot import courier
from bot.courier import URGENT, Courier, PriorityRateLimiter
from bot.offload import Offloaded
from bot.sql_store import SqliteStore
from bot.storage import Outgoing
from tests.conftest import until

USER = 42


class StandIn:
    """A Bot API that fails as told, then records what got through."""

    def __init__(self, *failures: Exception) -> None:
        self.failures = list(failures)
        self.sent: list[tuple[str, dict[str, Any]]] = []

    async def do_api_request(self, method: str, api_kwargs: dict[str, Any], rate_limit_args: Any = None) -> dict[str, Any]:
        if self.failures:
            raise self.failures.pop(0)
        self.sent.append((method, api_kwargs))
        return {"message_id": 1000 + len(self.sent)}


@pytest.fixture
def db(tmp_path: Path) -> Offloaded:
    return Offloaded(SqliteStore(tmp_path / "data"))


@pytest.fixture(autouse=True)
def quick(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(courier, "FIRST_BACKOFF", 0.01)
    monkeypatch.setattr(courier, "SWEEP_EVERY", 0.01)


async def deliver(db: Offloaded, bot: StandIn, *outgoing: Outgoing, until_sent: int) -> None:
    """Commit the letters, hand them to a courier with its sweep running, wait for the sends."""
    post = Courier(bot, db)  # type: ignore[arg-type]
    stop = asyncio.Event()
    sweep = asyncio.create_task(post.sweep(stop))
    leased = await db.run(db.store.commit, USER, None, None, list(outgoing), None, time.time(), 60)
    post.post(USER, leased)
    await until(lambda: len(bot.sent) >= until_sent and not post.busy)
    stop.set()
    await sweep


def text(words: str, urgent: bool = False, step: str | None = None) -> Outgoing:
    return Outgoing(USER, "sendMessage", {"chat_id": USER, "text": words, "parse_mode": "HTML"}, urgent, step)


async def test_a_reply_is_retried_through_an_outage_until_it_goes_out(db: Offloaded) -> None:
    bot = StandIn(*[NetworkError("Bad Gateway")] * 7)
    await deliver(db, bot, text("<b>Ice</b> for 15 minutes"), until_sent=1)
    assert [p["text"] for _, p in bot.sent] == ["<b>Ice</b> for 15 minutes"]
    assert await db.run(db.store.claim, time.time() + 3600, 60, 10) == [], "delivered letters leave the outbox"


async def test_a_users_replies_keep_their_order_through_a_failure(db: Offloaded) -> None:
    bot = StandIn(NetworkError("reset"))
    await deliver(db, bot, text("one"), text("two"), text("three"), until_sent=3)
    assert [p["text"] for _, p in bot.sent] == ["one", "two", "three"]


async def test_formatting_telegram_cannot_read_goes_out_as_plain_text(db: Offloaded) -> None:
    bot = StandIn(BadRequest("Can't parse entities: unclosed tag"))
    await deliver(db, bot, text("<b>Ice</b> for 15 minutes"), until_sent=1)
    assert bot.sent[0][1]["text"] == "Ice for 15 minutes" and bot.sent[0][1]["parse_mode"] is None


async def test_a_question_that_can_no_longer_be_edited_is_sent_as_a_new_message(db: Offloaded) -> None:
    bot = StandIn(BadRequest("Message can't be edited"))
    edit = Outgoing(USER, "editMessageText", {"chat_id": USER, "message_id": 5, "text": "Question 3"}, step="c")
    await deliver(db, bot, edit, until_sent=1)
    assert bot.sent == [("sendMessage", {"chat_id": USER, "text": "Question 3"})]
    assert (await db.run(db.store.read, USER)).seen.step == "c", "the question's step is recorded as seen"


async def test_a_blocked_bot_or_an_unchanged_question_is_done_with(db: Offloaded) -> None:
    for failure in (Forbidden("bot was blocked by the user"), BadRequest("Message is not modified")):
        bot = StandIn(failure)
        post = Courier(bot, db)  # type: ignore[arg-type]
        post.post(USER, await db.run(db.store.commit, USER, None, None, [text("Question 3")], None, time.time(), 60))
        await until(lambda post=post: not post.busy)
        assert bot.sent == [] and await db.run(db.store.claim, time.time() + 3600, 60, 10) == []


async def test_retry_after_is_honoured(db: Offloaded) -> None:
    bot = StandIn(RetryAfter(30))
    post = Courier(bot, db)  # type: ignore[arg-type]
    post.post(USER, await db.run(db.store.commit, USER, None, None, [text("hello")], None, time.time(), 60))
    await until(lambda: not post.busy)
    assert await db.run(db.store.claim, time.time() + 1, 60, 10) == [], "not before Telegram said"
    assert len(await db.run(db.store.claim, time.time() + 31, 60, 10)) == 1


async def test_a_letter_undelivered_for_an_hour_is_given_up_and_logged_by_id(db: Offloaded, caplog: pytest.LogCaptureFixture) -> None:
    old = time.time() - courier.GIVE_UP - 1
    await db.run(db.store.commit, USER, None, None, [text("secret words")], None, old, 0)
    (letter,) = await db.run(db.store.claim, time.time(), 60, 10)
    post = Courier(StandIn(NetworkError("down")), db)  # type: ignore[arg-type]
    post.post(USER, [letter])
    await until(lambda: not post.busy)
    assert await db.run(db.store.claim, time.time() + 3600, 60, 10) == []
    assert f"letter {letter.id}" in caplog.text and "secret" not in caplog.text


async def test_urgent_calls_skip_the_rate_limiters_queue() -> None:
    limiter = PriorityRateLimiter()
    await limiter.initialize()
    calls: list[str] = []

    async def callback(name: str) -> bool:
        calls.append(name)
        return True

    # An ordinary call goes through the limiter; an urgent one is made directly.
    assert await limiter.process_request(callback, ("urgent",), {}, "sendMessage", {"chat_id": 1}, URGENT)
    assert await limiter.process_request(callback, ("ordinary",), {}, "sendMessage", {"chat_id": 1}, None)
    assert calls == ["urgent", "ordinary"]
    await limiter.shutdown()

