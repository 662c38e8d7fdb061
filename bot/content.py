"""Loads and validates the content files into typed records.

Content is data a clinician edits: every problem is reported at once, each with the file, the
line, the entry and what is wrong, the way a compiler points at a line, and the bot refuses to
start on a broken file.
"""

from __future__ import annotations

import os
import re
import string
from collections.abc import Iterator
from contextlib import contextmanager
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
LONG_LABEL = f"needs a 'label' of at most {MAX_LABEL} characters for its button (the question is longer)"
#: The content files, relative to the content root (besides every `intents/<topic>.yaml`).
FAQ, MESSAGES, LANGUAGE, FLOW = "faq.yaml", "messages.yaml", "language.yaml", "flows/triage.yaml"
RED_FLAGS, OUT_OF_SCOPE, LANGUAGES = "intents/red_flags.yaml", "intents/out_of_scope.yaml", "intents/languages.yaml"
#: The placeholders the bot fills into any text: a misspelt one would reach the user as "{emergncy_number}".
NUMBERS = ("emergency_number", "urgent_number", "crisis_line")
#: Messages filled with other values (`partial_answer` is filled with {who} alone).
MESSAGE_PLACEHOLDERS = {"topic_intro": (*NUMBERS, "topic"), "partial_answer": ("who",)}
#: Every message the code asks for: one renamed or deleted would break a reply when it is sent.
REQUIRED_MESSAGES = (
    "welcome", "help", "topics", "topic_intro", "fallback", "fallback_back_pain", "clarify", "more_topics",
    "all_topics", "next_page", "previous_page", "menu_topics", "start_triage", "about", "privacy", "forgot",
    "unknown_command", "expired_button", "non_text", "too_long", "error", "terminal_hint", "throttled", "state_reset",
    "default_emergency_number", "default_crisis_line", "default_urgent_number", "topic_labels", "partial_answer",
    "partial_who", "group_private", "open_private", "edited_answer", "commands",
)


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
    #: True for an event that can be long past: told in a sentence dated to the past and not to
    #: now (language.yaml: past_words, recent_words), it is history ("fell off a horse as a teenager").
    dated: bool = False
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


@dataclass(frozen=True)
class Problem:
    """One thing wrong in the content, printed the way a compiler points at a line."""

    file: str
    line: int | None
    text: str
    column: int | None = None

    def __str__(self) -> str:
        place = ":".join(str(part) for part in (self.file, self.line, self.column) if part)
        return f"{place}: {self.text}"


class ContentProblems(ContentError):
    """Every problem of a broken content at once; the message lists them, one a line."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        lines = [str(p) for p in problems]
        super().__init__(lines[0] if len(lines) == 1 else "\n  ".join([f"{len(lines)} problems:", *lines]))


def default_root() -> Path:
    """The folder holding `faq.yaml`: `BOT_CONTENT_DIR`, else the repository of this package."""
    env = os.environ.get("BOT_CONTENT_DIR")
    return Path(env) if env else Path(__file__).resolve().parent.parent


def content_files(root: Path) -> list[Path]:
    """Every file the bot reads its content from (what a running bot watches for edits)."""
    return [root / name for name in (FAQ, MESSAGES, LANGUAGE, FLOW)] + sorted((root / "intents").glob("*.yaml"))


def _yaml_problem(exc: yaml.YAMLError) -> tuple[int | None, int | None, str]:
    """The line, the column and the problem of a YAML syntax error."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    return (mark.line + 1, mark.column + 1, problem) if mark else (None, None, problem)


def read_yaml(path: Path) -> Any:
    """Parse one YAML file; a syntax error names the file and the line."""
    try:
        with path.open(encoding="utf-8") as handle:
            return yaml.load(handle, Loader=_LOADER)
    except FileNotFoundError as exc:
        raise ContentError(f"{path}: file not found") from exc
    except yaml.YAMLError as exc:
        line, column, problem = _yaml_problem(exc)
        where = f":{line}:{column}" if line else ""
        raise ContentError(f"{path}{where}: invalid YAML: {problem}") from exc


