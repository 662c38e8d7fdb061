"""Loads and validates the content files into typed records.

Content is data a clinician edits: every problem is reported with the file, the entry and what
is wrong, the way a compiler points at a line, and the bot refuses to start on a broken file.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bot.errors import ContentError
from bot.text import Language
from bot.triage import Flow, validate

#: libyaml's C parser when PyYAML has it (the wheels do): start-up is mostly YAML parsing.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
TOPICS = (
    "basics",
    "causes",
    "symptoms",
    "immediate_relief",
    "heat_therapy",
    "medication",
    "physical_therapy",
    "alternative_therapies",
    "prevention",
    "medical_care",
    "smalltalk",
)
#: Most urgent first: the reply of the first tier found leads.
TIERS = ("emergency", "crisis", "urgent")
MIN_FAQ_EXAMPLES = 6
MIN_INTENT_EXAMPLES = 8
MAX_LABEL = 32


@dataclass(frozen=True)
class Entry:
    """One answerable question: a FAQ entry or an intent."""

    id: str
    topic: str
    question: str
    label: str
    examples: tuple[str, ...]
    answer: str
    source: str
    follow_ups: tuple[str, ...]
    file: str
    #: The opening for a yes/no question ("It can."); other questions get the answer without it.
    lead: str = ""


@dataclass(frozen=True)
class Sign:
    """One warning sign: any phrasing alone, or one term of every group of a combination."""

    id: str
    tier: str
    label: str
    source: str
    phrasings: tuple[str, ...]
    combinations: tuple[tuple[tuple[str, ...], ...], ...]
    #: Phrases that contain a match but mean something else ("fell asleep" is not a fall).
    exceptions: tuple[str, ...] = ()
    #: True for a condition a person may ask about ("could it be cancer?"): a question is not a sign.
    asked_about: bool = False


@dataclass(frozen=True)
class Content:
    """Everything the bot says and knows, validated."""

    entries: dict[str, Entry]
    signs: tuple[Sign, ...]
    tier_replies: dict[str, str]
    messages: dict[str, Any]
    language: Language
    flow: Flow
    out_of_scope: tuple[str, ...] = ()
    #: The entry that answers a question about a condition ("could this be cancer?").
    asked_answer: str = ""
    #: The folder the content was read from.
    root: Path = Path(".")

    def by_topic(self, topic: str) -> list[Entry]:
        """Entries of one topic, FAQ entries first, in file order."""
        return [e for e in self.entries.values() if e.topic == topic]

    def message(self, key: str, **values: str) -> str:
        """A sentence of `messages.yaml`, with its `{placeholders}` filled in."""
        text = self.messages[key]
        return text.format(**values) if values else text


def default_root() -> Path:
    """The folder holding `faq.yaml`: `BOT_CONTENT_DIR`, else the repository of this package."""
    env = os.environ.get("BOT_CONTENT_DIR")
    return Path(env) if env else Path(__file__).resolve().parent.parent


def read_yaml(path: Path) -> Any:
    """Parse one YAML file; a syntax error names the file and the line."""
    try:
        with path.open(encoding="utf-8") as handle:
            return yaml.load(handle, Loader=_LOADER)
    except FileNotFoundError as exc:
        raise ContentError(f"{path}: file not found") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}:{mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ContentError(f"{path}{where}: invalid YAML: {problem}") from exc


def _require(cond: bool, where: str, problem: str) -> None:
    if not cond:
        raise ContentError(f"{where}: {problem}")


def _text(raw: dict[str, Any], key: str, where: str) -> str:
    value = raw.get(key)
    _require(isinstance(value, str) and value.strip() != "", where, f"'{key}' must be a non-empty text")
    return value.strip()


def _text_list(raw: dict[str, Any], key: str, where: str, minimum: int) -> tuple[str, ...]:
    value = raw.get(key, [])
    _require(isinstance(value, list), where, f"'{key}' must be a list")
    _require(len(value) >= minimum, where, f"'{key}' needs at least {minimum} items, has {len(value)}")
    for item in value:
        _require(isinstance(item, str), where, f"'{key}' has {item!r}, not a text: put yes/no/on/off in quotes")
        _require(item.strip() != "", where, f"'{key}' has an empty item")
    return tuple(item.strip() for item in value)


def _entry(raw: Any, file: Path, index: int, topic: str | None, minimum: int) -> Entry:
    where = f"{file.name}, entry {index + 1}"
    _require(isinstance(raw, dict), where, "must be a mapping with id, question, examples, answer")
    entry_id = raw.get("id")
    _require(isinstance(entry_id, str) and entry_id.isidentifier(), where, "'id' must be lower_snake_case")
    where = f"{file.name}, entry '{entry_id}'"
    entry_topic = raw.get("topic", topic)
    _require(entry_topic in TOPICS, where, f"unknown topic {entry_topic!r} (known: {', '.join(TOPICS)})")
    _require(topic is None or entry_topic == topic, where, f"topic {entry_topic!r} in a file of topic {topic!r}")
    question = _text(raw, "question", where)
    label = raw.get("label") or question
    _require(len(label) <= MAX_LABEL, where, f"needs a 'label' of at most {MAX_LABEL} characters for its button (the question is longer)")
    follow_ups = raw.get("follow_ups") or []
    _require(isinstance(follow_ups, list), where, "'follow_ups' must be a list of ids")
    return Entry(
        id=entry_id,
        topic=entry_topic,
        question=question,
        label=label,
        examples=_text_list(raw, "examples", where, minimum),
        answer=_text(raw, "answer", where),
        source=_text(raw, "source", where),
        follow_ups=tuple(follow_ups),
        file=file.name,
        lead=str(raw.get("lead") or "").strip(),
    )


def _entries_of(path: Path, data: Any) -> Iterator[Entry]:
    if path.name == "faq.yaml":
        _require(isinstance(data, dict) and isinstance(data.get("entries"), list), path.name, "needs a list 'entries'")
        for i, raw in enumerate(data["entries"]):
            yield _entry(raw, path, i, None, MIN_FAQ_EXAMPLES)
        return
    _require(isinstance(data, dict), path.name, "needs 'topic' and a list 'intents'")
    topic = data.get("topic")
    _require(topic in TOPICS, path.name, f"unknown topic {topic!r}")
    _require(isinstance(data.get("intents"), list), path.name, "needs a list 'intents'")
    for i, raw in enumerate(data["intents"]):
        yield _entry(raw, path, i, topic, MIN_INTENT_EXAMPLES)


def _load_entries(root: Path) -> dict[str, Entry]:
    special = ("red_flags.yaml", "out_of_scope.yaml", "languages.yaml")
    files = [root / "faq.yaml", *sorted(p for p in (root / "intents").glob("*.yaml") if p.name not in special)]
    entries: dict[str, Entry] = {}
    for path in files:
        for entry in _entries_of(path, read_yaml(path)):
            if entry.id in entries:
                raise ContentError(f"{path.name}, entry '{entry.id}': duplicate id (also in {entries[entry.id].file})")
            entries[entry.id] = entry
    for entry in entries.values():
        for target in entry.follow_ups:
            _require(target in entries, f"{entry.file}, entry '{entry.id}'", f"follow_ups names unknown id '{target}'")
    topics = {e.topic for e in entries.values()}
    missing = [t for t in TOPICS if t not in topics]
    _require(not missing, str(root), f"no entry for topic(s): {', '.join(missing)}")
    return entries


def _load_signs(path: Path) -> tuple[tuple[Sign, ...], dict[str, str], str]:
    data = read_yaml(path)
    _require(isinstance(data, dict), path.name, "needs 'tiers' and 'signs'")
    tiers = data.get("tiers")
    _require(isinstance(tiers, dict) and set(tiers) == set(TIERS), path.name, f"'tiers' must define exactly {TIERS}")
    replies = {tier: _text(tiers[tier], "reply", f"{path.name}, tier '{tier}'") for tier in TIERS}
    signs, seen = [], set()
    for i, raw in enumerate(data.get("signs") or []):
        where = f"{path.name}, sign {i + 1}"
        _require(isinstance(raw, dict), where, "must be a mapping")
        sign_id = raw.get("id")
        _require(isinstance(sign_id, str) and sign_id.isidentifier(), where, "'id' must be lower_snake_case")
        where = f"{path.name}, sign '{sign_id}'"
        _require(sign_id not in seen, where, "duplicate id")
        seen.add(sign_id)
        _require(raw.get("tier") in TIERS, where, f"'tier' must be one of {TIERS}")
        combos = raw.get("combinations") or []
        _require(isinstance(combos, list), where, "'combinations' must be a list of lists of word groups")
        parsed = []
        for combo in combos:
            ok = isinstance(combo, list) and len(combo) >= 2 and all(isinstance(g, list) and g for g in combo)
            _require(ok, where, "each combination needs two or more non-empty word groups")
            for term in (t for group in combo for t in group):
                _require(isinstance(term, str), where, f"{term!r} is not a text: put yes/no/on/off in quotes")
            parsed.append(tuple(tuple(group) for group in combo))
        phrasings = _text_list(raw, "phrasings", where, 0)
        _require(bool(phrasings or parsed), where, "needs 'phrasings' or 'combinations'")
        _require(isinstance(raw.get("asked_about", False), bool), where, "'asked_about' must be true or false")
        signs.append(
            Sign(
                id=sign_id,
                tier=raw["tier"],
                label=_text(raw, "label", where),
                source=_text(raw, "source", where),
                phrasings=phrasings,
                combinations=tuple(parsed),
                exceptions=_text_list(raw, "except", where, 0),
                asked_about=raw.get("asked_about", False),
            )
        )
    _require(bool(signs), path.name, "no signs")
    return tuple(signs), replies, _text(data, "asked_about_answer", path.name)


def _load_language(path: Path) -> Language:
    data = read_yaml(path)
    _require(isinstance(data, dict), path.name, "must be a mapping")
    for key in ("phrases", "words"):
        _require(isinstance(data.get(key), dict), path.name, f"'{key}' must be a mapping")
    required = ("stopwords", "denials", "clause_breaks", "denials_after", "denial_links", "known_words")
    optional = ("condition_cues", "condition_owners", "question_words", "subject_words", "yes_no_words")
    lists = {key: data.get(key) for key in required} | {key: data.get(key, []) for key in optional}
    for key, value in lists.items():
        _require(isinstance(value, list), path.name, f"'{key}' must be a list")
        for item in value:
            _require(isinstance(item, str), path.name, f"'{key}' has {item!r}: put yes/no/on/off in quotes")
    emoji = data.get("emoji") or {}
    _require(isinstance(emoji, dict), path.name, "'emoji' must map emoji to words")
    return Language(
        emoji={str(k): str(v).lower() for k, v in emoji.items()},
        phrases={str(k).lower(): str(v).lower() for k, v in data["phrases"].items()},
        words={str(k).lower(): str(v).lower() for k, v in data["words"].items()},
        stopwords=frozenset(map(str, lists["stopwords"])),
        denials=frozenset(map(str, lists["denials"])),
        clause_breaks=frozenset(map(str, lists["clause_breaks"])),
        denials_after=frozenset(map(str, lists["denials_after"])),
        denial_links=frozenset(map(str, lists["denial_links"])),
        known_words=frozenset(map(str, lists["known_words"])),
        condition_cues=tuple(map(str, lists["condition_cues"])),
        condition_owners=tuple(map(str, lists["condition_owners"])),
        question_words=frozenset(map(str, lists["question_words"])),
        subject_words=tuple(map(str, lists["subject_words"])),
        yes_no_words=frozenset(map(str, lists["yes_no_words"])),
    )


def _load_out_of_scope(path: Path) -> tuple[str, ...]:
    """Examples of what the bot must not answer from the guide (optional file)."""
    if not path.exists():
        return ()
    data = read_yaml(path)
    _require(isinstance(data, dict), path.name, "needs a list 'examples'")
    return _text_list(data, "examples", path.name, 1)


def load(root: Path | None = None) -> Content:
    """Read and validate every content file under `root`."""
    root = root or default_root()
    messages = read_yaml(root / "messages.yaml")
    _require(isinstance(messages, dict), "messages.yaml", "must be a mapping of message keys to texts")
    signs, replies, asked_answer = _load_signs(root / "intents" / "red_flags.yaml")
    entries = _load_entries(root)
    _require(asked_answer in entries, "red_flags.yaml", f"'asked_about_answer' names unknown entry '{asked_answer}'")
    content = Content(
        entries=entries,
        signs=signs,
        tier_replies=replies,
        messages=messages,
        language=_load_language(root / "language.yaml"),
        flow=validate(read_yaml(root / "flows" / "triage.yaml"), "flows/triage.yaml", {s.id: s.tier for s in signs}),
        out_of_scope=_load_out_of_scope(root / "intents" / "out_of_scope.yaml"),
        asked_answer=asked_answer,
        root=root,
    )
    return content
