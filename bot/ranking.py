"""Reads a whole message, sentence by sentence, and ranks the entries for it.

Two readers are blended: the trained classifier (`classifier.py`), which knows which words point
to which entry even in a long story, and the fuzzy matcher (`matching.py`), which forgives typos
in short questions. A long message is also read one sentence at a time; the sentences that ask
something weigh most, so a story's topic is the one its question is about.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from bot.classifier import Classifier, load_or_train
from bot.content import Entry
from bot.matching import OUT_OF_SCOPE, Candidate, Matcher, Ranking
from bot.text import QUESTION, SENTENCE_END, Language, stem, words_only

#: Share of the classifier in the blended score (the rest is the fuzzy matcher's).
CLASSIFIER_WEIGHT = 0.6
#: Share of the whole message in the classifier's reading (the rest: its sentences).
WHOLE_WEIGHT = 0.5
#: How much more a sentence that asks something weighs than one that tells.
QUESTION_WEIGHT = 3.0
#: Weight of the entry's whole topic in its score: a long story spreads over neighbouring entries
#: ("ice", "how to ice", "rest"), and the topic they share is surer than any one of them.
TOPIC_WEIGHT = 2.0
#: Sentences read on their own at most (a 300-word post has about 15): those that ask first,
#: then the last ones told (a story ends near its question).
MAX_SENTENCES = 12
#: Entries the fuzzy matcher proposes for blending.
LEXICAL_DEPTH = 8
#: A spasm word this close to another part of the body is placed there ("cramp in my calf").
PLACE_WINDOW = 3
#: A message of several sentences and at least this many words is a story.
STORY_WORDS = 25


@dataclass(frozen=True)
class Blend:
    """The blend's weights, so the tuning script can try others."""

    classifier: float = CLASSIFIER_WEIGHT
    whole: float = WHOLE_WEIGHT
    question: float = QUESTION_WEIGHT
    topic: float = TOPIC_WEIGHT


