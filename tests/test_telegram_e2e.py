"""End-to-end: the real python-telegram-bot Application against a local fake Bot API server."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from tests.conftest import RunningBot, until
from tests.fake_telegram import FakeTelegram


def _buttons(message: dict) -> list[dict]:
    markup = message.get("reply_markup")
    if not markup:
        return []
    return [b for row in markup["inline_keyboard"] for b in row]


async def _wait(fake: FakeTelegram, chat: int, count: int) -> list[dict]:
    for _ in range(500):
        if len(fake.sent(chat)) >= count:
            return fake.sent(chat)
        await asyncio.sleep(0.02)
    raise AssertionError(f"expected {count} messages to {chat}, got {len(fake.sent(chat))}")


async def test_start_registers_commands_and_welcomes(running: RunningBot, fake: FakeTelegram) -> None:
    assert fake.calls_to("setMyCommands"), "the command menu is registered at start-up"
    fake.send_text(7001, "/start")
    welcome = (await _wait(fake, 7001, 1))[0]
    assert "not a diagnosis" in welcome["text"]
    assert any(b["callback_data"] == "/triage" for b in _buttons(welcome))
    assert welcome["parse_mode"] == "HTML"


async def test_question_gets_its_answer(running: RunningBot, fake: FakeTelegram) -> None:
    fake.send_text(7002, "how long should i ice my back")
    answer = (await _wait(fake, 7002, 1))[0]
    assert "15" in answer["text"] and "20" in answer["text"]


async def test_red_flag_gets_emergency_advice(running: RunningBot, fake: FakeTelegram) -> None:
    fake.send_text(7003, "i cant feel it when i wipe")
    reply = (await _wait(fake, 7003, 1))[0]
    assert "999" in reply["text"] and "112" in reply["text"]


async def _triage(fake: FakeTelegram, user: int, answers: list[str]) -> dict:
    """Run /triage pressing the button whose data ends with each answer in turn."""
    fake.send_text(user, "/triage")
    seen = 1
    for answer in answers:
        question = (await _wait(fake, user, seen))[-1]
        data = next(b["callback_data"] for b in _buttons(question) if b["callback_data"].endswith(":" + answer))
        fake.press(user, data)
        seen += 1
    return (await _wait(fake, user, seen))[-1]


SCREEN_NO = ["no"] * 14


async def _first_answer(fake: FakeTelegram, user: int) -> None:
    """Start /triage and answer its first question with No."""
    fake.send_text(user, "/triage")
    await _wait(fake, user, 1)
    fake.press(user, "tr:urine:no")
    await _wait(fake, user, 2)


async def test_triage_emergency_on_first_yes(running: RunningBot, fake: FakeTelegram) -> None:
    outcome = await _triage(fake, 7010, ["unsure"])
    assert "help now" in outcome["text"] and "999" in outcome["text"]


async def test_triage_urgent_outcome(running: RunningBot, fake: FakeTelegram) -> None:
    outcome = await _triage(fake, 7011, ["no"] * 7 + ["yes"])
    assert "doctor today" in outcome["text"]


async def test_triage_soon_outcome(running: RunningBot, fake: FakeTelegram) -> None:
    outcome = await _triage(fake, 7012, [*SCREEN_NO, "lower", "over_6_weeks", "moderate", "posture", "several", "same"])
    assert "within the next few days" in outcome["text"]
    assert "eye level" in outcome["text"], "prevention tips for their trigger"


async def test_triage_self_care_plan_reads_back_answers(running: RunningBot, fake: FakeTelegram) -> None:
    outcome = await _triage(fake, 7013, [*SCREEN_NO, "lower", "today", "mild", "lifting", "nothing", "better"])
    text = outcome["text"]
    assert "15–20 minutes" in text and "72 hours" in text, "ice in the first 72 hours"
    assert "No to all 14 warning signs" in text, "the read-back says what they said no to, in one line"


async def test_the_library_default_transport_works_too(brain, fake: FakeTelegram, tmp_path: Path) -> None:
    """BOT_HTTP=httpx (python-telegram-bot's own client) carries a whole conversation just as
    the default aiohttp transport does."""
    async with RunningBot(brain, fake, tmp_path / "data", http="httpx"):
        fake.send_text(7030, "how long should i ice my back")
        assert "15" in (await _wait(fake, 7030, 1))[0]["text"]
        outcome = await _triage(fake, 7031, [*SCREEN_NO, "lower", "today", "mild", "lifting", "nothing", "better"])
        assert "What you told me" in outcome["text"]


async def test_back_start_over_and_cancel(running: RunningBot, fake: FakeTelegram) -> None:
    user = 7014
    fake.send_text(user, "/triage")
    first = (await _wait(fake, user, 1))[-1]
    fake.press(user, "tr:urine:no")
    second = (await _wait(fake, user, 2))[-1]
    assert "begun leaking" in second["text"]
    fake.press(user, "tr:leaking:back")
    again = (await _wait(fake, user, 3))[-1]
    assert again["text"] == first["text"].split("\n\n")[-1]
    fake.press(user, "tr:urine:restart")
    restarted = (await _wait(fake, user, 4))[-1]
    assert "Let's find" in restarted["text"]
    fake.press(user, "tr:urine:cancel")
    cancelled = (await _wait(fake, user, 5))[-1]
    assert "stopped" in cancelled["text"]
    assert running.dialogue.current_step(user) is None


async def test_red_flag_typed_mid_triage_interrupts(running: RunningBot, fake: FakeTelegram) -> None:
    user = 7015
    await _first_answer(fake, user)
    fake.send_text(user, "actually my legs keep giving way")
    urgent = (await _wait(fake, user, 3))[-1]
    assert "999" in urgent["text"]
    assert running.dialogue.current_step(user) == "leaking", "the user's place is kept"


async def test_expired_button_gets_polite_reply_and_current_question(running: RunningBot, fake: FakeTelegram) -> None:
    user = 7016
    await _first_answer(fake, user)
    fake.press(user, "tr:urine:yes")  # another button of the old, answered question
    reply = (await _wait(fake, user, 3))[2]
    assert "expired" in reply["text"] and "begun leaking" in reply["text"], "one message: the note and the current question"
    assert any(b["callback_data"].startswith("tr:leaking:") for b in _buttons(reply))
    assert len(fake.calls_to("answerCallbackQuery")) >= 2, "every press is answered"
    assert fake.calls_to("editMessageText") or fake.calls_to("editMessageReplyMarkup"), "the pressed buttons are replaced or removed"


async def test_a_triage_answer_turns_the_pressed_question_into_the_next(running: RunningBot, fake: FakeTelegram) -> None:
    await _first_answer(fake, 7023)
    edits = fake.calls_to("editMessageText")
    assert edits and "begun leaking" in edits[-1]["text"], "the next question replaces the pressed one"
    assert len([m for m, p in fake.calls if m == "sendMessage" and int(p["chat_id"]) == 7023]) == 1


async def test_a_menu_press_answers_in_a_new_message_and_takes_the_old_buttons_away(running: RunningBot, fake: FakeTelegram) -> None:
    user = 7024
    fake.send_text(user, "/start")
    topic = next(b["callback_data"] for b in _buttons((await _wait(fake, user, 1))[0]) if b["callback_data"].startswith("t:"))
    fake.press(user, topic, message_id=555)
    menu = (await _wait(fake, user, 2))[1]
    assert _buttons(menu), "the topic's questions, as buttons"
    await until(lambda: fake.calls_to("editMessageReplyMarkup"))
    removed = fake.calls_to("editMessageReplyMarkup")[-1]
    assert (int(removed["chat_id"]), int(removed["message_id"])) == (user, 555) and not removed.get("reply_markup")


async def test_the_same_press_repeated_repeats_the_question_without_a_scolding(running: RunningBot, fake: FakeTelegram) -> None:
    user = 7022
    await _first_answer(fake, user)
    fake.press(user, "tr:urine:no")  # as after a reply lost in transit
    reply = (await _wait(fake, user, 3))[2]
    assert "expired" not in reply["text"] and "begun leaking" in reply["text"]
    assert running.dialogue.current_step(user) == "leaking"


async def test_restart_mid_triage_continues(brain, fake: FakeTelegram, tmp_path: Path) -> None:
    user = 7017
    async with RunningBot(brain, fake, tmp_path / "data"):
        await _first_answer(fake, user)
    async with RunningBot(brain, fake, tmp_path / "data"):
        fake.press(user, "tr:leaking:no")
        reply = (await _wait(fake, user, 3))[-1]
        assert "bowels" in reply["text"]


async def test_forget_deletes_every_row(running: RunningBot, fake: FakeTelegram) -> None:
    user = 7018
    fake.send_text(user, "/triage")
    await _wait(fake, user, 1)
    fake.send_text(user, "/forget")
    await _wait(fake, user, 2)
    db = sqlite3.connect(running.store.path)
    assert db.execute("SELECT COUNT(*) FROM user_state WHERE user_id = ?", (user,)).fetchone()[0] == 0


async def test_group_chat_answers_only_when_addressed_and_keeps_health_private(running: RunningBot, fake: FakeTelegram) -> None:
    group = -500
    fake.send_text(7019, "how long should i ice my back", chat_id=group, chat_type="group")
    fake.send_text(7019, "@spasm_helper_bot how long should i ice my back", chat_id=group, chat_type="group")
    replies = await _wait(fake, group, 1)
    assert "15" not in replies[0]["text"], "no health answer in front of the group"
    link = replies[0]["reply_markup"]["inline_keyboard"][0][0]
    assert link["url"] == "https://t.me/spasm_helper_bot?start=group"
    fake.send_text(7019, "/triage", chat_id=group, chat_type="group")
    replies = await _wait(fake, group, 2)
    assert replies[1]["reply_markup"]["inline_keyboard"][0][0]["url"].endswith("?start=triage")
    assert len(fake.sent(group)) == 2, "the unaddressed message got nothing"


async def test_a_warning_sign_in_a_group_is_answered_there(running: RunningBot, fake: FakeTelegram) -> None:
    fake.send_text(7030, "@spasm_helper_bot my legs gave way and i cant pee", chat_id=-501, chat_type="group")
    reply = (await _wait(fake, -501, 1))[0]
    assert "999" in reply["text"] and "now" in reply["text"]


async def test_the_deep_link_from_a_group_starts_triage_in_private(running: RunningBot, fake: FakeTelegram) -> None:
    fake.send_text(7031, "/start triage")
    reply = (await _wait(fake, 7031, 1))[0]
    assert "Safety check 1 of 14" in reply["text"]


async def test_a_reply_in_a_forum_topic_goes_to_the_same_topic(running: RunningBot, fake: FakeTelegram) -> None:
    fake.send_text(7032, "@spasm_helper_bot hello", chat_id=-502, chat_type="supergroup", thread=77)
    reply = (await _wait(fake, -502, 1))[0]
    assert int(reply["message_thread_id"]) == 77


async def test_an_edited_answer_mid_flow_gets_a_note(running: RunningBot, fake: FakeTelegram) -> None:
    fake.send_text(7033, "/triage")
    await _wait(fake, 7033, 1)
    fake.send_text(7033, "no")
    await _wait(fake, 7033, 2)
    fake.send_text(7033, "yes", edited=True)
    note = (await _wait(fake, 7033, 3))[2]
    assert "Back" in note["text"]


async def test_inline_query_offers_answers(running: RunningBot, fake: FakeTelegram) -> None:
    fake.inline(7020, "heat or ice")
    for _ in range(500):
        if fake.calls_to("answerInlineQuery"):
            break
        await asyncio.sleep(0.02)
    results = fake.calls_to("answerInlineQuery")[0]["results"]
    assert results and results[0]["type"] == "article"


async def test_sticker_gets_a_sensible_reply(running: RunningBot, fake: FakeTelegram) -> None:
    fake.send_other(7021, "sticker")
    reply = (await _wait(fake, 7021, 1))[0]
    assert "text" in reply["text"]
