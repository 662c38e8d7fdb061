"""A trained text classifier over the content's example phrasings (scikit-learn).

The fuzzy matcher finds an entry when a message shares its words; people who write long stories
share few. A linear model over word and character n-grams (the baseline Rasa ships) learns which
words point to which entry from every example at once. It is one declared pipeline, fitted in one
call and saved as one artefact, keyed by a hash of the content: an edit retrains by itself, once,
and every later start loads the file. `python -m bot train` rebuilds it on purpose.
"""

from __future__ import annotations

import hashlib
import logging
import os
import pickle
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np
import sklearn
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline, make_union

logger = logging.getLogger(__name__)

#: Inverse regularisation strength of the logistic regression (chosen with benchmarks/tune_matching.py).
STRENGTH = 10.0
#: Bump when the pipeline's steps change, so old artefacts are not loaded.
VERSION = "1"
#: Artefacts kept in the cache (a few content versions side by side, e.g. tests with other content).
KEEP = 4


def make_model() -> Pipeline:
    """The features and the model as one object: word 1–2-grams and character 2–5-grams, then
    a multinomial logistic regression."""
    return make_pipeline(
        make_union(
            TfidfVectorizer(analyzer="word", ngram_range=(1, 2), sublinear_tf=True, token_pattern=r"\S+"),
            TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=2),
        ),
        LogisticRegression(C=STRENGTH, max_iter=3000),
    )


class Classifier:
    """Probabilities of every label (entry id) for already-normalized texts."""

    def __init__(self, model: Pipeline) -> None:
        self.model = model
        self.labels: list[str] = [str(c) for c in model.classes_]
        union, regression = model.steps[0][1], model.steps[-1][1]
        self._features = []
        offset = 0
        for _, vectorizer in union.transformer_list:
            self._features.append((vectorizer.build_analyzer(), vectorizer.vocabulary_, vectorizer.idf_, offset))
            offset += len(vectorizer.vocabulary_)
        self._coef = np.ascontiguousarray(regression.coef_.T)
        self._intercept = regression.intercept_.copy()

    def probabilities(self, texts: Sequence[str]) -> np.ndarray:
        """One row of label probabilities per text: the fitted pipeline's own arithmetic
        (sublinear tf × idf, l2 per vectorizer, softmax), without `predict_proba`'s per-call input
        checks, which cost ten times the sums themselves on a single short text."""
        scores = np.tile(self._intercept, (len(texts), 1))
        for row, text in enumerate(texts):
            for analyze, vocabulary, idf, offset in self._features:
                counts = Counter(analyze(text))
                known = [(vocabulary[g], n) for g, n in counts.items() if g in vocabulary]
                if not known:
                    continue
                columns = np.fromiter((c for c, _ in known), dtype=np.intp, count=len(known))
                values = (1.0 + np.log(np.fromiter((n for _, n in known), dtype=float, count=len(known)))) * idf[columns]
                values /= np.sqrt(values @ values)
                scores[row] += values @ self._coef[columns + offset]
        scores -= scores.max(axis=1, keepdims=True)
        np.exp(scores, out=scores)
        scores /= scores.sum(axis=1, keepdims=True)
        return scores


def fingerprint(pairs: Sequence[tuple[str, str]]) -> str:
    """A hash of the training data and the library versions that shape the artefact."""
    digest = hashlib.sha256(f"{VERSION}/{sklearn.__version__}/{np.__version__}".encode())
    for text, label in pairs:
        digest.update(f"{label}\t{text}\n".encode())
    return digest.hexdigest()[:16]


def cache_dir() -> Path:
    """Where trained artefacts are kept: `BOT_CACHE_DIR`, else the user's cache folder."""
    env = os.environ.get("BOT_CACHE_DIR")
    base = Path(env) if env else Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "backspasm-bot"
    return base


def train(pairs: Sequence[tuple[str, str]]) -> Classifier:
    """Fit the pipeline on (normalized text, label) pairs."""
    model = make_model()
    model.fit([t for t, _ in pairs], [label for _, label in pairs])
    return Classifier(model)


def load_or_train(examples: Iterable[tuple[str, str]], normalize: Callable[[str], str], folder: Path | None = None) -> Classifier:
    """The classifier for these (text, label) examples: from the cache when the content is
    unchanged, else trained now and saved for the next start (a read-only cache only costs time)."""
    pairs = [(normalize(text), label) for text, label in examples]
    folder = folder or cache_dir()
    path = folder / f"classifier-{fingerprint(pairs)}.pickle"
    try:
        with path.open("rb") as handle:
            model = pickle.load(handle)
        return Classifier(model)
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ValueError):
        pass
    logger.info("training the classifier on %d examples (content changed or first start)", len(pairs))
    classifier = train(pairs)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, delete=False, suffix=".tmp") as handle:
            pickle.dump(classifier.model, handle, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(handle.name, path)
        for old in sorted(folder.glob("classifier-*.pickle"), key=lambda p: p.stat().st_mtime, reverse=True)[KEEP:]:
            old.unlink(missing_ok=True)
    except OSError as exc:
        logger.warning("could not save the trained classifier in %s: %s", folder, exc.strerror)
    return classifier
