"""A trained second net for thoughts of suicide or self-harm told in words no phrasing holds.

The phrasings of `intents/red_flags.yaml` catch what they name; people in despair seldom use
those words ("I've been looking at the tracks and thinking it'd be quick", "my family would be
better off with the insurance"). The answers' pipeline (`classifier.py`: tf-idf over word and
character n-grams, logistic regression) learns from every warning-sign phrasing against every
example phrasing of the content which sentences read like a crisis. A sentence that does, beyond
`THRESHOLD`, gets the crisis reply. The net only ever adds a crisis reply: it never silences a
sign the phrasings found, and the other tiers stay with the phrasings (learned from phrasings
alone, they also fired on denials: "no numbness, no tingling").

Measured on `tests/data/signs_holdout.yaml` (written blind, never trained on): crises caught
43% → 57% with the phrasings, and no new false alarm on any labelled set (docs/PERFORMANCE.md).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from bot.classifier import Classifier, cached, digest
from bot.content import Sign

#: The least probability of a crisis sign, in one sentence, that raises the crisis reply: the lowest
#: that raised it on no ordinary message of any labelled set (0.45 did on one real post).
THRESHOLD = 0.5
#: Sentences shorter than this are not read ("back's gone" shares a word with "if I was gone").
MIN_WORDS = 3
#: Bump when the training examples are made or read differently, so the old artefact is not loaded.
VERSION = "2"
#: Sentences made from each combination of a sign, one term of every group in turn.
SAMPLES = 30
#: The label of everything that is not a warning sign, and of the signs of the other tiers (one
#: label for them all keeps the model small: only the crisis labels are read).
NONE = "none"
OTHER = "other sign"


class CrisisNet:
    """Finds the crisis sign of a message read by the safety net, if its words read like one."""

    def __init__(self, classifier: Classifier, signs: Iterable[Sign]) -> None:
        self._classifier = classifier
        by_id = {s.id: s for s in signs}
        crisis = {sign_id for sign_id, sign in by_id.items() if sign.tier == "crisis"}
        self._crisis = [(column, by_id[label]) for column, label in enumerate(classifier.labels) if label in crisis]

    @classmethod
    def learn(
        cls, signs: Sequence[Sign], examples: Sequence[str], sentences: Callable[[str], list[str]], salt: str, answers: Classifier
    ) -> CrisisNet:
        """Trained on the signs' phrasings against the sentences of the content's example
        phrasings and the signs' exceptions, each read by `sentences` (a message is read
        sentence by sentence too). The cached artefact is keyed by the raw texts and `salt` (the
        language file, which shapes the reading), so a start-up with it reads no example; a change
        to how its examples are made or read must bump `VERSION`. It learns the n-grams of the
        `answers` classifier and shares its reader: one lookup of a message's n-grams serves both,
        and their vocabularies are kept once."""
        key = digest([f"crisis net {VERSION} {SAMPLES}", answers.key, salt, *examples, *(repr(sign) for sign in signs)])

        def pairs() -> list[tuple[str, str]]:
            found = [(sentence, NONE) for text in (*examples, *(e for s in signs for e in s.exceptions)) for sentence in sentences(text)]
            for sign in signs:
                told = [*sign.phrasings, *(" ".join(g[k % len(g)] for g in combo) for combo in sign.combinations for k in range(SAMPLES))]
                label = sign.id if sign.tier == "crisis" else OTHER
                found += [(" ".join(sentences(text)), label) for text in told]
            return [(text, label) for text, label in found if text]

        return cls(cached(key, pairs, reader=answers.reader), signs)

    def find(self, sentences: Sequence[str]) -> Sign | None:
        """The crisis sign one of the (normalized) sentences reads like, if any."""
        sentences = [s for s in sentences if len(s.split()) >= MIN_WORDS]
        if not sentences or not self._crisis:
            return None
        probabilities = self._classifier.probabilities(sentences)
        column, sign = max(self._crisis, key=lambda c: probabilities[:, c[0]].max())
        return sign if probabilities[:, column].max() >= THRESHOLD else None
