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

import contextlib
import hashlib
import logging
import os
import tempfile
from collections.abc import Callable, Iterable, Sequence
from functools import lru_cache
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
#: Words whose known character n-grams each classifier remembers.
WORDS_CACHED = 1 << 15
#: No columns.
_NONE = np.zeros(0, dtype=np.intp)
#: Artefacts kept in the cache (the answers' and the crisis net's, of a few content versions side by side).
KEEP = 8


def word_grams(text: str) -> list[str]:
    """The words of a normalized text and each pair of neighbours ("ice pack", "pack help")."""
    words = text.split()
    return words + [f"{a} {b}" for a, b in pairwise(words)]


def char_grams(text: str) -> list[str]:
    """Character 2- to 5-grams inside each word, padded with a space at its edges (" ice", "ce ");
    they forgive typos the speller left ("ibuprofin" shares most of "ibuprofen")."""
    grams: list[str] = []
    for word in text.split():
        grams += _in_word(word)
    return grams


def _in_word(word: str) -> list[str]:
    """The character n-grams of one word."""
    padded = f" {word} "
    grams: list[str] = []
    for n in range(2, 6):
        grams += [padded[i : i + n] for i in range(max(1, len(padded) - n + 1))]
        if len(padded) <= n:
            break
    return grams


FEATURES: tuple[Callable[[str], list[str]], ...] = (word_grams, char_grams)


def make_model(vocabularies: Sequence[dict[str, int]] | None = None) -> Any:
    """The features and the model as one scikit-learn object: tf-idf over each kind of n-gram,
    then a multinomial logistic regression. With `vocabularies`, the n-grams are those (another
    model's): the two then share one `Reader`."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline, make_union

    words, chars = vocabularies or (None, None)
    return make_pipeline(
        make_union(
            TfidfVectorizer(analyzer=word_grams, sublinear_tf=True, vocabulary=words),
            TfidfVectorizer(analyzer=char_grams, sublinear_tf=True, min_df=2, vocabulary=chars),
        ),
        LogisticRegression(C=STRENGTH, max_iter=3000),
    )


class Reader:
    """The n-grams a model knows and where each stands in its weights: one array of known columns
    per kind of n-gram (word, character) for a text. Models that learned the same n-grams share
    one, with its memory of each word's character n-grams (looking n-grams up one by one was most
    of a message's cost)."""

    def __init__(self, vocabularies: list[dict[str, int]]) -> None:
        self.vocabularies = vocabularies
        self.offsets: list[int] = np.cumsum([0, *(len(v) for v in vocabularies)])[:-1].tolist()
        self._char_columns = lru_cache(maxsize=WORDS_CACHED)(self._known_in_word)

    def columns(self, text: str) -> list[np.ndarray]:
        """The columns of the n-grams of `text` this model knows, each as often as it occurs."""
        return [self.word_columns(text), np.concatenate([_NONE, *(self._char_columns(w) for w in text.split())])]

    def word_columns(self, text: str) -> np.ndarray:
        vocabulary = self.vocabularies[0]
        return np.array([c for g in word_grams(text) if (c := vocabulary.get(g)) is not None], dtype=np.intp)

    def _known_in_word(self, word: str) -> np.ndarray:
        vocabulary = self.vocabularies[1]
        return np.array([c for g in _in_word(word) if (c := vocabulary.get(g)) is not None], dtype=np.intp)


