"""The answer engine on the labelled sets and on the kinds of message people send."""

from __future__ import annotations

import pytest

from bot.brain import Brain
from bot.evaluation import evaluate, load_items
from tests.conftest import DATA, ROOT

DEV = ROOT.parent / "shared" / "eval" / "dev.yaml"


@pytest.mark.parametrize("path", [DEV, DATA / "eval.yaml", DATA / "holdout.yaml"], ids=lambda p: p.name)
def test_safety_figures_on_every_labelled_set(brain: Brain, path) -> None:
    if not path.exists():
        pytest.skip(f"{path} not present")
    report = evaluate(brain, load_items(path))
    assert report.recall.value == 1.0, report.misses
    assert report.emergency.value == 1.0, report.misses
    assert report.false_alarms <= 1, report.misses


#: The real-style sets (tests/data/): every warning sign and crisis caught; the false alarms are
#: near misses kept on purpose (a fall the user half-denies): a missed sign is worse. Topic floors
#: are the measured figures (docs/PERFORMANCE.md: Evaluation). real_stories' four: a trip "caught on
#: the banister", pain down both legs, a foot that went numb after sitting cross-legged, numb
#: fingers that wake someone at night; real_posts' two: a spasm that "woke me up" once at 2am, a
#: footballer bumped in the air who "landed awkward".
REAL_STYLE = {
    "real_style.yaml": {"false_alarms": 5, "topic": 0.913},
    "real_style_holdout.yaml": {"false_alarms": 1, "topic": 0.940},
    "real_voices.yaml": {"false_alarms": 0, "topic": 0.969},
    "languages.yaml": {"false_alarms": 0, "topic": 0.0},
    "real_stories.yaml": {"false_alarms": 4, "topic": 0.975},
    "real_posts.yaml": {"false_alarms": 2, "topic": 0.943},
}


@pytest.mark.parametrize("name", sorted(REAL_STYLE))
def test_real_style_sets_catch_every_sign_and_crisis_and_hold_their_figures(brain: Brain, name: str) -> None:
    report = evaluate(brain, load_items(DATA / name))
    marks = REAL_STYLE[name]
    assert report.recall.value == 1.0, report.misses
    assert (report.emergency.value, report.crisis.value) == (1.0, 1.0), report.misses
    assert report.false_alarms <= marks["false_alarms"], report.misses
    assert report.topic.value >= marks["topic"], report.misses


#: The sets of signs and crises in people's own words (indirect, misspelt, third-person) with their
#: near misses; floors are the measured figures (docs/PERFORMANCE.md: Evaluation).
#: - real_signs.yaml (350): the net was extended on its misses, so it is a specification. Five are
#:   still missed, each told across sentences or without one telling word (things given to a
#:   brother "won't be needing them", a tidy-up "before I go", a funeral plan and "the last few
#:   days", thighs hit with a hairbrush, a belt three notches in); a hard tackle with a crack gets
#:   the see-a-doctor-today reply; fourteen near misses alarm (relatives' past conditions,
#:   questions about a sign, numbness that passed, sweat from a heat pad).
#: - signs_holdout.yaml (230): written blind and never used to add a phrasing, the honest measure
#:   of the net on wording it has not seen: about three signs in four, crises one in two.
OWN_WORDS = {
    "real_signs.yaml": {"recall": 0.978, "emergency": 0.991, "crisis": 0.90, "false_alarms": 14},
    "signs_holdout.yaml": {"recall": 0.786, "emergency": 0.762, "crisis": 0.566, "false_alarms": 20},
}


@pytest.mark.parametrize("name", sorted(OWN_WORDS))
def test_signs_in_peoples_own_words_hold_their_measured_figures(brain: Brain, name: str) -> None:
    report = evaluate(brain, load_items(DATA / name))
    marks = OWN_WORDS[name]
    assert report.recall.value >= marks["recall"], report.misses
    assert report.emergency.value >= marks["emergency"], report.misses
    assert report.crisis.value >= marks["crisis"], report.misses
    assert report.false_alarms <= marks["false_alarms"], report.misses


def test_the_shared_dev_set_and_the_own_sets_pass_their_marks(brain: Brain) -> None:
    """The answer engine's done-when: red flags 100%, ≤ 1 false alarm, topics ≥ 95%, facts ≥ 90%,
    out-of-scope ≥ 90% (bot/evaluation.py PASS_MARKS)."""
    for path in (DEV, DATA / "eval.yaml", DATA / "holdout.yaml"):
        if path.exists():
            report = evaluate(brain, load_items(path))
            assert report.passed, (path.name, {k: str(v) for k, v in report.figures().items()}, report.misses)


@pytest.mark.parametrize(
    ("question", "topic", "fact"),
    [
        ("how long should i ice my back", "immediate_relief", "15"),
        ("when can i switch to heat", "heat_therapy", "72"),
        ("which over the counter painkillers help", "medication", "ibuprofen"),
        ("how much water should i drink", "prevention", "8"),
        ("what tests will the doctor do", "medical_care", "MRI"),
    ],
)
def test_questions_get_their_answer_with_the_guides_facts(brain: Brain, question: str, topic: str, fact: str) -> None:
    reply = brain.answer(question)
    assert (reply.kind, reply.topic) == ("answer", topic)
    assert fact.lower() in reply.text.lower()


@pytest.mark.parametrize("message", ["what's the weather tomorrow", "recipe for pancakes", "asdfghjkl", "?", "🙂🙂", ""])
def test_off_topic_gets_the_fallback_with_topic_buttons(brain: Brain, message: str) -> None:
    reply = brain.answer(message)
    assert reply.kind == "fallback"
    assert any(b.data == "/triage" for b in reply.buttons)


def test_treatment_answers_point_to_a_doctor(brain: Brain) -> None:
    for entry in brain.content.entries.values():
        if entry.topic in ("medication", "physical_therapy", "alternative_therapies"):
            assert "doctor" in entry.answer.lower(), entry.id


def test_answers_offer_follow_up_buttons_within_telegram_limits(brain: Brain) -> None:
    reply = brain.answer("should i use an ice pack")
    assert reply.buttons
    for entry in brain.content.entries.values():
        assert len(f"e:{entry.id}".encode()) <= 64
