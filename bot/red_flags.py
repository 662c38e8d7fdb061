"""The red-flag safety net: finds warning signs anywhere in a message, before any other matching.

A sign is found by one of its phrasings, or by one term of every group of a combination inside
one sentence. A sign the user explicitly denies ("no numbness", "I did not fall") is set aside;
anything else — uncertain, misspelled, buried in a long message — raises the alarm. "cannot" is
never a denial, so "I can't pee" is a sign.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from itertools import product

from bot.content import TIERS, Sign
from bot.text import SENTENCE_END, Language, Speller, tokenize, words_only

#: At most this many other words may stand between two words of a phrasing.
PHRASE_GAP = 2
#: Terms of one combination must stand within this many words of each other.
COMBINATION_SPAN = 12
#: A denial reaches this many words ahead ("no history of cancer").
DENIAL_REACH = 4
#: A condition cue reaches this many words ahead ("could this back pain be cancer").
CUE_REACH = 8


@dataclass(frozen=True)
class Finding:
    """The signs found in one message, most urgent first."""

    signs: tuple[Sign, ...]
    #: Conditions the user asked about rather than reported ("could this be cancer?").
    asked: tuple[Sign, ...] = ()
    #: The message as read (spelling corrected) without the signs the user denied ("no fever,
    #: how long do I ice it" → "how long do I ice it"): what the matcher reads next.
    rest: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.signs)


Term = tuple[str, ...]
Span = tuple[int, int, frozenset[int]]  # first word, last word, the words of the term itself


class RedFlagDetector:
    """Scans messages for the warning signs of `intents/red_flags.yaml`."""

    def __init__(self, signs: Iterable[Sign], language: Language, speller: Speller) -> None:
        self._language = language
        self._speller = speller
        self._signs = tuple(signs)
        self._phrasings: list[tuple[Sign, Term]] = []
        self._combinations: list[tuple[Sign, tuple[tuple[Term, ...], ...]]] = []
        for sign in self._signs:
            self._phrasings += [(sign, self.terms(p)) for p in sign.phrasings]
            for combo in sign.combinations:
                self._combinations.append((sign, tuple(tuple(self.terms(t) for t in g) for g in combo)))
        self._exceptions = {s.id: tuple(self.terms(p) for p in s.exceptions) for s in self._signs if s.exceptions}
        self._past, self._recent = (tuple(self.terms(w) for w in words) for words in (language.past_words, language.recent_words))
        self._cues = tuple(self.terms(c) for c in language.condition_cues)
        self._owned = frozenset(self.terms(" ".join(language.condition_owners)))
        self._by_first: dict[str, set[Term]] = defaultdict(set)
        extra = {t for ts in self._exceptions.values() for t in ts} | set(self._cues) | set(self._past) | set(self._recent)
        for term in self.all_terms() | extra:
            self._by_first[term[0]].add(term)
        # Which phrasings and combinations a term can complete, so a scan only looks at those.
        self._phrasing_signs: dict[Term, list[Sign]] = defaultdict(list)
        for sign, term in self._phrasings:
            self._phrasing_signs[term].append(sign)
        self._combinations_with: dict[Term, set[int]] = defaultdict(set)
        for index, (_, groups) in enumerate(self._combinations):
            for term in (t for group in groups for t in group):
                self._combinations_with[term].add(index)

    def terms(self, phrase: str) -> Term:
        """A phrase of the content file, read the way a message is read."""
        return tuple(words_only(self._speller.correct_all(tokenize(phrase, self._language))))

    def vocabulary(self) -> set[str]:
        """Every word of every warning-sign phrase."""
        return {word for term in self.all_terms() for word in term}

    def all_terms(self) -> set[Term]:
        """Every phrase the detector looks for."""
        terms = {t for _, t in self._phrasings}
        for _, groups in self._combinations:
            terms.update(t for group in groups for t in group)
        return terms

    def scan(self, text: str, spelling: bool = True) -> Finding:
        """The signs in `text` that the user did not explicitly deny, most urgent first.
        Without `spelling`, words are read as written (a French "temps" is not a typo of "temp")."""
        tokens = tokenize(text, self._language)
        words = self._speller.correct_all(tokens) if spelling else tokens
        spans = self._find_terms(words)
        found: dict[str, Sign] = {}
        asked: dict[str, Sign] = {}
        denied: set[int] = set()

        def counts(sign: Sign, span: Span) -> bool:
            """Whether a match is the sign itself: not an exception, not asked about, not denied."""
            if self._excepted(sign, span, spans) or (sign.dated and self._history(words, span, spans)):
                return False
            if sign.asked_about and self._asked(words, span, spans):
                asked[sign.id] = sign
                return False
            if self._denied(words, span):
                denied.update(span[2])
                return False
            return True

        for term, where in spans.items():
            for sign in self._phrasing_signs.get(term, ()):
                if sign.id not in found and any([counts(sign, span) for span in where]):
                    found[sign.id] = sign
        candidates = set().union(*(self._combinations_with.get(term, ()) for term in spans)) if spans else set()
        for index in sorted(candidates):
            sign, groups = self._combinations[index]
            if sign.id not in found and self._combination_holds(words, groups, spans, lambda span, sign=sign: counts(sign, span)):
                found[sign.id] = sign
        ordered = sorted(found.values(), key=lambda s: TIERS.index(s.tier))
        if not found:  # a denied sign ("without any tingling") is not part of the question; a word
            # that only completes a combination ("heat is good") is
            for term, where in spans.items():
                if term not in self._phrasing_signs:
                    continue
                for first, last, own in where:
                    if self._denied(words, (first, last, own)):
                        denied.update(range(first, last + 1))
        cues = self._language.denials if denied else frozenset()
        rest = tuple(w for i, w in enumerate(words) if i not in denied and w not in cues)
        return Finding(tuple(ordered), tuple(s for k, s in asked.items() if k not in found), rest)

    def _excepted(self, sign: Sign, span: Span, spans: dict[Term, list[Span]]) -> bool:
        """True when the match lies inside one of the sign's exceptions ("fell" in "fell asleep")."""
        for term in self._exceptions.get(sign.id, ()):
            for first, last, _ in spans.get(term, ()):
                if first <= span[0] and span[1] <= last:
                    return True
        return False

    def _history(self, words: list[str], span: Span, spans: dict[Term, list[Span]]) -> bool:
        """True when the match's sentence is dated to long ago and not to now ("I fell off a ladder
        years ago", but not "I fell today, and years ago too")."""
        start, end = _sentence(words, span)

        def dated(cues: tuple[Term, ...]) -> bool:
            return any(start <= first and last < end for term in cues for first, last, _ in spans.get(term, ()))

        return dated(self._past) and not dated(self._recent)

    def _asked(self, words: list[str], span: Span, spans: dict[Term, list[Span]]) -> bool:
        """True when a condition cue comes shortly before the match in its sentence and the
        condition is not the user's own ("could it be cancer?" but not "could my cancer be back")."""
        first = span[0]
        start, _ = _sentence(words, span)
        if any(w in self._owned for w in words[start:first]):
            return False
        reach = max(start, first - CUE_REACH)
        return any(reach <= cue[0] and cue[1] < first for term in self._cues for cue in spans.get(term, ()))

    def _find_terms(self, words: list[str]) -> dict[Term, list[Span]]:
        """Where each known term stands in the message (a few words may stand in between)."""
        spans: dict[Term, list[Span]] = defaultdict(list)
        present = set(words)
        for start, word in enumerate(words):
            for term in self._by_first.get(word, ()):
                if not present.issuperset(term):
                    continue
                at = [start]
                for part in term[1:]:
                    nxt = _next_index(words, part, at[-1] + 1, PHRASE_GAP)
                    if nxt is None:
                        break
                    at.append(nxt)
                else:
                    spans[term].append((start, at[-1], frozenset(at)))
        return spans

    def _combination_holds(
        self, words: list[str], groups: tuple[tuple[Term, ...], ...], spans: dict[Term, list[Span]], counts: Callable[[Span], bool]
    ) -> bool:
        """One term of every group in one sentence that `counts` as the sign."""
        options = [[s for term in group for s in spans.get(term, ())] for group in groups]
        if not all(options):
            return False
        for pick in product(*options):
            first = min(s[0] for s in pick)
            last = max(s[1] for s in pick)
            if last - first > COMBINATION_SPAN or SENTENCE_END in words[first:last]:
                continue
            if counts((first, last, frozenset().union(*(s[2] for s in pick)))):
                return True
        return False

    def _denied(self, words: list[str], span: Span) -> bool:
        """True when a denial governs the span: just before it, inside it, or "… is fine" after it."""
        first, last, own = span
        lang = self._language
        denials, breaks = lang.denials, lang.clause_breaks
        if any(words[i] in denials for i in range(first, last + 1) if i not in own):
            return True
        after = last + 1
        while after < len(words) and after <= last + 3 and words[after] in lang.denial_links:
            after += 1
        if after > last + 1 and after < len(words) and words[after] in lang.denials_after:
            return True
        for i in range(first - 1, max(first - 1 - DENIAL_REACH, -1), -1):
            if words[i] in (SENTENCE_END, ",") or words[i] in breaks:
                return False
            if words[i] in denials:
                return True
        return False


def _sentence(words: list[str], span: Span) -> tuple[int, int]:
    """Where the sentence holding the span starts and ends (end excluded)."""
    start, end = span[0], span[1] + 1
    while start > 0 and words[start - 1] != SENTENCE_END:
        start -= 1
    while end < len(words) and words[end] != SENTENCE_END:
        end += 1
    return start, end


def _next_index(words: list[str], part: str, start: int, gap: int) -> int | None:
    for i in range(start, min(start + gap + 1, len(words))):
        if words[i] == SENTENCE_END:
            return None
        if words[i] == part:
            return i
    return None
