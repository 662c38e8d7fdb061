"""How the bot reads what people really write: long stories, look-alike letters, words it does not
know, questions past the guide, and other languages."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from bot.brain import Brain
from bot.classifier import KEEP, load_or_train
from bot.dialogue import Dialogue
from bot.lookalikes import lookalikes
from bot.matching import Candidate, Ranking
from bot.text import fold_lookalikes, tokenize
from tests.conftest import ROOT

EMERGENCY_NUMBERS = ("911", "112", "999")


@pytest.mark.parametrize(
    ("story", "topics"),
    [
        (
            "Been doing deadlifts for two years with no trouble. On Wednesday I went for a new max and felt my lower back "
            "grab halfway up. It has been tight and sore since and I can't bend to put my socks on. Should I drop the weights "
            "for a while, and how do I get back to the gym without it happening again?",
            {"prevention", "immediate_relief", "causes"},
        ),
        (
            "I work nights in a warehouse and drive a forklift. Last week my back went into spasm while I was reversing. "
            "I put frozen peas on it the first two days like my mum said. When should I swap the ice for a hot water bottle?",
            {"heat_therapy"},
        ),
        (
            "My physio is on holiday for three weeks and my back is cramping again after a long flight. My wife wants me to "
            "try her acupuncture lady. Does acupuncture actually do anything for back spasms?",
            {"alternative_therapies"},
        ),
    ],
)
def test_a_long_story_is_answered_by_the_question_it_ends_on(brain: Brain, story: str, topics: set[str]) -> None:
    reply = brain.answer(story)
    assert reply.kind in ("answer", "clarify"), reply
    assert reply.topic in topics, reply


@pytest.mark.parametrize(
    "message",
    [
        "my back is killing me today and I have no idea what to do, it's been like this since the weekend",
        "lower back spasm again. third time this year. fed up.",
        "what helps a sore back",
    ],
)
def test_a_message_about_back_pain_never_gets_the_off_topic_fallback(brain: Brain, message: str) -> None:
    reply = brain.answer(message)
    assert reply.text != brain.fill(brain.content.message("fallback"))
    assert reply.kind != "urgent"


def test_a_story_gets_an_answer_with_the_close_alternatives_as_buttons_not_a_did_you_mean(brain: Brain) -> None:
    entries = brain.content.entries
    close = Ranking(
        [Candidate(entries["immediate_relief_right_now"], 20.0), Candidate(entries["prevention_back_to_exercise"], 19.5)],
        coverage=1.0,
        about_subject=True,
    )
    assert brain.decide(close).kind == "clarify"  # a short question: "did you mean…"
    told = brain.decide(replace(close, story=True))  # after a whole story: the best answer
    assert (told.kind, told.id) == ("answer", "immediate_relief_right_now")
    assert told.buttons[0].label == entries["prevention_back_to_exercise"].label


def test_a_kiss_or_a_two_letter_typo_does_not_make_thanks_off_topic(brain: Brain) -> None:
    assert brain.answer("thanks so much that actually really helped x").kind == "smalltalk"


def test_a_letters_greeting_and_self_introduction_do_not_pick_the_topic(brain: Brain) -> None:
    plain = brain.answer("My back spasms after sitting at my desk all day. How should I set up my desk and chair?")
    letter = brain.answer(
        "Hello doctor, I am a 36 year old female. My back spasms after sitting at my desk all day. How should I set up my desk and chair? "
        "Thanks in advance, kind regards."
    )
    assert letter.id == plain.id
    assert brain.answer("hi there").kind == "smalltalk"


@pytest.mark.parametrize(
    "message",
    [
        "I had an accident in 2001 on an ice rink and my lower back has hurt on and off ever since",
        "back in 2012 I had an accident at work, these days my lower back spasms when I garden",
    ],
)
def test_an_accident_dated_years_back_is_history_not_a_recent_injury(brain: Brain, message: str) -> None:
    assert brain.answer(message).kind != "urgent"


def test_a_recent_dated_accident_still_raises_the_alarm(brain: Brain) -> None:
    from datetime import date

    assert brain.answer(f"I had an accident in {date.today().year} and now my back hurts").kind == "urgent"


@pytest.mark.parametrize(
    "message",
    [
        "my calves cramp every night in bed, what can I do",
        "my neck spasms when I turn my head, how should I sleep",
        "my eyelid keeps twitching",
        "my mum gets terrible leg cramps, she drinks lots of water but still gets the cramps. what can she do to stop them?",
        "my foot cramps when i swim",
        "my knee clicks and hurts going downstairs, my back is totally fine. what is it",
        "a dull ache at the back of my knee when I run, what is it",
    ],
)
def test_a_spasm_or_cramp_somewhere_else_is_off_topic(brain: Brain, message: str) -> None:
    assert brain.answer(message).kind == "fallback"


@pytest.mark.parametrize(
    "message",
    [
        "my spasms keep coming back, what can I do",
        "the pain goes down my leg, do I need to be seen?",
        "4 days after the spasm. slept with a pillow between my knees and it helped. what now?",
        "can i do the knees to chest stretch",
        "how long should i stay on my feet at work",
        "is it ok to lie with my legs up on a chair",
        "should i sleep with a pillow between my legs",
        "my back is fine now but how do i stop the spasms coming back?",
    ],
)
def test_back_pain_told_with_other_body_parts_is_still_back_pain(brain: Brain, message: str) -> None:
    assert brain.answer(message).kind != "fallback"


@pytest.mark.parametrize("message", ["what's the weather in Izmir tomorrow", "best recipe for lentil soup", "my tooth hurts when I eat ice cream"])
def test_an_off_topic_message_gets_the_friendly_fallback(brain: Brain, message: str) -> None:
    reply = brain.answer(message)
    assert reply.kind == "fallback"
    assert reply.text == brain.fill(brain.content.message("fallback"))


def test_an_answer_past_the_guide_says_what_it_does_not_cover_and_who_can_help(brain: Brain) -> None:
    medicine = brain.entry_reply(brain.content.entries["medication_nsaids"], partial=True)
    assert "pharmacist" in medicine.text
    other = brain.entry_reply(brain.content.entries["medical_care_imaging"], partial=True)
    assert "doesn't cover" in other.text and "doctor" in other.text


def test_look_alike_letters_are_read_as_latin_but_other_scripts_are_left_alone() -> None:
    assert fold_lookalikes("my l\u0435gs gave way") == "my legs gave way"  # Cyrillic е
    assert fold_lookalikes("gr\u03bfin") == "groin"  # Greek ο
    assert fold_lookalikes("у меня болит спина") == "у меня болит спина"  # Russian stays Russian
    assert fold_lookalikes("I can't \u0440\u0435\u0435") == "I can't pee"  # a whole word of look-alikes among English


def test_the_kept_part_of_unicodes_table_folds_as_the_whole_table_does() -> None:
    """bot/lookalikes.py keeps two small parts of `confusable-homoglyphs` (16 MB once imported):
    each look-alike letter's Latin twin, and each character's script, as the library reports them."""
    from confusable_homoglyphs import categories, confusables

    table = lookalikes()
    for char in ["\u0435", "\u03bf", "\u0440", "\u0455", "\u0391", "\u0456", "a", "\u00e9", "\u044f", "\u05d0", "-"]:
        assert table.script(char) == categories.alias(char)
        found = confusables.is_confusable(char, preferred_aliases=["latin"])
        twin = next((h["c"] for h in found[0]["homoglyphs"] if h["c"].isascii() and h["c"].isalpha()), None) if found else None
        assert table.twin(char) == twin, char


def test_a_running_bot_never_imports_the_whole_confusables_table(tmp_path: Path) -> None:
    env = {**os.environ, "BOT_CACHE_DIR": str(tmp_path)}
    code = "import sys; from bot.text import fold_lookalikes; fold_lookalikes('l\u0435gs'); print('confusable_homoglyphs' in sys.modules)"
    first, again = (subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT, check=True) for _ in range(2))
    assert first.stdout.strip() == "True"  # the first start reads the table once, into the cache
    assert again.stdout.strip() == "False"


@pytest.mark.parametrize(
    "message", ["I f\u0435ll down the stairs", "my l\u0435gs gave way", "numbn\u0435ss in my gr\u03bfin", "ｍｙ ｌｅｇｓ ｇａｖｅ ｗａｙ", "I can't \u0440\u0435\u0435"]
)
def test_a_warning_sign_with_look_alike_letters_is_an_emergency(brain: Brain, message: str) -> None:
    reply = brain.answer(message)
    assert (reply.kind, reply.urgency) == ("urgent", "emergency")


@pytest.mark.parametrize("message", ["I leaned over to pick something up and my back went", "we cycled up the hills and my back ached"])
def test_a_real_english_word_is_never_corrected_into_a_warning_sign(brain: Brain, message: str) -> None:
    assert brain.answer(message).kind != "urgent"


def test_the_crisis_line_comes_from_the_environment(brain: Brain) -> None:
    local = Brain(brain.content, replace(brain.settings, crisis_line="Lifeline 13 11 14"))
    reply = local.answer("i dont want to live anymore")
    assert reply.urgency == "crisis"
    assert "Lifeline 13 11 14" in reply.text


def test_a_crisis_in_the_middle_of_triage_gets_the_crisis_reply(dialogue: Dialogue, user: int) -> None:
    dialogue.handle_text(user, "/triage")
    replies = dialogue.handle_text(user, "honestly i want to kill myself")
    assert replies[0].urgency == "crisis"
    assert "116 123" in replies[0].text
    assert replies[-1].state is not None  # the questions can go on afterwards


def test_the_classifier_is_trained_once_per_content_and_cached(tmp_path: Path) -> None:
    examples = [("ice for the first days", "ice"), ("cold pack on my back", "ice"), ("heat pad after three days", "heat"),
                ("warm bath for a spasm", "heat")] * 3
    first = load_or_train(examples, tmp_path)
    saved = list(tmp_path.glob("classifier-*.npz"))
    assert len(saved) == 1
    again = load_or_train(examples, tmp_path)
    assert again.labels == first.labels
    assert list(tmp_path.glob("classifier-*.npz")) == saved  # loaded, not retrained
    load_or_train([*examples, ("hot shower", "heat")], tmp_path)
    assert len(list(tmp_path.glob("classifier-*.npz"))) == 2  # an edit retrains by itself


def test_the_classifier_in_use_outlives_newer_ones_when_the_cache_is_pruned(tmp_path: Path) -> None:
    examples = [("ice for the first days", "ice"), ("cold pack on my back", "ice"), ("heat pad after three days", "heat"),
                ("warm bath for a spasm", "heat")] * 3
    load_or_train(examples, tmp_path)
    (kept,) = tmp_path.glob("classifier-*.npz")
    for k in range(KEEP + 2):  # other contents (tests, an edit being tried) come and go
        load_or_train([*examples, (f"hot shower {k}", "heat")], tmp_path)
        load_or_train(examples, tmp_path)
    assert kept.exists()
    assert len(list(tmp_path.glob("classifier-*.npz"))) == KEEP


def test_the_saved_classifier_gives_the_fitted_pipelines_own_probabilities(brain: Brain, tmp_path: Path) -> None:
    from bot.classifier import Classifier, make_model

    examples = [(brain.matcher.normalize(e), entry.id) for entry in list(brain.content.entries.values())[:12] for e in entry.examples]
    model = make_model().fit([t for t, _ in examples], [label for _, label in examples])
    with (tmp_path / "c.npz").open("wb") as handle:
        Classifier.from_pipeline(model).save(handle)
    loaded = Classifier.load(tmp_path / "c.npz")
    texts = [brain.matcher.normalize(t) for t in ("ice or heat first", "my back locked up lifting a box, what now", "zzz")]
    assert abs(loaded.probabilities(texts) - model.predict_proba(texts)).max() < 1e-5
    parts = texts[:2]
    assert abs(loaded.story(parts) - model.predict_proba([" ".join(parts), *parts])).max() < 1e-5



@pytest.mark.parametrize(
    "message",
    [
        "went down the stairs on a tray with my kids and now my back really hurts",
        "the wave slammed me into the sand and I felt a crunch in my back",
        "I'm losing muscle in both legs and can only walk a few steps",
        "I have to wake up in the middle of the night with the pain in my back",
    ],
)
def test_impacts_and_progressive_weakness_in_real_words_raise_the_alarm(brain: Brain, message: str) -> None:
    assert brain.answer(message).kind == "urgent"


def test_standing_for_long_is_endurance_not_legs_giving_way(brain: Brain) -> None:
    assert brain.answer("my lower back aches and I cannot stand for more than ten minutes at work").kind != "urgent"


@pytest.mark.parametrize(
    ("written", "read"),
    [
        ("anybody know what this can be/how to treat it?", "what this can be how to"),
        ("whenever I run(and after) it hurts", "run and after"),
        ("my GP said it's a 'slipped disc'", "herniated disc"),
        ('I "tweaked" my back', "i tweaked the back"),
        ("I had an accident in 1999", "accident years ago"),
    ],
)
def test_punctuation_and_dates_are_read_the_way_people_mean_them(brain: Brain, written: str, read: str) -> None:
    assert read in " ".join(w for w in tokenize(written, brain.content.language) if w.isalnum())


def test_a_huge_word_is_read_only_as_far_as_a_stem_can_reach(brain: Brain) -> None:
    """A 100,000-letter "word" once made 100,000 beginnings of itself (10 GB) to look for stems."""
    from bot.languages import LONGEST_STEM, _beginnings

    assert len(_beginnings(["a" * 100_000])) == LONGEST_STEM
    assert brain.answer("a" * 100_000).kind == "fallback"
