"""The loader points at the file, the entry and the problem, like a compiler."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bot.content import ContentError, load
from tests.conftest import ROOT


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    for name in ("faq.yaml", "messages.yaml", "language.yaml"):
        shutil.copy(ROOT / name, tmp_path / name)
    shutil.copytree(ROOT / "intents", tmp_path / "intents")
    shutil.copytree(ROOT / "flows", tmp_path / "flows")
    return tmp_path


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


def test_shipped_content_loads(copy: Path) -> None:
    content = load(copy)
    assert len(content.entries) > 50 and content.signs


def test_duplicate_id_is_named(copy: Path) -> None:
    _edit(copy / "intents" / "heat_therapy.yaml", "id: heat_therapy_methods", "id: heat_therapy_when_to_switch")
    with pytest.raises(ContentError, match=r"heat_therapy.yaml, entry 'heat_therapy_when_to_switch': duplicate id"):
        load(copy)


def test_unknown_topic_is_named(copy: Path) -> None:
    _edit(copy / "faq.yaml", "topic: basics", "topic: astrology")
    with pytest.raises(ContentError, match=r"faq.yaml, entry '.*': unknown topic 'astrology'"):
        load(copy)


def test_dangling_follow_up_is_named(copy: Path) -> None:
    _edit(copy / "faq.yaml", "follow_ups: [", "follow_ups: [no_such_entry, ")
    with pytest.raises(ContentError, match="unknown id 'no_such_entry'"):
        load(copy)


def test_empty_phrasing_list_is_named(copy: Path) -> None:
    text = (copy / "intents" / "medication.yaml").read_text()
    start = text.index("examples:")
    end = text.index("answer:", start)
    (copy / "intents" / "medication.yaml").write_text(text[:start] + "examples: []\n    " + text[end:])
    with pytest.raises(ContentError, match=r"medication.yaml, entry '.*': 'examples' needs at least 8"):
        load(copy)


def test_bad_yaml_reports_its_line(copy: Path) -> None:
    (copy / "intents" / "causes.yaml").write_text("topic: causes\nintents:\n  - id: x\n   bad: [\n")
    with pytest.raises(ContentError, match=r"causes.yaml:\d+:\d+: invalid YAML"):
        load(copy)


def test_broken_flow_names_the_step(copy: Path) -> None:
    _edit(copy / "flows" / "triage.yaml", "  - id: fever\n    screen: urgent", "  - id: fever\n    screen: sometimes")
    with pytest.raises(ContentError, match=r"flows/triage.yaml, step 'fever': 'screen' must be one of"):
        load(copy)


def test_unquoted_no_in_a_word_list_is_caught(copy: Path) -> None:
    _edit(copy / "language.yaml", 'denials: ["no",', "denials: [no,")
    with pytest.raises(ContentError, match="put yes/no/on/off in quotes"):
        load(copy)
