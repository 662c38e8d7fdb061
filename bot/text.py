"""Text normalization shared by the matcher and the red-flag detector.

People type on a phone in pain: curly apostrophes, emoji, "cant", "ibuprofin", "my back locked
up". Both the content's example phrasings and the user's message go through the same steps, so
they meet in the same words. The word lists come from `language.yaml`, not from code.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from importlib.metadata import version

from rapidfuzz import process
from rapidfuzz.distance import OSA

from bot.cache import cached_lines
from bot.lookalikes import lookalikes

#: Characters that end a sentence: a red-flag combination must stand inside one sentence.
SENTENCE_END = "."
#: Marks a sentence that asked something, just before its end: the question of a story weighs most.
QUESTION = "?"
#: The markers `tokenize` puts among the words.
MARKS = (SENTENCE_END, ",", QUESTION)

_APOSTROPHES = str.maketrans({"’": "'", "‘": "'", "`": "'", "´": "'", "ʼ": "'"})
#: "200mg", "3days": the number and its unit are two words.
_NUMBER_UNIT = re.compile(r"(\d)([a-z]{2,})\b")
_QUESTION_MARKS = re.compile(r"[?？¿][?？¿!.]*")
_SENTENCE_PUNCT = re.compile(r"[.!;:\n]+")
_NON_WORD = re.compile(r"[^a-z0-9' ]+")
#: Brackets, double quotes and a slash between words separate words: "run(and", "be/how".
_SEPARATORS = re.compile(r'[()\[\]{}"]|(?<=[a-z])/(?=[a-z])')
#: An apostrophe that is a quotation mark ("a 'slipped disc'"), not part of a word ("can't").
_QUOTE = re.compile(r"(?<![a-z0-9])'|'(?![a-z0-9])")
_SPACES = re.compile(r"\s+")
#: "in 2000", "back in 2015": an event dated two or more years back is read as "years ago", so a
#: sign's exceptions for long-past events ("an accident years ago") hold for dates too.
_PAST_YEAR = re.compile(r"\b(?:back in|in|since) ((?:19|20)\d\d)\b")
#: "when I was 8": an age, so years back ("when I was 8 I fell out of a tree"), not "when I was 30 weeks".
_PAST_AGE = re.compile(r"\bwhen i was (?:about |around )?\d{1,2}\b(?! ?(?:weeks?|wks?|months?|days?))")
#: Longest message part looked at; a 100,000-character paste is cut, never choked on.
MAX_CHARS = 4000


@dataclass(frozen=True)
class Language:
    """The word lists of `language.yaml`, compiled for fast rewriting."""

    phrases: dict[str, str]
    words: dict[str, str]
    stopwords: frozenset[str]
    denials: frozenset[str]
    clause_breaks: frozenset[str]
    denials_after: frozenset[str] = frozenset()
    denial_links: frozenset[str] = frozenset()
    known_words: frozenset[str] = frozenset()
    #: Words that make a condition hypothetical ("could it be", "sign of"): a question, not a sign.
    condition_cues: tuple[str, ...] = ()
    #: … unless the condition is the user's own ("could my cancer be back?").
    condition_owners: tuple[str, ...] = ()
    #: First words of a sentence that asks something.
    question_words: frozenset[str] = frozenset()
    #: Words that show a message is about back pain (read like a message: phrases allowed).
    subject_words: tuple[str, ...] = ()
    #: A spasm or cramp: the subject too, unless placed `elsewhere` or in one of the
    #: `cramp_places` ("calf cramps", "leg cramps") and the back is never named.
    spasm_words: tuple[str, ...] = ()
    elsewhere: tuple[str, ...] = ()
    cramp_places: tuple[str, ...] = ()
    #: The back named to say it is not the problem ("my back is fine", "the back of my knee").
    not_the_back: tuple[str, ...] = ()
    #: Words that date a sentence to long ago ("years ago", "as a kid"), and words that date it to
    #: now ("yesterday", "this morning"): a `dated` sign in the first kind of sentence is history.
    past_words: tuple[str, ...] = ()
    recent_words: tuple[str, ...] = ()
    #: First words of a yes/no question.
    yes_no_words: frozenset[str] = frozenset()
    #: Emoji read as words ("👍" → "ok").
    emoji: dict[str, str] = field(default_factory=dict)
    #: Greetings, sign-offs and self-introductions of a letter ("hello doctor", "36 years old",
    #: "thanks in advance"): they say nothing about the topic, so ranking leaves them out.
    formalities: tuple[str, ...] = ()

    def yes_no(self, tokens: Sequence[str]) -> bool:
        """Whether the words ask a yes/no question ("can yoga help?", not "ice or heat?")."""
        words = [t for t in tokens if t not in MARKS]
        return bool(words) and words[0] in self.yes_no_words and "or" not in words

    def __post_init__(self) -> None:
        keys = sorted(self.phrases, key=len, reverse=True)
        pattern = r"(?<![a-z0-9'])(?:" + "|".join(re.escape(k) for k in keys) + r")(?![a-z0-9'])"
        object.__setattr__(self, "_phrase_re", re.compile(pattern) if keys else None)
        formal: dict[str, list[tuple[str, ...]]] = {}
        for words in sorted({tuple(words_only(tokenize(f, self))) for f in self.formalities} - {()}, key=len, reverse=True):
            formal.setdefault(words[0], []).append(words)
        object.__setattr__(self, "_formal", formal)  # by first word, longest first

    def plain(self, tokens: Sequence[str]) -> list[str]:
        """The tokens without the letter's formalities, unless nothing else is left ("hi there")."""
        formal: dict[str, list[tuple[str, ...]]] = self._formal  # type: ignore[attr-defined]
        if not formal:
            return list(tokens)
        kept: list[str] = []
        i = 0
        while i < len(tokens):
            found = next((f for f in formal.get(tokens[i], ()) if tuple(tokens[i : i + len(f)]) == f), None)
            if found:
                i += len(found)
            else:
                kept.append(tokens[i])
                i += 1
        return kept if words_only(kept) else list(tokens)

    def rewrite_phrases(self, text: str) -> str:
        """Replace multi-word expressions ("can't", "seized up") by the bot's word, until none is left.

        Twice at most more: "haven't been able to" becomes "have not been able to", then "have cannot".
        """
        regex = self._phrase_re  # type: ignore[attr-defined]
        for _ in range(3):
            if regex is None:
                break
            rewritten = regex.sub(lambda m: self.phrases[m.group(0)], text)
            if rewritten == text:
                break
            text = rewritten
        return text


