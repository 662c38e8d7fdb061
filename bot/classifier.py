"""A trained text classifier over the content's example phrasings (scikit-learn).

The fuzzy matcher finds an entry when a message shares its words; people who write long stories
share few. A linear model over word and character n-grams (the baseline Rasa ships) learns which
words point to which entry from every example at once. It is one declared pipeline, fitted in one
call, keyed by a hash of the content: an edit retrains by itself, once, and every later start
loads the artefact. The artefact is plain arrays (vocabularies, idf, weights), so a running bot
never imports scikit-learn (it would cost ~80 MB of memory); the n-grams are this module's own
functions, the same ones the pipeline was fitted with.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from importlib.metadata import version
from itertools import pairwise
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from bot.cache import cache_dir

logger = logging.getLogger(__name__)

#: Inverse regularisation strength of the logistic regression: measured on every labelled set at
#: 3–100 (docs/PERFORMANCE.md); from 30 on the long example stories are fitted as well as they get.
STRENGTH = 30.0
#: Bump when the features or the model change, so old artefacts are not loaded.
VERSION = "2"
#: Artefacts kept in the cache (a few content versions side by side, e.g. tests with other content).
KEEP = 4


def word_grams(text: str) -> list[str]:
    """The words of a normalized text and each pair of neighbours ("ice pack", "pack help")."""
    words = text.split()
    return words + [f"{a} {b}" for a, b in pairwise(words)]


def char_grams(text: str) -> list[str]:
    """Character 2- to 5-grams inside each word, padded with a space at its edges (" ice", "ce ");
    they forgive typos the speller left ("ibuprofin" shares most of "ibuprofen")."""
    grams: list[str] = []
    for word in text.split():
        padded = f" {word} "
        for n in range(2, 6):
            grams += [padded[i : i + n] for i in range(max(1, len(padded) - n + 1))]
            if len(padded) <= n:
                break
    return grams


FEATURES: tuple[Callable[[str], list[str]], ...] = (word_grams, char_grams)


def make_model() -> Any:
    """The features and the model as one scikit-learn object: tf-idf over each kind of n-gram,
    then a multinomial logistic regression."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline, make_union

    return make_pipeline(
        make_union(
            TfidfVectorizer(analyzer=word_grams, sublinear_tf=True),
            TfidfVectorizer(analyzer=char_grams, sublinear_tf=True, min_df=2),
        ),
        LogisticRegression(C=STRENGTH, max_iter=3000),
    )


