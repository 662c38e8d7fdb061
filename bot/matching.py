"""Fuzzy matching of a question against every example phrasing of every entry.

Two measures, chosen on the labelled sets with `benchmarks/tune_matching.py`:
- how much of the weight of the words is shared (a Dice overlap where rare words count more, so
  "ice" decides and "how do I" does not), which also picks a short list of candidates fast;
- rapidfuzz's `token_sort_ratio` on that short list, which rewards the same words in any order
  and forgives typos the speller left.
A third figure, `coverage`, says how much of the message is about this bot's subject at all;
"how do I treat a sore throat" shares "how do I treat" with the content but not "throat".
The index is built once at start-up.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from rapidfuzz import fuzz

from bot.content import Entry
from bot.text import Language, Speller, stem, tokenize, words_only

#: Weight of the word-overlap measure in the blend (the rest is token_sort_ratio).
OVERLAP_WEIGHT = 0.5
#: Weight of the whole entry's vocabulary (all its phrasings together) in the final score.
ENTRY_WEIGHT = 0.2
#: Phrasings rescored with rapidfuzz after the overlap pre-selection.
SHORTLIST = 25
#: A word found in more than this share of phrasings ("back", "spasm") does not pick candidates
#: on its own; it still counts in the score of those the rarer words picked.
COMMON_SHARE = 0.05
#: … and never more than this many phrasings, so a large knowledge base stays fast.
COMMON_CAP = 1500
#: At most this many phrasings get their full overlap computed.
POOL = 120


#: Owner of the out-of-scope examples: when it wins, the message gets the fallback.
OUT_OF_SCOPE = Entry(
    id="out_of_scope", topic="out_of_scope", question="", label="", examples=(), answer="", source="", follow_ups=(), file=""
)


@dataclass(frozen=True)
class Candidate:
    """An entry and how well the message matched its best phrasing (0 to 100)."""

    entry: Entry
    score: float
    #: The share of the message's word weight that this entry's phrasings know (0 to 1).
    share: float = 1.0


@dataclass(frozen=True)
class Ranking:
    """The best entries for a message and how much of the message the content knows (0 to 1)."""

    candidates: list[Candidate]
    coverage: float
    #: Whether the message talks about back pain at all (set by `ranking.Ranker`).
    about_subject: bool = False
    #: Whether the message asks a yes/no question (set by `ranking.Ranker`).
    yes_no: bool = False
    #: Whether the message tells a story of several sentences (set by `ranking.Ranker`): it gets
    #: the best answer with the close ones as buttons, not a "did you mean" after all that typing.
    story: bool = False
    #: Whether the message names another part of the body and never the back (set by `ranking.Ranker`).
    elsewhere: bool = False


class Matcher:
    """Ranks the entries for a message."""

    def __init__(
        self,
        entries: Iterable[Entry],
        language: Language,
        speller: Speller,
        domain: set[str],
        out_of_scope: Iterable[str] = (),
        ignore: Iterable[str] = (),
    ) -> None:
        self._language = language
        self._domain = {stem(w) for w in domain}
        self._stopwords = {stem(w) for w in language.stopwords}
        self._speller = speller
        self._choices: list[str] = []
        self._owners: list[Entry] = []
        for entry in entries:
            for phrase in (entry.question, *entry.examples):
                normalized = self.normalize(phrase)
                if normalized:
                    self._choices.append(normalized)
                    self._owners.append(entry)
        for phrase in out_of_scope:
            self._choices.append(self.normalize(phrase))
            self._owners.append(OUT_OF_SCOPE)
        entries_with: dict[str, set[str]] = defaultdict(set)
        postings: dict[str, list[int]] = defaultdict(list)
        for index, choice in enumerate(self._choices):
            for word in set(choice.split()):
                entries_with[word].add(self._owners[index].id)
                postings[word].append(index)
        #: The phrasings each word is in.
        self._postings = {word: np.array(found, dtype=np.intp) for word, found in postings.items()}
        count = len({e.id for e in self._owners}) + 1
        self._idf = {w: math.log(count / (len(ids) + 0.5)) for w, ids in entries_with.items()}
        self._unknown_idf = math.log(count / 0.5)
        self._mass = np.array([sum(self._idf[w] for w in set(c.split())) for c in self._choices])
        # Warning-sign words no phrasing uses ("bladder", "injury"): the safety net has read them
        # already, and as unknown words they would only drown the question ("… how long do I ice it").
        self._ignore = {stem(w) for w in ignore} - set(self._idf)
        self._common = max(SHORTLIST, min(int(COMMON_SHARE * len(self._choices)), COMMON_CAP))
        self._entry_words: dict[str, set[str]] = defaultdict(set)
        for index, choice in enumerate(self._choices):
            self._entry_words[self._owners[index].id].update(choice.split())

    def read(self, text: str) -> list[str]:
        """The tokens of `text` spelled the content's way, without a letter's formalities."""
        return self._language.plain(self._speller.correct_all(tokenize(text, self._language)))

    def normalize(self, text: str) -> str:
        """The words of `text`, spelled the content's way."""
        return " ".join(stem(w) for w in words_only(self.read(text)))

    def examples(self) -> list[tuple[str, str]]:
        """Every example phrasing as normalized here, with its entry's id (the classifier learns
        from the same words the matcher reads)."""
        return [(choice, owner.id) for choice, owner in zip(self._choices, self._owners, strict=True)]

    def weight(self, word: str) -> float:
        """How much a word tells entries apart: rare words weigh more, unknown ones the most."""
        return self._idf.get(word, self._unknown_idf)

    def coverage(self, words: list[str]) -> float:
        """The share of the message's meaningful words that the content (answers too) knows. An
        unknown word of one or two letters ("x", "xx", "ty") is a kiss or a typo, not a subject."""
        meaningful = [w for w in words if w not in self._stopwords and not w.isdigit() and (len(w) > 2 or w in self._domain)]
        total = sum(self.weight(w) for w in meaningful)
        known = sum(self.weight(w) for w in meaningful if w in self._domain)
        return known / total if total else 1.0

    def rank(self, text: str, limit: int = 5) -> Ranking:
        """The best `limit` entries for `text`, best first, one score per entry."""
        return self.rank_words(self.read(text), limit)

    def rank_words(self, tokens: Sequence[str], limit: int = 5) -> Ranking:
        """`rank` for a message already read (tokens spelled the content's way, without a
        letter's formalities: `read`, or the red-flag detector's words through `Language.plain`)."""
        query = " ".join(stem(w) for w in words_only(list(tokens)))
        words = sorted(set(query.split()) - self._ignore)  # sorted: the same result under any hash seed
        if not words:
            return Ranking([], 0.0)
        known = [w for w in words if w in self._idf]
        rare = [w for w in known if len(self._postings[w]) <= self._common]
        if not rare and known:  # only common words: the least common one picks the candidates
            rare = [min(known, key=lambda w: len(self._postings[w]))]
        # The weight each phrasing shares with the message: first of the rare words, which pick
        # the pool of candidates, then of all the known ones, which score them.
        shared = np.zeros(len(self._choices))
        for word in rare:
            shared[self._postings[word]] += self._idf[word]
        picked = np.flatnonzero(shared)
        pool = picked[np.argsort(-shared[picked], kind="stable")[:POOL]]
        for word in known:
            if word not in rare:
                shared[self._postings[word]] += self._idf[word]
        mass = sum(self.weight(w) for w in words)
        overlap = 200.0 * shared[pool] / (mass + self._mass[pool])
        order = np.argsort(-overlap, kind="stable")[:SHORTLIST]
        best: dict[str, Candidate] = {}
        for index, close in zip(pool[order].tolist(), overlap[order].tolist(), strict=True):
            score = OVERLAP_WEIGHT * close + (1 - OVERLAP_WEIGHT) * fuzz.token_sort_ratio(query, self._choices[index])
            entry = self._owners[index]
            if entry.id not in best or score > best[entry.id].score:
                best[entry.id] = Candidate(entry, score)
        for entry_id, candidate in best.items():
            known = self._entry_words[entry_id]
            share = sum(self.weight(w) for w in words if w in known) / mass
            best[entry_id] = Candidate(candidate.entry, (1 - ENTRY_WEIGHT) * candidate.score + ENTRY_WEIGHT * 100 * share, share)
        ranked = sorted(best.values(), key=lambda c: -c.score)[:limit]
        return Ranking(ranked, self.coverage(words))