class Classifier:
    """Probabilities of every label (entry id) for already-normalized texts."""

    def __init__(self, labels: list[str], reader: Reader, idfs: list[np.ndarray], coef: np.ndarray, intercept: np.ndarray) -> None:
        self.labels = labels
        self.reader = reader
        self._idfs = idfs
        #: features × labels, one row per n-gram.
        self._coef = np.ascontiguousarray(coef, dtype=np.float32)
        self._intercept = intercept.astype(np.float64)
        #: The key it is cached under (`cached`).
        self.key = ""

    @classmethod
    def from_pipeline(cls, model: Any, reader: Reader | None = None) -> Classifier:
        """The fitted pipeline's vocabularies (or the `reader` it was given), idf and weights."""
        union, regression = model.steps[0][1], model.steps[-1][1]
        vectorizers = [v for _, v in union.transformer_list]
        return cls(
            [str(c) for c in regression.classes_],
            reader or Reader([{str(k): int(i) for k, i in v.vocabulary_.items()} for v in vectorizers]),
            [v.idf_ for v in vectorizers],
            regression.coef_.T,
            regression.intercept_,
        )

    def probabilities(self, texts: Sequence[str]) -> np.ndarray:
        """One row of label probabilities per text: the pipeline's own arithmetic (sublinear tf ×
        idf, l2 per kind of n-gram, softmax) on the n-grams the message has."""
        return self._rows([self.reader.columns(text) for text in texts])

    def story(self, parts: Sequence[str]) -> np.ndarray:
        """`probabilities` of the parts joined (the first row), then of each part if there are
        several. N-grams inside a word are found once per part and added up for the whole: a
        long post is read once."""
        found = [self.reader.columns(part) for part in parts]
        if len(found) == 1:
            return self._rows(found)
        whole = [self.reader.word_columns(" ".join(parts)), np.concatenate([columns[1] for columns in found])]
        return self._rows([whole, *found])

    def _rows(self, texts: list[list[np.ndarray]]) -> np.ndarray:
        """Label probabilities from each text's known n-gram columns (one array per kind)."""
        scores = np.tile(self._intercept, (len(texts), 1))
        for row, kinds in enumerate(texts):
            for found, idf, offset in zip(kinds, self._idfs, self.reader.offsets, strict=True):
                if not found.size:
                    continue
                columns, counts = np.unique(found, return_counts=True)
                values = (1.0 + np.log(counts)) * idf[columns]
                values /= np.sqrt(values @ values)
                scores[row] += values.astype(np.float32) @ self._coef[columns + offset]
        scores -= scores.max(axis=1, keepdims=True)
        np.exp(scores, out=scores)
        scores /= scores.sum(axis=1, keepdims=True)
        return scores

    def save(self, target: BinaryIO) -> None:
        """Plain arrays in one .npz file: no pickle, nothing that runs when it is read."""
        arrays: dict[str, np.ndarray] = {"labels": np.array(self.labels), "coef": self._coef, "intercept": self._intercept}
        for i, (vocabulary, idf) in enumerate(zip(self.reader.vocabularies, self._idfs, strict=True)):
            arrays[f"terms{i}"] = np.array(sorted(vocabulary, key=vocabulary.__getitem__))
            arrays[f"idf{i}"] = idf
        np.savez(target, **arrays)

    @classmethod
    def load(cls, path: Path, reader: Reader | None = None) -> Classifier:
        """The saved classifier (its n-grams read by `reader` when it shares another's)."""
        with np.load(path, allow_pickle=False) as data:
            idfs = [data[f"idf{k}"] for k in range(len(FEATURES))]
            if reader is None:
                reader = Reader([{str(t): i for i, t in enumerate(data[f"terms{k}"])} for k in range(len(FEATURES))])
            elif [len(v) for v in reader.vocabularies] != [len(idf) for idf in idfs]:
                raise ValueError("saved with other n-grams")
            return cls([str(x) for x in data["labels"]], reader, idfs, data["coef"], data["intercept"])


def fingerprint(pairs: Sequence[tuple[str, str]]) -> str:
    """A hash of the training data, the model's settings and the library versions that shape the
    artefact."""
    return digest(f"{label}\t{text}\n" for text, label in pairs)


def digest(parts: Iterable[str]) -> str:
    """A hash of `parts` with the model's settings and the library versions: an artefact's key."""
    hashed = hashlib.sha256(f"{VERSION}/{STRENGTH}/{version('scikit-learn')}/{np.__version__}".encode())
    for part in parts:
        hashed.update(part.encode())
    return hashed.hexdigest()[:16]


def train(pairs: Sequence[tuple[str, str]], reader: Reader | None = None) -> Classifier:
    """Fit the pipeline on (normalized text, label) pairs (on `reader`'s n-grams, if given)."""
    model = make_model(reader.vocabularies if reader else None)
    model.fit([t for t, _ in pairs], [label for _, label in pairs])
    return Classifier.from_pipeline(model, reader)


def load_or_train(examples: Iterable[tuple[str, str]], folder: Path | None = None) -> Classifier:
    """The classifier for these (normalized text, label) examples: from the cache when the content
    is unchanged, else trained now and saved for the next start."""
    pairs = list(examples)
    return cached(fingerprint(pairs), lambda: pairs, folder)


def cached(
    key: str, examples: Callable[[], Sequence[tuple[str, str]]], folder: Path | None = None, reader: Reader | None = None
) -> Classifier:
    """The classifier saved under `key`, else one trained now on `examples()` and saved for the
    next start (a read-only cache only costs time). `examples` is only called to train: a key made
    from the raw content spares a start-up from reading every example. With `reader`, it learns
    that reader's n-grams (the key must then name them)."""
    folder = folder or cache_dir()
    path = folder / f"classifier-{key}.npz"
    try:
        classifier = Classifier.load(path, reader)
    except (OSError, ValueError, KeyError):
        pass
    else:
        with contextlib.suppress(OSError):  # kept as recently used: the oldest artefacts go first
            os.utime(path)
        classifier.key = key
        return classifier
    pairs = examples()
    logger.info("training a classifier on %d examples (content changed or first start)", len(pairs))
    classifier = train(pairs, reader)
    classifier.key = key
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