# -- finding the line a problem points at -------------------------------------------------
#: A problem's text starts with the entry it is about: by id or name ("entry 'x'", "language 'es'")
#: or by number when it has no id ("entry 3", "plan item 2").
_LABEL = re.compile(r"(entry|sign|step|language|tier|outcome|plan item|implies) (?:'([^']*)'|(\d+))")
_LISTS = {"entry": ("entries", "intents"), "sign": ("signs",), "step": ("steps",), "plan item": ("plan",), "implies": ("implies",)}
_QUOTED = re.compile(r"'([^']+)'")


def _compose(path: Path) -> yaml.Node | None:
    """The file's node tree, which knows the line of every value (only read for a broken file)."""
    try:
        with path.open(encoding="utf-8") as handle:
            return yaml.compose(handle, Loader=_LOADER)
    except (OSError, yaml.YAMLError):
        return None


def _mappings(node: yaml.Node) -> Iterator[yaml.MappingNode]:
    if isinstance(node, yaml.MappingNode):
        yield node
        for _, value in node.value:
            yield from _mappings(value)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            yield from _mappings(item)


def _key(node: yaml.Node, name: str) -> tuple[yaml.Node, yaml.Node] | None:
    """The key and value of `name` in a mapping node."""
    if isinstance(node, yaml.MappingNode):
        return next(((k, v) for k, v in node.value if k.value == name), None)
    return None


def _labelled(tree: yaml.Node, text: str, kind: str, name: str | None, number: str | None) -> tuple[yaml.Node, yaml.Node] | None:
    """The node of the entry a problem names: the mapping with that id (the second one for a
    duplicate id), else the key of that name, else the numbered item of its list."""
    if name is not None:
        with_id = [m for m in _mappings(tree) if any(k.value == "id" and v.value == name for k, v in m.value)]
        if with_id:
            found = with_id[-1] if "duplicate" in text else with_id[0]
            return found, found
        return next((pair for m in _mappings(tree) if (pair := _key(m, name))), None)
    index = int(number or 0) - 1
    for key in _LISTS.get(kind, ()):
        pair = _key(tree, key)
        if pair and isinstance(pair[1], yaml.SequenceNode) and 0 <= index < len(pair[1].value):
            return pair[1].value[index], pair[1].value[index]
    return None


def _line(tree: yaml.Node | None, text: str) -> int | None:
    """The line a problem points at: its entry, then the first field it names in quotes."""
    if tree is None:
        return None
    at, node, rest = tree, tree, text
    label = _LABEL.match(text)
    if label and (found := _labelled(tree, text, *label.groups())):
        at, node = found
        rest = text[label.end() :]
    field = next((pair[0] for name in _QUOTED.findall(rest) if (pair := _key(node, name))), None)
    return (field or at).start_mark.line + 1


class _Checker:
    """Collects every problem instead of stopping at the first. Lines are looked up at the end,
    only in the files that have problems: a clean load parses each file once."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.found: list[tuple[Path, str, int | None, int | None]] = []

    def name(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix() if path.is_relative_to(self.root) else str(path)

    def add(self, path: Path, text: str, line: int | None = None, column: int | None = None) -> None:
        self.found.append((path, text, line, column))

    def require(self, cond: bool, path: Path, text: str) -> bool:
        """Record `text` unless `cond` holds; whether it holds."""
        if not cond:
            self.add(path, text)
        return cond

    def report(self, path: Path, problem: str | None) -> bool:
        """Record the problem of a single-value check, if any; whether there was none."""
        return self.require(problem is None, path, problem or "")

    def read(self, path: Path) -> Any:
        """The parsed file, or None once the reason it cannot be read is recorded."""
        try:
            data = read_yaml(path)
        except ContentError as exc:
            cause = exc.__cause__
            if isinstance(cause, yaml.YAMLError):
                line, column, problem = _yaml_problem(cause)
                self.add(path, f"invalid YAML: {problem}", line, column)
            else:
                self.add(path, "file not found")
            return None
        return data if self.require(data is not None, path, "the file is empty") else None

    @contextmanager
    def guard(self, path: Path) -> Iterator[None]:
        """Record the problem of a validator that stops at its first (the flow's, the languages')."""
        try:
            yield
        except ContentError as exc:
            text = str(exc)
            for prefix in (self.name(path), path.name):
                text = text.removeprefix(f"{prefix}, ").removeprefix(f"{prefix}: ")
            self.add(path, text)

    def error(self) -> ContentProblems:
        """Every problem found, in file and line order."""
        trees: dict[Path, yaml.Node | None] = {}
        problems = []
        for path, text, line, column in self.found:
            if line is None:
                if path not in trees:
                    trees[path] = _compose(path)
                line = _line(trees[path], text)
            problems.append(Problem(self.name(path), line, text, column))
        return ContentProblems(sorted(problems, key=lambda p: (p.file, p.line or 0)))


def located(root: Path, path: Path, error: ContentError) -> ContentProblems:
    """The problem another module's validator raised (it stops at its first), with its line."""
    checker = _Checker(root)
    with checker.guard(path):
        raise error
    return checker.error()