class Ranker:
    """Ranks the entries for a message already read by the red-flag detector."""

    def __init__(self, entries: Iterable[Entry], matcher: Matcher, language: Language) -> None:
        entries = list(entries)
        self.matcher = matcher
        self._language = language
        self._by_id = {e.id: e for e in entries} | {OUT_OF_SCOPE.id: OUT_OF_SCOPE}
        self.classifier: Classifier = load_or_train(matcher.examples() + self._questions_of_stories(entries))
        self._labels = [self._by_id[label] for label in self.classifier.labels]
        self._column = {label: i for i, label in enumerate(self.classifier.labels)}
        topics = sorted({e.topic for e in self._labels})
        #: label × topic: 1 where the label's entry belongs to the topic.
        self._topics = np.array([[e.topic == t for t in topics] for e in self._labels], dtype=float)
        self._subject, self._spasm, self._elsewhere, self._places = (
            {f" {matcher.normalize(w)} " for w in words} - {"  "}
            for words in (language.subject_words, language.spasm_words, language.elsewhere, (*language.elsewhere, *language.cramp_places))
        )
        denials = sorted({matcher.normalize(w) for w in language.not_the_back} - {""}, key=len, reverse=True)
        self._not_the_back = re.compile("|".join(rf"\b{re.escape(d)}\b" for d in denials)) if denials else None

    def _questions_of_stories(self, entries: list[Entry]) -> list[tuple[str, str]]:
        """The sentences that ask, of each example phrasing that tells a story: examples of its
        entry too, since in a long message the question decides."""
        found = []
        for entry in entries:
            for phrase in entry.examples:
                if sum(phrase.count(mark) for mark in ".?!") < 2:  # one sentence at most: nothing to add
                    continue
                told = self.sentences_of(phrase)
                if len(told) > 1:
                    found += [(sentence, entry.id) for sentence, asks in told if asks]
        return found

    def rank(self, tokens: Sequence[str], blend: Blend = Blend(), limit: int = 5) -> Ranking:
        """The best `limit` entries, best first, with the share of the message the content knows."""
        tokens = self._language.plain(tokens)
        lexical = self.matcher.rank_words(tokens, limit=LEXICAL_DEPTH)
        sentences = self.sentences(tokens)
        whole = " ".join(s for s, _ in sentences)
        if not whole:
            return lexical
        probabilities = self.classifier.story([s for s, _ in sentences])
        reading = probabilities[0]
        if len(sentences) > 1:
            weights = np.array([blend.question if asks else 1.0 for _, asks in sentences])
            parts = probabilities[1:].T @ weights / weights.sum()
            reading = blend.whole * reading + (1 - blend.whole) * parts
        reading = self._with_topics(reading, blend.topic)
        lex = {c.entry.id: c for c in lexical.candidates}
        scores = blend.classifier * 100 * reading
        best = np.argsort(-scores)[: limit + LEXICAL_DEPTH]
        blended: dict[str, Candidate] = {}
        for index in best:
            entry = self._labels[index]
            found = lex.get(entry.id)
            fuzzy, share = (found.score, found.share) if found else (0.0, 0.0)
            blended[entry.id] = Candidate(entry, float(scores[index]) + (1 - blend.classifier) * fuzzy, share)
        for entry_id, found in lex.items():
            if entry_id not in blended:
                p = float(reading[self._column[entry_id]]) if entry_id in self._column else 0.0
                blended[entry_id] = Candidate(found.entry, blend.classifier * 100 * p + (1 - blend.classifier) * found.score, found.share)
        ranked = sorted(blended.values(), key=lambda c: -c.score)[:limit]
        story = len(sentences) > 1 and len(whole.split()) >= STORY_WORDS
        subject = self.about_subject(whole)
        elsewhere = not subject and (self._names(whole, self._elsewhere) or self._placed(whole))
        return Ranking(ranked, lexical.coverage, subject, self._language.yes_no(self._question(tokens)), story, elsewhere)

    def _with_topics(self, reading: np.ndarray, weight: float) -> np.ndarray:
        """Each entry's probability with its topic's share added."""
        return (reading + weight * (reading @ self._topics) @ self._topics.T) / (1 + weight)

    def sentences(self, tokens: Sequence[str]) -> list[tuple[str, bool]]:
        """Each sentence as the classifier reads it, and whether it asks something."""
        found = [
            (" ".join(stem(w) for w in words), marked or words[0] in self._language.question_words)
            for words, marked in _split(tokens)
        ]
        if len(found) <= MAX_SENTENCES:
            return found
        asks = [s for s in found if s[1]]
        told = [s for s in found if not s[1]]
        room = max(0, MAX_SENTENCES - len(asks))
        return asks[:MAX_SENTENCES] + (told[len(told) - room :] if room else [])

    def sentences_of(self, text: str) -> list[tuple[str, bool]]:
        """`sentences` of a text not yet read."""
        return self.sentences(self.matcher.read(text))

    @staticmethod
    def _question(tokens: Sequence[str]) -> list[str]:
        """The words of the last sentence that ends with "?" (of all of them if none does)."""
        split = _split(tokens)
        asked = [words for words, marked in split if marked]
        return asked[-1] if asked else [w for words, _ in split for w in words]

    def about_subject(self, normalized: str) -> bool:
        """Whether the message talks about back pain at all (then it never gets "off topic"):
        one of the subject's words or phrases, its words side by side, or spasms never placed in
        another part of the body ("calf cramps… stop the cramps", "a spasm in my neck"; "a pillow
        between my knees" is too far from "spasm" to place it)."""
        if self._not_the_back:
            normalized = self._not_the_back.sub(" . ", normalized)
        if self._names(normalized, self._subject):
            return True
        return any(f" {w} " in self._spasm for w in normalized.split()) and not self._placed(normalized)

    def _placed(self, normalized: str) -> bool:
        """Whether a spasm or cramp of the message is placed in another part of the body."""
        words = normalized.split()
        spasms = [i for i, w in enumerate(words) if f" {w} " in self._spasm]
        places = [i for i, w in enumerate(words) if f" {w} " in self._places]
        return any(abs(i - j) <= PLACE_WINDOW for i in spasms for j in places)

    @staticmethod
    def _names(normalized: str, terms: set[str]) -> bool:
        """Whether the normalized message holds one of the (padded) terms, words side by side."""
        padded = f" {normalized} "
        return any(term in padded for term in terms)


def _split(tokens: Sequence[str]) -> list[tuple[list[str], bool]]:
    """The words of each sentence, and whether it ended with "?"."""
    found: list[tuple[list[str], bool]] = []
    words: list[str] = []
    marked = False
    for token in (*tokens, SENTENCE_END):
        if token == QUESTION:
            marked = True
        elif token == SENTENCE_END:
            kept = words_only(words)
            if kept:
                found.append((kept, marked))
            words, marked = [], False
        else:
            words.append(token)
    return found
