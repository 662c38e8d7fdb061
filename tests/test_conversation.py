"""A conversation that remembers: follow-ups read against the last answer, short menus, and
"did you mean" only when there is something to choose."""

from __future__ import annotations

from bot.brain import ENTRY, MAX_BUTTONS, Brain
from bot.dialogue import Dialogue
from bot.evaluation import load_items
from bot.storage import MemoryStore
from tests.conftest import DATA


def test_a_follow_up_is_read_against_the_last_answer(dialogue: Dialogue, user: int) -> None:
    assert dialogue.handle_text(user, "should i use ice on my back")[0].id == "immediate_relief_ice"
    follow = dialogue.handle_text(user, "for how long?")[0]
    assert follow.id == "immediate_relief_ice_how"
    assert "15" in follow.text
    assert dialogue.handle_text(user, "and how often")[0].topic == "immediate_relief"


def test_after_the_desk_answer_and_at_night_is_about_sleeping(dialogue: Dialogue, user: int) -> None:
    assert dialogue.handle_text(user, "how do i set up my desk")[0].id == "prevention_workspace_setup"
    assert dialogue.handle_text(user, "and at night?")[0].id == "prevention_sleep_position"


def test_a_question_with_a_topic_of_its_own_is_not_bent_to_the_last_answer(dialogue: Dialogue, user: int) -> None:
    dialogue.handle_text(user, "how do i set up my desk")
    assert dialogue.handle_text(user, "is heat good")[0].topic == "heat_therapy"


def test_an_off_topic_message_after_an_answer_is_not_bent_to_it(dialogue: Dialogue, user: int) -> None:
    dialogue.handle_text(user, "how do i set up my desk")
    assert dialogue.handle_text(user, "what's the weather tomorrow")[0].kind == "fallback"
    assert dialogue.handle_text(user, "my calves cramp at night")[0].kind == "fallback"


def test_a_warning_sign_in_a_follow_up_still_wins(dialogue: Dialogue, user: int) -> None:
    dialogue.handle_text(user, "should i use ice on my back")
    reply = dialogue.handle_text(user, "and now i cant pee")[0]
    assert (reply.kind, reply.urgency) == ("urgent", "emergency")


def test_the_last_answer_is_forgotten_after_ten_minutes(brain: Brain, user: int) -> None:
    now = [1000.0]
    dialogue = Dialogue(brain, MemoryStore(), clock=lambda: now[0])
    dialogue.handle_text(user, "can i use heat on my back")
    now[0] += 11 * 60
    assert dialogue.handle_text(user, "for how long?")[0].id != "heat_therapy_how_long"
    assert not dialogue.store.load(user)["last"]["id"].startswith("heat_therapy")


def test_the_welcome_offers_a_short_menu_without_repeats(dialogue: Dialogue, user: int) -> None:
    for message in ("/start", "hi", "asdfghjkl"):
        buttons = dialogue.handle_text(user, message)[-1].buttons
        assert 2 <= len(buttons) <= MAX_BUTTONS, message
        assert len({b.label for b in buttons}) == len(buttons) == len({b.data for b in buttons}), message


def test_every_topic_is_reachable_from_the_topic_menu(dialogue: Dialogue, user: int, brain: Brain) -> None:
    topics, pages, visited = set(), ["m:"], set()
    while pages:
        page = pages.pop()
        visited.add(page)
        buttons = dialogue.handle_button(user, page)[0].buttons
        assert len(buttons) <= MAX_BUTTONS
        topics.update(b.data[2:] for b in buttons if b.data.startswith("t:"))
        pages += [b.data for b in buttons if b.data.startswith("m:") and b.data not in visited and b.data != "m:1"]
    assert topics == set(brain.content.messages["topic_labels"])


def test_did_you_mean_always_offers_two_real_choices(brain: Brain) -> None:
    for path in sorted(DATA.glob("*.yaml")):
        for item in load_items(path):
            reply = brain.answer(str(item["q"]))
            if reply.kind == "clarify":
                assert len([b for b in reply.buttons if b.data.startswith(ENTRY)]) >= 2, item["q"]


def test_an_answer_opens_with_yes_only_for_a_yes_no_question(brain: Brain) -> None:
    assert brain.answer("can yoga help my back spasms").text.startswith("It can.")
    assert not brain.answer("how does yoga help back spasms").text.startswith("It can.")
    assert not brain.answer("should i stay in bed or go to work").text.startswith("Yes")


def test_a_thumbs_up_or_a_pained_face_gets_a_kind_reply(brain: Brain) -> None:
    assert brain.answer("👍").id == "smalltalk_ok"
    assert brain.answer("😫😫😫").id == "immediate_relief_right_now"