# -- checks of single values: each returns what is wrong, or None --------------------------


def _reported(check: _Checker, path: Path, what: str, problems: list[str | None]) -> bool:
    """Add the problems found in one entry or sign (`what` names it); whether there were any."""
    found = [p for p in problems if p]
    for problem in found:
        check.add(path, f"{what}: {problem}")
    return bool(found)


def _text_problem(raw: dict[str, Any], key: str) -> str | None:
    value = raw.get(key)
    return None if isinstance(value, str) and value.strip() != "" else f"'{key}' must be a non-empty text"


def _list_problem(raw: dict[str, Any], key: str, minimum: int) -> str | None:
    value = raw.get(key, [])
    if not isinstance(value, list):
        return f"'{key}' must be a list"
    if len(value) < minimum:
        return f"'{key}' needs at least {minimum} items, has {len(value)}"
    for item in value:
        if not isinstance(item, str):
            return f"'{key}' has {item!r}, not a text: put yes/no/on/off in quotes"
        if item.strip() == "":
            return f"'{key}' has an empty item"
    return None


def _topic_problem(topic: Any) -> str | None:
    return None if topic in TOPICS else f"'topic' is {topic!r}, not a known topic ({', '.join(TOPICS)})"


def _placeholder_problem(key: str, text: Any, allowed: tuple[str, ...] = NUMBERS) -> str | None:
    """Texts are filled in with str.format when they are sent: a stray brace or an unknown
    {name} would break the reply, or show the braces, at that moment instead of now."""
    if not isinstance(text, str):
        return None
    try:
        names = [name for _, name, _, _ in string.Formatter().parse(text) if name is not None]
    except ValueError as exc:
        return f"'{key}' has a stray brace ({exc}): write a placeholder as {{name}}, a brace as {{{{ or }}}}"
    unknown = [name for name in names if name not in allowed]
    return f"'{key}' has the unknown placeholder {{{unknown[0]}}} (known: {', '.join(allowed)})" if unknown else None


def _require(cond: bool, where: str, problem: str) -> None:
    if not cond:
        raise ContentError(f"{where}: {problem}")


def _text(raw: dict[str, Any], key: str, where: str) -> str:
    problem = _text_problem(raw, key)
    _require(problem is None, where, problem or "")
    return raw[key].strip()


def _text_list(raw: dict[str, Any], key: str, where: str, minimum: int) -> tuple[str, ...]:
    problem = _list_problem(raw, key, minimum)
    _require(problem is None, where, problem or "")
    return tuple(item.strip() for item in raw.get(key, []))


# -- the files ------------------------------------------------------------------------------


