"""The guided flow through the dialogue core, as the terminal and Telegram both run it."""

from __future__ import annotations

from bot.dialogue import Dialogue

SCREENS = ["urine", "leaking", "bowel", "saddle", "both_legs", "trauma", "chest",
           "fever", "weight", "cancer", "night", "one_leg", "bones", "immunity"]


def _run(dialogue: Dialogue, user: int, answers: list[str]):
    replies = dialogue.handle_text(user, "/triage")
    for answer in answers:
        step = dialogue.current_step(user)
        replies = dialogue.handle_button(user, f"tr:{step}:{answer}")
    return replies


def test_every_emergency_screen_yes_or_not_sure_ends_in_the_emergency_outcome(dialogue: Dialogue, user: int) -> None:
    for position in range(7):
        for answer in ("yes", "unsure"):
            reply = _run(dialogue, user, ["no"] * position + [answer])[-1]
            assert (reply.kind, reply.urgency) == ("urgent", "emergency"), (position, answer)
            assert "999" in reply.text


def test_every_urgent_screen_yes_ends_in_see_a_doctor_today(dialogue: Dialogue, user: int) -> None:
    for position in range(7, 14):
        reply = _run(dialogue, user, ["no"] * position + ["yes"])[-1]
        assert (reply.kind, reply.urgency) == ("urgent", "urgent")


def test_severe_pain_books_a_doctor_soon(dialogue: Dialogue, user: int) -> None:
    reply = _run(dialogue, user, ["no"] * 14 + ["lower", "days_1_3", "severe", "lifting", "nothing", "same"])[-1]
    assert reply.id == "triage.outcome.soon"
    assert "Ice first" in reply.text and "lifting technique" in reply.text


def test_self_care_after_72_hours_recommends_heat(dialogue: Dialogue, user: int) -> None:
    reply = _run(dialogue, user, ["no"] * 14 + ["upper", "days_4_to_6_weeks", "mild", "sport", "nothing", "better"])[-1]
    assert reply.id == "triage.outcome.self_care"
    assert "Heat now" in reply.text and "Ice first" not in reply.text
    assert "fever or chills: No" in reply.text


def test_typed_answers_count(dialogue: Dialogue, user: int) -> None:
    dialogue.handle_text(user, "/triage")
    dialogue.handle_text(user, "nope")
    dialogue.handle_text(user, "2")
    assert dialogue.current_step(user) == "bowel"
    dialogue.handle_text(user, "yep")
    assert dialogue.current_step(user) is None


def test_an_unrelated_question_mid_flow_is_answered_and_the_question_repeated(dialogue: Dialogue, user: int) -> None:
    dialogue.handle_text(user, "/triage")
    replies = dialogue.handle_text(user, "how long should i ice my back")
    assert replies[0].kind == "answer" and replies[-1].state == "urine"


def test_a_sticker_mid_flow_gets_a_note_and_the_same_question(dialogue: Dialogue, user: int) -> None:
    _run(dialogue, user, ["no"])
    note, question = dialogue.handle_unreadable(user)
    assert "text" in note.text
    assert question.state == "leaking" and dialogue.current_step(user) == "leaking"
    outside = user + 10_000
    assert [r.text for r in dialogue.handle_unreadable(outside)] == [note.text], "outside a flow: the note alone"


def test_cancel_works_at_any_point(dialogue: Dialogue, user: int) -> None:
    _run(dialogue, user, ["no"] * 5)
    dialogue.handle_text(user, "/cancel")
    assert dialogue.current_step(user) is None


def test_idle_flow_expires_with_a_note_and_can_restart(brain, user: int) -> None:
    from bot.storage import MemoryStore

    now = [1000.0]
    dialogue = Dialogue(brain, MemoryStore(), clock=lambda: now[0])
    dialogue.handle_text(user, "/triage")
    now[0] += 31 * 60
    replies = dialogue.handle_text(user, "no")
    assert "timed out" in replies[0].text
    assert dialogue.current_step(user) is None
    dialogue.handle_text(user, "/triage")
    assert dialogue.current_step(user) == "urine"


def test_forged_button_data_keeps_the_users_place(dialogue: Dialogue, user: int) -> None:
    dialogue.handle_text(user, "/triage")
    for junk in ("tr:urine:maybe", "tr:nope:yes", "e:../../etc", "x" * 200, "", "t:astrology"):
        replies = dialogue.handle_button(user, junk)
        assert "expired" in replies[0].text
        assert dialogue.current_step(user) == "urine"


def test_the_last_press_repeated_after_a_lost_reply_sends_the_plan_again(dialogue: Dialogue, user: int) -> None:
    first = _run(dialogue, user, ["yes"])[-1]
    again = dialogue.handle_button(user, "tr:urine:yes")[-1]
    assert again.text == first.text and again.urgency == "emergency"


def test_the_last_press_repeated_after_the_plan_arrived_sends_nothing_twice(dialogue: Dialogue, user: int) -> None:
    replies = _run(dialogue, user, ["no"] * 14 + ["lower", "today", "mild", "lifting", "nothing", "better"])
    dialogue.delivered(user, replies)
    assert dialogue.handle_button(user, "tr:progress:better") == [], "a double tap or a redelivered press"
    assert dialogue.handle_button(user, "tr:progress:worse"), "another old button still gets its polite reply"


def test_a_finished_plan_is_forgotten_after_thirty_minutes(brain, user: int) -> None:
    from bot.storage import MemoryStore

    now = [0.0]
    store = MemoryStore()
    dialogue = Dialogue(brain, store, clock=lambda: now[0])
    _run(dialogue, user, ["yes"])
    assert store.load(user)
    now[0] += 31 * 60
    dialogue.handle_text(user, "hello")
    assert store.load(user) == {}


def test_typed_words_of_a_label_count(dialogue: Dialogue, user: int) -> None:
    _run(dialogue, user, ["no"] * 14)
    assert dialogue.current_step(user) == "where"
    dialogue.handle_text(user, "lower")
    assert dialogue.current_step(user) == "since"
    dialogue.handle_text(user, "today")
    dialogue.handle_text(user, "severe")
    assert dialogue.current_step(user) == "trigger"