class Classifier:
    """Probabilities of every label (entry id) for already-normalized texts."""

    def __init__(
        self, labels: list[str], vocabularies: list[dict[str, int]], idfs: list[np.ndarray], coef: np.ndarray, intercept: np.ndarray
    ) -> None:
        self.labels = labels
        offsets = np.cumsum([0, *(len(v) for v in vocabularies)])[:-1]
        self._features = list(zip(FEATURES, vocabularies, idfs, offsets.tolist(), strict=True))
        #: features × labels, one row per n-gram.
        self._coef = np.ascontiguousarray(coef, dtype=np.float32)
        self._intercept = intercept.astype(np.float64)

    @classmethod
    def from_pipeline(cls, model: Any) -> Classifier:
        """The fitted pipeline's vocabularies, idf and weights."""
        union, regression = model.steps[0][1], model.steps[-1][1]
        vectorizers = [v for _, v in union.transformer_list]
        return cls(
            [str(c) for c in regression.classes_],
            [{str(k): int(i) for k, i in v.vocabulary_.items()} for v in vectorizers],
            [v.idf_ for v in vectorizers],
            regression.coef_.T,
            regression.intercept_,
        )

    def probabilities(self, texts: Sequence[str]) -> np.ndarray:
        """One row of label probabilities per text: the pipeline's own arithmetic (sublinear tf ×
        idf, l2 per kind of n-gram, softmax) on the n-grams the message has."""
        return self._rows([[Counter(analyze(text)) for analyze in FEATURES] for text in texts])

    def story(self, parts: Sequence[str]) -> np.ndarray:
        """`probabilities` of the parts joined (the first row), then of each part if there are
        several. N-grams inside a word are counted once per part and added up for the whole: a
        long post is read once."""
        counted = [[Counter(analyze(part)) for analyze in FEATURES] for part in parts]
        if len(counted) == 1:
            return self._rows(counted)
        whole: list[Counter[str]] = []
        for k, analyze in enumerate(FEATURES):
            if analyze is char_grams:
                total: Counter[str] = Counter()
                for counts in counted:
                    total.update(counts[k])
                whole.append(total)
            else:
                whole.append(Counter(analyze(" ".join(parts))))
        return self._rows([whole, *counted])

    def _rows(self, texts: list[list[Counter[str]]]) -> np.ndarray:
        """Label probabilities from each text's n-gram counts (one Counter per kind of n-gram)."""
        scores = np.tile(self._intercept, (len(texts), 1))
        for row, grams in enumerate(texts):
            for counts, (_, vocabulary, idf, offset) in zip(grams, self._features, strict=True):
                known = [(vocabulary[g], n) for g, n in counts.items() if g in vocabulary]
                if not known:
                    continue
                columns = np.fromiter((c for c, _ in known), dtype=np.intp, count=len(known))
                values = (1.0 + np.log(np.fromiter((n for _, n in known), dtype=float, count=len(known)))) * idf[columns]
                values /= np.sqrt(values @ values)
                scores[row] += values.astype(np.float32) @ self._coef[columns + offset]
        scores -= scores.max(axis=1, keepdims=True)
        np.exp(scores, out=scores)
        scores /= scores.sum(axis=1, keepdims=True)
        return scores

    def save(self, target: BinaryIO) -> None:
        """Plain arrays in one .npz file: no pickle, nothing that runs when it is read."""
        arrays: dict[str, np.ndarray] = {"labels": np.array(self.labels), "coef": self._coef, "intercept": self._intercept}
        for i, (_, vocabulary, idf, _) in enumerate(self._features):
            arrays[f"terms{i}"] = np.array(sorted(vocabulary, key=vocabulary.__getitem__))
            arrays[f"idf{i}"] = idf
        np.savez(target, **arrays)

    @classmethod
    def load(cls, path: Path) -> Classifier:
        with np.load(path, allow_pickle=False) as data:
            vocabularies = [{str(t): i for i, t in enumerate(data[f"terms{k}"])} for k in range(len(FEATURES))]
            idfs = [data[f"idf{k}"] for k in range(len(FEATURES))]
            return cls([str(x) for x in data["labels"]], vocabularies, idfs, data["coef"], data["intercept"])


def fingerprint(pairs: Sequence[tuple[str, str]]) -> str:
    """A hash of the training data, the model's settings and the library versions that shape the
    artefact."""
    digest = hashlib.sha256(f"{VERSION}/{STRENGTH}/{version('scikit-learn')}/{np.__version__}".encode())
    for text, label in pairs:
        digest.update(f"{label}\t{text}\n".encode())
    return digest.hexdigest()[:16]


def train(pairs: Sequence[tuple[str, str]]) -> Classifier:
    """Fit the pipeline on (normalized text, label) pairs."""
    model = make_model()
    model.fit([t for t, _ in pairs], [label for _, label in pairs])
    return Classifier.from_pipeline(model)


def load_or_train(examples: Iterable[tuple[str, str]], folder: Path | None = None) -> Classifier:
    """The classifier for these (normalized text, label) examples: from the cache when the content
    is unchanged, else trained now and saved for the next start (a read-only cache only costs time)."""
    pairs = list(examples)
    folder = folder or cache_dir()
    path = folder / f"classifier-{fingerprint(pairs)}.npz"
    try:
        return Classifier.load(path)
    except (OSError, ValueError, KeyError):
        pass
    logger.info("training the classifier on %d examples (content changed or first start)", len(pairs))
    classifier = train(pairs)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, delete=False, suffix=".npz") as handle:
            classifier.save(handle)
        os.replace(handle.name, path)
        for old in sorted(folder.glob("classifier-*"), key=lambda p: p.stat().st_mtime, reverse=True)[KEEP:]:
            old.unlink(missing_ok=True)
    except OSError as exc:
        logger.warning("could not save the trained classifier in %s: %s", folder, exc.strerror)
    return classifier