def _entry(check: _Checker, path: Path, raw: Any, index: int, topic: str | None, minimum: int) -> Entry | None:
    """One answer entry, or None once every problem of it is recorded."""
    if not check.require(isinstance(raw, dict), path, f"entry {index + 1}: must be a mapping with id, question, examples, answer"):
        return None
    entry_id = raw.get("id")
    if not check.require(isinstance(entry_id, str) and entry_id.isidentifier(), path, f"entry {index + 1}: 'id' must be lower_snake_case"):
        return None
    entry_topic = raw.get("topic", topic)
    question = raw.get("question")
    label = raw.get("label") or (question.strip() if isinstance(question, str) else "")
    follow_ups = raw.get("follow_ups") or []
    problems = [
        None if "topic" not in raw and topic else _topic_problem(entry_topic),  # a file's wrong topic is the file's problem
        None if topic is None or entry_topic == topic else f"'topic' is {entry_topic!r} in a file of topic {topic!r}",
        _text_problem(raw, "question"),
        None if isinstance(label, str) else "'label' must be a text",
        None if len(str(label)) <= MAX_LABEL else LONG_LABEL,
        _list_problem(raw, "examples", minimum),
        _text_problem(raw, "answer") or _placeholder_problem("answer", raw["answer"]),
        _placeholder_problem("lead", raw.get("lead")),
        _text_problem(raw, "source"),
        None if isinstance(follow_ups, list) else "'follow_ups' must be a list of ids",
    ]
    if _reported(check, path, f"entry '{entry_id}'", problems):
        return None
    return Entry(
        id=entry_id,
        topic=entry_topic,
        question=question.strip(),
        label=label,
        examples=tuple(e.strip() for e in raw["examples"]),
        answer=raw["answer"].strip(),
        source=raw["source"].strip(),
        follow_ups=tuple(follow_ups),
        file=path.name,
        lead=str(raw.get("lead") or "").strip(),
    )


def _entry_list(check: _Checker, path: Path, data: Any) -> tuple[list[Any], str | None, int]:
    """The raw entries of an answer file, the topic of its file and its fewest examples."""
    if path.name == "faq.yaml":
        ok = check.require(isinstance(data, dict) and isinstance(data.get("entries"), list), path, "needs a list 'entries'")
        return (data["entries"] if ok else []), None, MIN_FAQ_EXAMPLES
    if not check.require(isinstance(data, dict), path, "needs 'topic' and a list 'intents'"):
        return [], None, MIN_INTENT_EXAMPLES
    topic = data.get("topic")
    check.report(path, _topic_problem(topic))
    ok = check.require(isinstance(data.get("intents"), list), path, "needs a list 'intents'")
    return (data["intents"] if ok else []), topic, MIN_INTENT_EXAMPLES


def _load_entries(check: _Checker, root: Path) -> tuple[dict[str, Entry], set[str] | None]:
    """The valid entries, and the id of every entry, broken ones too (a follow-up naming a broken
    entry is not a second problem); no ids when a file could not be read, nor references checked."""
    special = (RED_FLAGS, OUT_OF_SCOPE, LANGUAGES)
    files = [root / FAQ, *sorted(p for p in (root / "intents").glob("*.yaml") if check.name(p) not in special)]
    entries: dict[str, Entry] = {}
    ids: dict[str, Path] = {}
    before, complete = len(check.found), True
    for path in files:
        data = check.read(path)
        complete &= data is not None
        raws, topic, minimum = _entry_list(check, path, data) if data is not None else ([], None, 0)
        for i, raw in enumerate(raws):
            entry = _entry(check, path, raw, i, topic, minimum)
            entry_id = raw.get("id") if isinstance(raw, dict) else None
            if not isinstance(entry_id, str):
                continue
            if entry_id in ids:
                check.add(path, f"entry '{entry_id}': duplicate id (also in {check.name(ids[entry_id])})")
                continue
            ids[entry_id] = path
            if entry:
                entries[entry.id] = entry
    if not complete:
        return entries, None
    for entry in entries.values():
        for target in entry.follow_ups:
            check.require(target in ids, ids[entry.id], f"entry '{entry.id}': 'follow_ups' names unknown id '{target}'")
    if len(check.found) == before:  # a broken entry may be the only one of its topic
        missing = [t for t in TOPICS if t not in {e.topic for e in entries.values()}]
        check.require(not missing, root / "intents", f"no entry for topic(s): {', '.join(missing)}")
    return entries, set(ids)


