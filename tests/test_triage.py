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
    assert "Ice first" in reply.text and "lift with your legs" in reply.text


def test_self_care_after_72_hours_recommends_heat(dialogue: Dialogue, user: int) -> None:
    reply = _run(dialogue, user, ["no"] * 14 + ["upper", "days_4_to_6_weeks", "mild", "sport", "nothing", "better"])[-1]
    assert reply.id == "triage.outcome.self_care"
    assert "Heat now" in reply.text and "Ice first" not in reply.text
    assert "No to all 14 warning signs" in reply.text


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


def test_the_questions_show_honest_progress(dialogue: Dialogue, user: int) -> None:
    first = dialogue.handle_text(user, "/triage")[0]
    assert "14 quick yes/no safety checks" in first.text and "Safety check 1 of 14" in first.text
    assert "Safety check 2 of 14" in dialogue.handle_button(user, "tr:urine:no")[0].text


def test_leaking_asks_about_new_leaking_only(dialogue: Dialogue, user: int) -> None:
    question = _run(dialogue, user, ["no"])[0]
    assert question.state == "leaking" and "begun leaking" in question.text


def test_a_sign_typed_mid_flow_is_never_forgotten(dialogue: Dialogue, user: int) -> None:
    _run(dialogue, user, ["no"] * 3)
    alert, go_on = dialogue.handle_text(user, "i cant feel anything when i wipe")
    assert alert.urgency == "emergency" and "safe to wait" in go_on.text
    dialogue.handle_button(user, "tr:continue")
    replies = []
    while dialogue.current_step(user):
        step = dialogue.current_step(user)
        first = dialogue.brain.content.flow.steps[step].choices[1 if step in SCREENS else 0].value
        replies = dialogue.handle_button(user, f"tr:{step}:{first}")
    outcome = replies[-1]
    assert (outcome.kind, outcome.urgency) == ("urgent", "emergency")
    assert "when wiping: Yes" in outcome.text
    assert "Rest comfortably" in outcome.text, "they went on for the self-care part: the plan is there too"


def test_severe_and_getting_worse_is_the_same_tier_in_triage_and_in_free_text(dialogue: Dialogue, user: int) -> None:
    typed = dialogue.brain.answer("the pain is severe and getting worse")
    walked = _run(dialogue, user, ["no"] * 14 + ["lower", "days_1_3", "severe", "lifting", "nothing", "worse"])[-1]
    assert typed.urgency == walked.urgency == "urgent"


def test_every_plan_fits_a_phone_without_a_line_twice(dialogue: Dialogue, user: int) -> None:
    import itertools

    from bot.replies import plain

    flow = dialogue.brain.content.flow
    shape = [s for s in flow.order if s not in SCREENS]
    for values in itertools.product(*[[c.value for c in flow.steps[s].choices] for s in shape]):
        answers = {s: "no" for s in SCREENS} | dict(zip(shape, values, strict=True))
        done = {"outcome": flow.outcome(answers), "answers": answers, "last": shape[-1]}
        text = plain(dialogue._outcome(done).text)
        assert len(text) <= 1200, (values, len(text))
        lines = [line for line in text.splitlines() if line.strip()]
        assert len(lines) == len(set(lines)), values


def test_back_after_the_outcome_changes_the_last_answer(dialogue: Dialogue, user: int) -> None:
    outcome = _run(dialogue, user, ["no"] * 14 + ["lower", "today", "mild", "lifting", "nothing", "worse"])[-1]
    assert outcome.id == "triage.outcome.soon"
    back = next(b for b in outcome.buttons if b.data.endswith(":back"))
    question = dialogue.handle_button(user, back.data)[0]
    assert question.state == "progress"
    assert dialogue.handle_button(user, "tr:progress:better")[0].id == "triage.outcome.self_care"


def test_typed_answers_pick_the_matching_choice(dialogue: Dialogue, user: int) -> None:
    _run(dialogue, user, ["no"] * 14 + ["lower"])
    for typed, step_after in [("yesterday", "severity"), ("moderate", "trigger"), ("lifted a box", "tried"), ("several", "progress")]:
        dialogue.handle_text(user, typed)
        assert dialogue.current_step(user) == step_after, typed
    assert dialogue.handle_text(user, "a bit better")[0].id == "triage.outcome.self_care"
    for typed, value in [("2 days", "days_1_3"), ("last week", "days_4_to_6_weeks"), ("at my desk", "posture"), ("worse", "worse")]:
        step = dialogue.brain.content.flow.steps["since" if "day" in typed or "week" in typed else ("trigger" if "desk" in typed else "progress")]
        assert dialogue.brain.content.flow.typed_choice(step, typed).value == value, typed


def test_anything_else_gets_the_question_again_with_a_hint(dialogue: Dialogue, user: int) -> None:
    _run(dialogue, user, ["no"] * 14)
    hint, question = dialogue.handle_text(user, "purple")
    assert "didn't catch" in hint.text and question.state == "where"
