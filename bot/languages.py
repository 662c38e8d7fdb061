"""Messages in languages the bot does not read: Turkish, Spanish, German, French, Russian, Arabic.

The bot answers from an English guide, but a warning sign must never be missed because it was
written in another language. `intents/languages.yaml` holds, per language, marker words that
tell it apart, a short "I read English" reply with the emergency number and the must-not-miss
signs, the tier replies translated, and warning-sign phrasings as word stems: a word matches a
stem when it starts with it, after accents are removed ("idrar tutam" matches "idrarımı
tutamıyorum" and "idrarimi tutamiyorum").
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_left
from dataclasses import dataclass, field, replace
from pathlib import Path

from bot.content import TIERS, Content, Sign, _require, _text, _text_list, read_yaml

#: At most this many other words may stand between two stems of a phrasing.
STEM_GAP = 2
#: The longest stem a phrasing may have: only this much of a word's beginning is ever compared
#: (a 100,000-letter "word" would otherwise make 100,000 beginnings of it).
LONGEST_STEM = 40
#: A Latin-script message needs this many marker words (and more than its English words).
MIN_MARKERS = 2
_WORD = re.compile(r"[^\W\d_]+")
_SPECIAL = str.maketrans({"ı": "i", "ß": "ss", "ø": "o", "æ": "ae", "œ": "oe"})
_LETTER = re.compile(r"[^\W\d_]")
#: Languages told by their script: most of the letters in it.
_SCRIPTS = {"ru": re.compile(r"[\u0400-\u04ff]"), "ar": re.compile(r"[\u0600-\u06ff\u0750-\u077f]")}


def fold(text: str) -> list[str]:
    """The words of `text`, lower-case and without accents (Cyrillic and Arabic letters kept)."""
    if text.isascii():
        return _WORD.findall(text.lower())
    text = unicodedata.normalize("NFKD", text.lower().translate(_SPECIAL))
    text = "".join(ch for ch in text if not unicodedata.combining(ch) and unicodedata.category(ch) != "Cf")
    return _WORD.findall(unicodedata.normalize("NFC", text))


@dataclass(frozen=True)
class Tongue:
    """One language: how to tell it, what to say in it, and its warning-sign phrasings."""

    code: str
    name: str
    markers: frozenset[str]
    reads_english: str
    replies: dict[str, str]
    signs: tuple[tuple[Sign, tuple[str, ...]], ...]
    prefixes: tuple[str, ...] = ()
    #: Phrasings whose every stem begins an English word: read only when the language is known.
    english_like: frozenset[tuple[str, ...]] = frozenset()
    #: The phrasings by their first stem, so a scan only tries those a word of the message begins.
    by_first: dict[str, tuple[tuple[Sign, tuple[str, ...]], ...]] = field(default_factory=dict)

    def words(self, folded: list[str]) -> list[str]:
        """Folded words without the prefixes this language glues to words (Arabic "و", "ال")."""
        if not self.prefixes:
            return folded
        words = []
        for word in folded:
            for prefix in self.prefixes:
                if word.startswith(prefix) and len(word) > len(prefix) + 2:
                    word = word[len(prefix) :]
            words.append(word)
        return words

    def scan(self, folded: list[str], unmistakable: bool = False, begun: set[str] | None = None) -> list[Sign]:
        """The signs of this language's phrasings among the (folded) words, most urgent first;
        with `unmistakable`, only phrasings that cannot be read as English ("suicid" is too).
        `begun`: the beginnings of the folded words, when the caller has them already."""
        words = self.words(folded)
        if begun is None or self.prefixes:
            begun = _beginnings(words)  # every stem a phrasing needs must begin some word
        found: dict[str, Sign] = {}
        tried = {p for stem in begun & self.by_first.keys() for p in self.by_first[stem]}
        for sign, stems in tried:
            if unmistakable and stems in self.english_like:
                continue
            if sign.id not in found and all(stem in begun for stem in stems) and _holds(words, stems):
                found[sign.id] = sign
        return sorted(found.values(), key=lambda s: TIERS.index(s.tier))


def _beginnings(words: list[str]) -> set[str]:
    """Every beginning of every word ("ori", "orin", "orino" of "orino"), up to the longest stem."""
    return {word[:n] for word in set(words) for n in range(1, min(len(word), LONGEST_STEM) + 1)}


def _holds(words: list[str], stems: tuple[str, ...]) -> bool:
    """Whether the stems stand in `words` in order, each within STEM_GAP words of the last."""
    for start, word in enumerate(words):
        if not word.startswith(stems[0]):
            continue
        at = start
        for stem in stems[1:]:
            nxt = next((i for i in range(at + 1, min(at + 2 + STEM_GAP, len(words))) if words[i].startswith(stem)), None)
            if nxt is None:
                break
            at = nxt
        else:
            return True
    return False


class Languages:
    """Tells which of the known languages a message is in, and reads its warning signs."""

    def __init__(self, tongues: tuple[Tongue, ...], english: frozenset[str]) -> None:
        self.tongues = tongues
        self._english = english
        self._by_code = {t.code: t for t in tongues}

    def read(self, text: str) -> tuple[Tongue | None, Tongue | None, list[Sign]]:
        """The language `text` is in (None for English or unknown), and the warning signs written
        in another language with the language they were found in. The detected language is read
        first; a message too short to tell ("pienso en suicidarme") is read in every language,
        and the first whose phrasings match names the language."""
        folded = fold(text)
        detected = self._detect(text, folded)
        # In a message that may be English ("I'm not suicidal"), only phrasings English can't have.
        english = detected is None and any(w in self._english for w in folded)
        begun = _beginnings(folded)
        for candidate in (detected,) if detected else self.tongues:
            signs = candidate.scan(folded, unmistakable=english, begun=begun)
            if signs:
                return detected, candidate, signs
        return detected, detected, []

    def _detect(self, text: str, folded: list[str]) -> Tongue | None:
        letters = len(_LETTER.findall(text))
        if not letters:
            return None
        for code, script in _SCRIPTS.items():
            if code in self._by_code and len(script.findall(text)) > letters / 2:
                return self._by_code[code]
        english = sum(w in self._english for w in folded)
        best, hits = None, 0
        for tongue in self.tongues:
            count = sum(w in tongue.markers for w in folded)
            if count > hits:
                best, hits = tongue, count
        needed = 1 if len(folded) <= 3 else MIN_MARKERS
        return best if best and hits >= needed and hits > english else None


def load_languages(path: Path, content: Content, english_words: frozenset[str] = frozenset()) -> Languages:
    """Read `intents/languages.yaml` (optional); every sign id must be one of red_flags.yaml.
    `english_words` tell which phrasings could be English ("suicid" begins "suicidal")."""
    english = frozenset(content.language.stopwords)
    if not path.exists():
        return Languages((), english)
    starts = sorted(english_words)
    data = read_yaml(path)
    _require(isinstance(data, dict) and isinstance(data.get("languages"), dict), path.name, "needs a mapping 'languages'")
    signs = {s.id: s for s in content.signs}
    tongues = []
    for code, raw in data["languages"].items():
        where = f"{path.name}, language '{code}'"
        _require(isinstance(raw, dict), where, "must be a mapping")
        replies = raw.get("replies")
        _require(isinstance(replies, dict), where, "needs 'replies' for the tiers")
        phrasings = raw.get("signs")
        _require(isinstance(phrasings, dict), where, "needs 'signs': sign ids with their phrasings")
        tongue = Tongue(
            code=str(code),
            name=_text(raw, "name", where),
            markers=frozenset(w for m in _text_list(raw, "markers", where, 5) for w in fold(m)),
            reads_english=_text(raw, "reads_english", where),
            replies={tier: _text(replies, tier, where) for tier in TIERS},
            signs=(),
            prefixes=tuple(fold(" ".join(_text_list(raw, "prefixes", where, 0)))),
        )
        pairs: list[tuple[Sign, tuple[str, ...]]] = []
        for sign_id in phrasings:
            _require(sign_id in signs, where, f"unknown sign '{sign_id}' (see intents/red_flags.yaml)")
            for phrase in _text_list(phrasings, sign_id, where, 1):
                folded = tuple(tongue.words(fold(phrase)))
                _require(bool(folded), where, f"sign '{sign_id}' has a phrasing with no words: {phrase!r}")
                long = [stem for stem in folded if len(stem) > LONGEST_STEM]
                _require(not long, where, f"sign '{sign_id}' has a stem longer than {LONGEST_STEM} letters: {long[:1]}")
                pairs.append((signs[sign_id], folded))
        english_like = frozenset(stems for _, stems in pairs if all(_begins_a_word(stem, starts) for stem in stems))
        by_first: dict[str, list[tuple[Sign, tuple[str, ...]]]] = {}
        for pair in pairs:
            by_first.setdefault(pair[1][0], []).append(pair)
        index = {stem: tuple(found) for stem, found in by_first.items()}
        tongues.append(replace(tongue, signs=tuple(pairs), english_like=english_like, by_first=index))
    return Languages(tuple(tongues), english)


def _begins_a_word(stem: str, words: list[str]) -> bool:
    """Whether `stem` begins one of the sorted `words`."""
    at = bisect_left(words, stem)
    return at < len(words) and words[at].startswith(stem)