def _sign(check: _Checker, path: Path, raw: dict[str, Any], sign_id: str) -> Sign | None:
    """One warning sign, or None once every problem of it is recorded."""
    combos = raw.get("combinations") or []
    problems = [
        None if raw.get("tier") in TIERS else f"'tier' must be one of {TIERS}",
        None if isinstance(combos, list) else "'combinations' must be a list of lists of word groups",
        _text_problem(raw, "label"),
        _text_problem(raw, "source"),
        _list_problem(raw, "phrasings", 0),
        _list_problem(raw, "except", 0),
        None if isinstance(raw.get("dated", False), bool) else "'dated' must be true or false",
        None if isinstance(raw.get("asked_about", False), bool) else "'asked_about' must be true or false",
        None if not (raw.get("asked_about") is True and raw.get("tier") == "emergency") else (
            "'asked_about' must not be true on an emergency sign: a question about it must still get the emergency reply"
        ),
    ]
    parsed = []
    for combo in combos if isinstance(combos, list) else []:
        if not (isinstance(combo, list) and len(combo) >= 2 and all(isinstance(g, list) and g for g in combo)):
            problems.append("each of its 'combinations' needs two or more non-empty word groups")
            continue
        odd = [term for group in combo for term in group if not isinstance(term, str)]
        problems.append(f"'combinations' has {odd[0]!r}, not a text: put yes/no/on/off in quotes" if odd else None)
        parsed.append(tuple(tuple(group) for group in combo))
    if not raw.get("phrasings") and not parsed:
        problems.append("needs 'phrasings' or 'combinations'")
    if _reported(check, path, f"sign '{sign_id}'", problems):
        return None
    return Sign(
        id=sign_id,
        tier=raw["tier"],
        label=raw["label"].strip(),
        source=raw["source"].strip(),
        phrasings=tuple(p.strip() for p in raw.get("phrasings") or []),
        combinations=tuple(parsed),
        exceptions=tuple(e.strip() for e in raw.get("except") or []),
        dated=raw.get("dated", False),
        asked_about=raw.get("asked_about", False),
    )


@dataclass
class _Signs:
    """What red_flags.yaml holds; `tiers` has every sign id, broken signs too, for the flow's check."""

    signs: list[Sign]
    replies: dict[str, str]
    asked_answer: str
    tiers: dict[str, str]


def _load_signs(check: _Checker, path: Path) -> _Signs | None:
    data = check.read(path)
    if data is None or not check.require(isinstance(data, dict), path, "needs 'tiers' and 'signs'"):
        return None
    tiers = data.get("tiers")
    replies: dict[str, str] = {}
    if check.require(isinstance(tiers, dict) and set(tiers) == set(TIERS), path, f"'tiers' must define exactly {TIERS}"):
        for tier in TIERS:
            raw = tiers[tier] if isinstance(tiers[tier], dict) else {}
            problem = _text_problem(raw, "reply") or _placeholder_problem("reply", raw["reply"], (*NUMBERS, "signs"))
            if check.report(path, problem and f"tier '{tier}': {problem}"):
                replies[tier] = raw["reply"].strip()
    found = _Signs([], replies, "", {})
    for i, raw in enumerate(data.get("signs") or []):
        sign_id = raw.get("id") if isinstance(raw, dict) else None
        if not check.require(isinstance(sign_id, str) and sign_id.isidentifier(), path, f"sign {i + 1}: 'id' must be lower_snake_case"):
            continue
        if not check.require(sign_id not in found.tiers, path, f"sign '{sign_id}': duplicate id"):
            continue
        found.tiers[sign_id] = str(raw.get("tier"))
        sign = _sign(check, path, raw, sign_id)
        if sign:
            found.signs.append(sign)
    check.require(bool(found.tiers), path, "no signs")
    if check.report(path, _text_problem(data, "asked_about_answer")):
        found.asked_answer = data["asked_about_answer"].strip()
    return found


def _load_messages(check: _Checker, path: Path) -> dict[str, Any]:
    """The bot's own sentences: every key the code asks for, each placeholder one it fills."""
    data = check.read(path)
    if data is None or not check.require(isinstance(data, dict), path, "must be a mapping of message keys to texts"):
        return {}
    missing = [key for key in REQUIRED_MESSAGES if key not in data]
    check.require(not missing, path, f"missing message(s): {', '.join(missing)}")
    for key, value in data.items():
        texts = value.values() if isinstance(value, dict) else value if isinstance(value, list) else [value]
        filled = all(isinstance(t, str) and t.strip() for t in texts)
        check.require(filled, path, f"'{key}' must be a non-empty text, or a list or mapping of texts")
        for text in texts:
            check.report(path, _placeholder_problem(str(key), text, MESSAGE_PLACEHOLDERS.get(str(key), NUMBERS)))
    labels = data.get("topic_labels")
    if check.require(isinstance(labels, dict), path, "'topic_labels' must map topic ids to button labels"):
        unknown = [t for t in labels if t not in TOPICS]
        check.require(not unknown, path, f"'topic_labels' names unknown topic(s): {', '.join(map(str, unknown))}")
        menu = data.get("menu_topics") or []
        check.require(all(t in labels for t in menu), path, "'menu_topics' must list topics of 'topic_labels'")
    who = data.get("partial_who")
    check.require(isinstance(who, dict) and "default" in who, path, "'partial_who' must map topics to who can help, with a 'default'")
    return data