_ASCII_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f]")


_LETTERS = re.compile(r"[^\W\d_]+")


def fold_lookalikes(text: str) -> str:
    """Spell Latin a word written with look-alike letters in a Latin message ("lеgs" with a
    Cyrillic е, even "рее" all in Cyrillic among English words).

    Unicode's confusables table says which letter each look-alike stands for. In a message mostly
    in another script (Russian, Greek) its words are left alone: that is the language, not a
    disguise.
    """
    table = lookalikes()
    words = _LETTERS.findall(text)
    scripts_of = {w: table.scripts(w) for w in set(words) if not w.isascii()}
    latin_words = sum(w not in scripts_of or "LATIN" in scripts_of[w] for w in words)
    mostly_latin = latin_words * 2 > len(words)

    def latin(match: re.Match[str]) -> str:
        word = match.group(0)
        scripts = scripts_of.get(word, set())
        if not scripts or scripts == {"LATIN"} or ("LATIN" not in scripts and not mostly_latin):
            return word
        spelled = word
        for char in dict.fromkeys(word):
            twin = table.twin(char)
            if twin:
                spelled = spelled.replace(char, twin)
        # A word of another script is folded only if every letter had a Latin look-alike.
        return spelled if "LATIN" in scripts or spelled.isascii() else word

    return _LETTERS.sub(latin, text)


