"""The loader points at the file, the line, the entry and the problem, like a compiler, and lists
every problem at once."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.content import ContentError, ContentProblems, content_files, load


@pytest.fixture
def copy(content_copy: Path) -> Path:
    return content_copy


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


def _line(path: Path, text: str, after: int = 0) -> int:
    """The line number of the first line holding `text`, after line `after`."""
    return next(n for n, line in enumerate(path.read_text().splitlines(), 1) if n > after and text in line)


def test_shipped_content_loads(copy: Path) -> None:
    content = load(copy)
    assert len(content.entries) > 50 and content.signs


def test_every_content_file_is_listed_for_watching(copy: Path) -> None:
    names = {p.relative_to(copy).as_posix() for p in content_files(copy)}
    assert {"faq.yaml", "messages.yaml", "language.yaml", "flows/triage.yaml", "intents/red_flags.yaml", "intents/languages.yaml"} <= names
    assert all(p.exists() for p in content_files(copy))


def test_every_mistake_is_listed_at_once_with_file_line_and_entry(copy: Path) -> None:
    faq, heat = copy / "faq.yaml", copy / "intents" / "heat_therapy.yaml"
    _edit(faq, "topic: basics", "topic: astrology")
    _edit(heat, "id: heat_therapy_methods", "id: heat_therapy_when_to_switch")
    _edit(heat, "source:", "sauce:")
    with pytest.raises(ContentProblems) as caught:
        load(copy)
    problems = [str(p) for p in caught.value.problems]
    first_entry = _line(faq, "- id: ")
    duplicate = _line(heat, "id: heat_therapy_when_to_switch", after=_line(heat, "id: heat_therapy_when_to_switch"))
    assert f"faq.yaml:{_line(faq, 'topic: astrology')}: entry 'faq_what_are_back_spasms': 'topic' is 'astrology'" in problems[0]
    assert first_entry < _line(faq, "topic: astrology")
    assert any(p.startswith(f"intents/heat_therapy.yaml:{duplicate}: entry 'heat_therapy_when_to_switch': duplicate id") for p in problems)
    assert any(p.startswith("intents/heat_therapy.yaml:") and "'source' must be a non-empty text" in p for p in problems)
    assert "'heat_therapy_methods'" in str(caught.value), "follow-ups to the renamed entry are named too"
    assert str(caught.value).startswith(f"{len(problems)} problems:"), "the ContentError message is the whole list"


def test_one_problem_is_one_line(copy: Path) -> None:
    heat = copy / "intents" / "heat_therapy.yaml"
    _edit(heat, "    answer: ", "    answr: ")
    line = _line(heat, "id: heat_therapy_when_to_switch")  # no 'answer' to point at: the entry
    with pytest.raises(ContentError, match=rf"^intents/heat_therapy.yaml:{line}: entry 'heat_therapy_when_to_switch': 'answer' must be a non-empty text$"):
        load(copy)


def test_dangling_follow_up_points_at_its_line(copy: Path) -> None:
    _edit(copy / "faq.yaml", "follow_ups: [", "follow_ups: [no_such_entry, ")
    line = _line(copy / "faq.yaml", "no_such_entry")
    with pytest.raises(ContentError, match=rf"faq.yaml:{line}: entry '\w+': 'follow_ups' names unknown id 'no_such_entry'"):
        load(copy)


def test_empty_phrasing_list_is_named(copy: Path) -> None:
    text = (copy / "intents" / "medication.yaml").read_text()
    start = text.index("examples:")
    end = text.index("answer:", start)
    (copy / "intents" / "medication.yaml").write_text(text[:start] + "examples: []\n    " + text[end:])
    with pytest.raises(ContentError, match=r"intents/medication.yaml:\d+: entry '\w+': 'examples' needs at least 8"):
        load(copy)


def test_bad_yaml_reports_its_line_and_the_other_files_are_still_checked(copy: Path) -> None:
    (copy / "intents" / "causes.yaml").write_text("topic: causes\nintents:\n  - id: x\n   bad: [\n")
    _edit(copy / "messages.yaml", "welcome: |", "welcom: |")
    with pytest.raises(ContentProblems) as caught:
        load(copy)
    problems = [str(p) for p in caught.value.problems]
    assert any(p.startswith("intents/causes.yaml:4:4: invalid YAML") for p in problems)
    assert any(p.startswith("messages.yaml:") and "missing message(s): welcome" in p for p in problems)
    assert not any("follow_ups" in p for p in problems), "no follow-up into the unreadable file is blamed"


def test_broken_flow_names_the_step_and_its_line(copy: Path) -> None:
    flow = copy / "flows" / "triage.yaml"
    _edit(flow, "  - id: fever\n    screen: urgent", "  - id: fever\n    screen: sometimes")
    with pytest.raises(ContentError, match=rf"flows/triage.yaml:{_line(flow, 'screen: sometimes')}: step 'fever': 'screen' must be one of"):
        load(copy)


def test_unquoted_no_in_a_word_list_is_caught(copy: Path) -> None:
    _edit(copy / "language.yaml", 'denials: ["no",', "denials: [no,")
    with pytest.raises(ContentError, match=r"language.yaml:\d+: 'denials' has False: put yes/no/on/off in quotes"):
        load(copy)


def test_misspelt_placeholder_is_caught_before_a_user_sees_it(copy: Path) -> None:
    _edit(copy / "messages.yaml", "call {emergency_number} now.", "call {emergency_numbr} now.")
    _edit(copy / "intents" / "red_flags.yaml", "You mentioned: {signs}.", "You mentioned: {signs.")
    with pytest.raises(ContentProblems) as caught:
        load(copy)
    text = str(caught.value)
    assert "messages.yaml:4: 'welcome' has the unknown placeholder {emergency_numbr}" in text
    assert "intents/red_flags.yaml:" in text and "tier 'emergency': 'reply' has a stray brace" in text


def test_asked_about_on_an_emergency_sign_is_refused(copy: Path) -> None:
    _edit(copy / "intents" / "red_flags.yaml", "  - id: urine_retention\n    tier: emergency\n", "  - id: urine_retention\n    tier: emergency\n    asked_about: true\n")
    with pytest.raises(ContentError, match=r"red_flags.yaml:\d+: sign 'urine_retention': 'asked_about' must not be true on an emergency sign"):
        load(copy)