def _load_language(check: _Checker, path: Path) -> Language | None:
    data = check.read(path)
    if data is None or not check.require(isinstance(data, dict), path, "must be a mapping"):
        return None
    ok = all([check.require(isinstance(data.get(key), dict), path, f"'{key}' must be a mapping") for key in ("phrases", "words")])
    required = ("stopwords", "denials", "clause_breaks", "denials_after", "denial_links", "known_words")
    optional = (
        "condition_cues",
        "condition_owners",
        "question_words",
        "subject_words",
        "yes_no_words",
        "formalities",
        "spasm_words",
        "elsewhere",
        "cramp_places",
        "not_the_back",
        "past_words",
        "recent_words",
    )
    lists = {key: data.get(key) for key in required} | {key: data.get(key, []) for key in optional}
    for key, value in lists.items():
        if not check.require(isinstance(value, list), path, f"'{key}' must be a list"):
            ok = False
            continue
        odd = [item for item in value if not isinstance(item, str)]
        ok &= check.require(not odd, path, f"'{key}' has {odd[0]!r}: put yes/no/on/off in quotes" if odd else "")
    emoji = data.get("emoji") or {}
    ok &= check.require(isinstance(emoji, dict), path, "'emoji' must map emoji to words")
    if not ok:
        return None
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
        formalities=tuple(map(str, lists["formalities"])),
        spasm_words=tuple(map(str, lists["spasm_words"])),
        elsewhere=tuple(map(str, lists["elsewhere"])),
        cramp_places=tuple(map(str, lists["cramp_places"])),
        not_the_back=tuple(map(str, lists["not_the_back"])),
        past_words=tuple(map(str, lists["past_words"])),
        recent_words=tuple(map(str, lists["recent_words"])),
    )


def _load_flow(check: _Checker, path: Path, tiers: dict[str, str]) -> Flow | None:
    """The triage flow (its validator stops at its first problem)."""
    data = check.read(path)
    if data is None:
        return None
    with check.guard(path):
        return validate(data, FLOW, tiers)
    return None


def _load_out_of_scope(check: _Checker, path: Path) -> tuple[str, ...]:
    """Examples of what the bot must not answer from the guide (optional file)."""
    if not path.exists():
        return ()
    data = check.read(path)
    if data is None or not check.require(isinstance(data, dict), path, "needs a list 'examples'"):
        return ()
    return tuple(e.strip() for e in data["examples"]) if check.report(path, _list_problem(data, "examples", 1)) else ()


def load(root: Path | None = None) -> Content:
    """Read and validate every content file under `root`. A broken content raises one
    ContentProblems (a ContentError) that lists every problem, each with its file and line."""
    root = root or default_root()
    check = _Checker(root)
    messages = _load_messages(check, root / MESSAGES)
    signs = _load_signs(check, root / RED_FLAGS)
    entries, ids = _load_entries(check, root)
    if signs and signs.asked_answer and ids is not None:
        unknown = f"'asked_about_answer' names {signs.asked_answer!r}, which is no entry's id"
        check.require(signs.asked_answer in ids, root / RED_FLAGS, unknown)
    language = _load_language(check, root / LANGUAGE)
    # Without the signs, every step naming one would be a second problem: the flow waits for them.
    flow = _load_flow(check, root / FLOW, signs.tiers) if signs else None
    out_of_scope = _load_out_of_scope(check, root / OUT_OF_SCOPE)
    if check.found or not (signs and language and flow):
        raise check.error()
    return Content(
        entries=entries,
        signs=tuple(signs.signs),
        tier_replies=signs.replies,
        messages=messages,
        language=language,
        flow=flow,
        out_of_scope=out_of_scope,
        asked_answer=signs.asked_answer,
        root=root,
    )