def clean(text: str) -> str:
    """Unicode-normalize, lowercase and strip emoji, control and zero-width characters."""
    text = text[:MAX_CHARS]
    if text.isascii():  # the common case, without a per-character look-up
        return _ASCII_CONTROL.sub(" ", text.lower()).replace("`", "'")
    text = fold_lookalikes(unicodedata.normalize("NFKC", text)).translate(_APOSTROPHES).lower()
    kept = []
    for ch in text:
        cat = unicodedata.category(ch)
        if ch == "\n" or not cat.startswith(("C", "S")):
            kept.append(ch)
        else:
            kept.append(" ")
    return "".join(kept)


def _years_ago(match: re.Match[str]) -> str:
    return "years ago" if int(match.group(1)) <= date.today().year - 2 else match.group(0)


def tokenize(text: str, language: Language) -> list[str]:
    """Words of the message with a sentence marker (`.`) where a sentence ends."""
    if not text.isascii():
        for emoji, word in language.emoji.items():
            text = text.replace(emoji, f" {word} ")
    text = _PAST_AGE.sub("years ago", _PAST_YEAR.sub(_years_ago, clean(text)))
    text = _SEPARATORS.sub(" ", _QUOTE.sub(" ", text))
    text = language.rewrite_phrases(_NUMBER_UNIT.sub(r"\1 \2", text))
    text = _QUESTION_MARKS.sub(f" {QUESTION} {SENTENCE_END} ", text)
    text = _SENTENCE_PUNCT.sub(f" {SENTENCE_END} ", text)
    text = text.replace(",", " , ")
    tokens: list[str] = []
    for raw in text.split():
        if raw in MARKS:
            tokens.append(raw)
            continue
        word = _NON_WORD.sub("", raw).strip("'")
        if not word:
            continue
        word = word.replace("'", "") if word not in language.words else word
        tokens.append(language.words.get(word, word))
    return tokens


#: An English word seen at least this often in pyspellchecker's frequency list is a word, not a typo.
ENGLISH_MIN_COUNT = 200


def english_words() -> frozenset[str]:
    """Common English words (pyspellchecker's list): "leaned" is a word, not a typo of "leaked".
    Kept in the cache after the first start: the full list costs 30 MB to read."""

    def build() -> list[str]:
        from spellchecker import SpellChecker

        frequencies = SpellChecker(language="en", distance=1).word_frequency.dictionary
        return sorted(w for w, n in frequencies.items() if n >= ENGLISH_MIN_COUNT)

    return frozenset(cached_lines(f"english-{version('pyspellchecker')}-{ENGLISH_MIN_COUNT}.txt", build))


class Speller:
    """Corrects a misspelled word to the nearest word the content knows ("numbess" → "numbness").

    Distance is optimal string alignment: a swapped pair of letters ("phsyio") counts as one typo.
    A common English word is never corrected ("hills" is not "chills").
    """

    def __init__(self, vocabulary: set[str], words: dict[str, str], english: frozenset[str] = frozenset()) -> None:
        # The words people type ("physio") are targets too, then read the bot's way ("physiotherapy").
        targets = vocabulary | set(words)
        self._vocabulary = targets | english
        self._words = words
        self._choices = sorted(w for w in targets if len(w) >= 4)
        self.correct = lru_cache(maxsize=65536)(self._correct)

    def _correct(self, word: str) -> str:
        if word in self._vocabulary or len(word) < 5 or not word.isalpha():
            return word
        limit = 1 if len(word) < 8 else 2
        found = process.extractOne(word, self._choices, scorer=OSA.distance, score_cutoff=limit)
        return self._words.get(found[0], found[0]) if found else word

    def correct_all(self, tokens: list[str]) -> list[str]:
        """Correct every token; sentence markers and known words pass unchanged."""
        return [self.correct(t) for t in tokens]


def stem(word: str) -> str:
    """A light suffix strip so "strained", "stretching" and "muscles" meet "strain", "stretch", "muscle"."""
    if len(word) > 4 and word.endswith("ies"):
        word = word[:-3] + "y"
    elif len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        word = word[:-1]
    for suffix in ("ing", "ed"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 4:
            word = word[: -len(suffix)]
            break
    if len(word) > 4 and word.endswith("e"):
        word = word[:-1]
    return word


def words_only(tokens: list[str]) -> list[str]:
    """Drop the punctuation markers, keeping the words."""
    return [t for t in tokens if t not in MARKS]
