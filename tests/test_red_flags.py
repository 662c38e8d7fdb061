"""The safety net: every warning sign raises the alarm of its tier; denied signs do not."""

from __future__ import annotations

import pytest

from bot.brain import Brain
from bot.evaluation import load_items
from tests.conftest import DATA, ROOT

SETS = [ROOT.parent / "shared" / "eval" / "dev.yaml", DATA / "eval.yaml", DATA / "holdout.yaml"]
ITEMS = [item for path in SETS if path.exists() for item in load_items(path)]
RED_FLAGS = [i for i in ITEMS if i.get("kind") == "urgent"]
DENIED = [i for i in ITEMS if i.get("not_urgent")]


@pytest.mark.parametrize("item", RED_FLAGS, ids=lambda i: i["q"][:60])
def test_every_red_flag_phrasing_triggers_its_tier(brain: Brain, item: dict) -> None:
    reply = brain.answer(item["q"])
    assert reply.kind == "urgent"
    if item.get("urgency") == "emergency":
        assert reply.urgency == "emergency"


@pytest.mark.parametrize("item", DENIED, ids=lambda i: i["q"][:60])
def test_denied_signs_do_not_raise_the_alarm(brain: Brain, item: dict) -> None:
    assert brain.answer(item["q"]).kind != "urgent"


@pytest.mark.parametrize(
    "message",
    [
        "I can't pee",
        "I cannot feel when I wipe",
        "not sure if I wet myself",
        "i think i peed myself without noticing",
        "numbess in my groin",
        "my legs keep giving way",
        "ive had spasms for 3 days and used heat like you said, also i cant really feel the toilet paper when i wipe, is heat still ok?",
        "no fever but I can't hold my wee",
    ],
)
def test_inability_and_uncertainty_are_emergencies_not_denials(brain: Brain, message: str) -> None:
    reply = brain.answer(message)
    assert (reply.kind, reply.urgency) == ("urgent", "emergency")


@pytest.mark.parametrize(
    "message",
    ["fever and chills with my back pain", "I had cancer two years ago", "the pain wakes me up at night", "my temperature is 39"],
)
def test_urgent_signs_say_see_a_doctor_today(brain: Brain, message: str) -> None:
    reply = brain.answer(message)
    assert (reply.kind, reply.urgency) == ("urgent", "urgent")
    assert "today" in reply.text


def test_steroid_injection_is_a_treatment_question_but_steroid_tablets_are_a_warning_sign(brain: Brain) -> None:
    assert brain.answer("steroid injection for back").kind == "answer"
    assert brain.answer("ive been on steroids for years").urgency == "urgent"


def test_every_emergency_reply_names_an_emergency_number(brain: Brain) -> None:
    reply = brain.answer("I wet myself and my back hurts")
    assert all(number in reply.text for number in ("911", "112", "999"))


def test_emergency_number_comes_from_the_environment(brain: Brain, monkeypatch: pytest.MonkeyPatch) -> None:
    from dataclasses import replace

    local = Brain(brain.content, replace(brain.settings, emergency_number="112"))
    assert "Call 112" in local.answer("numb bum").text
