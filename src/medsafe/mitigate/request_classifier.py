"""The guard's request classifier: is a request benign, or which AMA principle would it violate?

TF-IDF word and character n-grams feed one multinomial logistic regression over ten classes
(0 = benign, 1-9 = the principle). The harm probability is one minus the benign probability; the
principle is the most probable of the nine harmful classes, so even a benign-looking request has
one and its answer is judged against that principle's threshold. The model ships as gzipped JSON
(no pickle) and is rebuilt by ``python -m medsafe.mitigate.train_request_classifier``.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
from scipy import sparse

from medsafe.errors import MedsafeError

ASSET = "request_classifier.json.gz"
BENIGN = 0
MAX_CHARS = 8_000  # a request's head and tail carry its intent; padding cannot hide it

VECTORIZERS: dict[str, dict[str, Any]] = {
    "words": {"analyzer": "word", "ngram_range": (1, 2), "sublinear_tf": True, "min_df": 1,
              "max_features": 20000},
    "chars": {"analyzer": "char_wb", "ngram_range": (3, 5), "sublinear_tf": True, "min_df": 2,
              "max_features": 30000},
}


@dataclass(frozen=True)
class RequestVerdict:
    """What the classifier says about one request."""

    harm_probability: float
    principle: int
    principle_probability: float

    @property
    def level(self) -> float:
        """The harm probability on the 1-5 rubric scale (``1 + 4p``), comparable to thresholds."""
        return 1.0 + 4.0 * self.harm_probability


def clip(text: str) -> str:
    """Head and tail of a very long request."""
    if len(text) <= MAX_CHARS:
        return text
    half = MAX_CHARS // 2
    return text[:half] + "\n" + text[-half:]


def tfidf_rows(vectorizer: Any, texts: list[str]) -> sparse.csr_matrix:
    """``vectorizer.transform(texts)`` for a fitted sublinear, l2-normalised TfidfVectorizer,
    computed directly: scikit-learn's input checks cost more than the arithmetic for the one
    short text the guard scores per request, and they sit on every request's path."""
    analyze = vectorizer.build_analyzer()
    vocabulary, idf = vectorizer.vocabulary_, vectorizer.idf_
    indptr, indices, values = [0], [], []
    for text in texts:
        counts: dict[int, int] = {}
        for gram in analyze(text):
            column = vocabulary.get(gram)
            if column is not None:
                counts[column] = counts.get(column, 0) + 1
        columns = np.fromiter(counts, dtype=np.int64, count=len(counts))
        weights = (np.log(np.fromiter(counts.values(), dtype=np.float64, count=len(counts))) + 1.0
                   ) * idf[columns]
        norm = float(np.sqrt(weights @ weights))
        order = np.argsort(columns)
        indices.append(columns[order])
        values.append(weights[order] / norm if norm else weights[order])
        indptr.append(indptr[-1] + len(counts))
    return sparse.csr_matrix(
        (np.concatenate(values) if values else np.zeros(0),
         np.concatenate(indices) if indices else np.zeros(0, dtype=np.int64), indptr),
        shape=(len(texts), len(idf)))


def _vectorizer(params: dict[str, Any]) -> Any:
    from sklearn.feature_extraction.text import TfidfVectorizer

    return TfidfVectorizer(lowercase=True, dtype=np.float64, **params)


class RequestClassifier:
    """Fitted vectorizers and the ten-class linear model."""

    def __init__(self, vectorizers: dict[str, Any], classes: np.ndarray, coef: np.ndarray,
                 intercept: np.ndarray, info: dict[str, Any]) -> None:
        self.vectorizers = vectorizers
        self.classes = classes
        self.coef = coef
        self.intercept = intercept
        self.info = info
        # (features x classes), laid out once: a transposed view would be copied on every call.
        self._weights = np.ascontiguousarray(coef.T)

    def features(self, texts: list[str]) -> sparse.csr_matrix:
        """The feature matrix of many requests (what the vectorizers' ``transform`` gives)."""
        clipped = [clip(t) for t in texts]
        return sparse.hstack([tfidf_rows(self.vectorizers[name], clipped) for name in VECTORIZERS],
                             format="csr")

    def probabilities(self, texts: list[str]) -> np.ndarray:
        """Class probabilities, one row per request, columns in ``classes`` order."""
        logits = np.asarray(self.features(texts) @ self._weights) + self.intercept
        if len(self.classes) == 2:  # a binary model keeps one row: the second class's log-odds
            logits = np.hstack([np.zeros_like(logits), logits])
        logits -= logits.max(axis=1, keepdims=True)
        exp = np.exp(logits)
        return exp / exp.sum(axis=1, keepdims=True)

    def predict(self, texts: list[str]) -> list[RequestVerdict]:
        """Harm probability and principle of each request."""
        probs = self.probabilities(texts)
        benign = int(np.flatnonzero(self.classes == BENIGN)[0])
        harmful = [i for i in range(len(self.classes)) if i != benign]
        out = []
        for row in probs:
            best = max(harmful, key=lambda i: row[i])
            out.append(RequestVerdict(
                harm_probability=float(1.0 - row[benign]),
                principle=int(self.classes[best]),
                principle_probability=float(row[best]),
            ))
        return out

    def save(self, path: Path) -> None:
        """Write the model as gzipped JSON."""
        data = {
            "format": 1, "info": self.info,
            "vectorizers": {name: {"vocabulary": {k: int(i) for k, i in v.vocabulary_.items()},
                                   "idf": [round(float(x), 5) for x in v.idf_]}
                            for name, v in self.vectorizers.items()},
            "classes": [int(c) for c in self.classes],
            "coef": np.round(self.coef, 5).tolist(),
            "intercept": np.round(self.intercept, 5).tolist(),
        }
        with gzip.open(path, "wt", encoding="utf-8") as fh:
            json.dump(data, fh, separators=(",", ":"))

    @classmethod
    def load(cls, path: Path) -> RequestClassifier:
        """Read a model written by :meth:`save`."""
        try:
            with gzip.open(path, "rt", encoding="utf-8") as fh:
                data = json.load(fh)
            vectorizers = {}
            for name, params in VECTORIZERS.items():
                vec = _vectorizer(params)
                vec.vocabulary_ = data["vectorizers"][name]["vocabulary"]
                vec.idf_ = np.asarray(data["vectorizers"][name]["idf"])
                vectorizers[name] = vec
            return cls(vectorizers, np.asarray(data["classes"]), np.asarray(data["coef"]),
                       np.asarray(data["intercept"]), data["info"])
        except (OSError, ValueError, KeyError) as exc:
            raise MedsafeError(f"cannot read the guard's request classifier {path}: {exc}") from exc


def fit_request_classifier(texts: list[str], labels: list[int], c: float = 16.0,
                           info: dict[str, Any] | None = None) -> RequestClassifier:
    """Train on requests labelled 0 (benign) or 1-9 (the principle they would violate)."""
    from sklearn.linear_model import LogisticRegression

    clipped = [clip(t) for t in texts]
    vectorizers = {name: _vectorizer(params).fit(clipped) for name, params in VECTORIZERS.items()}
    x = sparse.hstack([vectorizers[name].transform(clipped) for name in VECTORIZERS], format="csr")
    model = LogisticRegression(C=c, max_iter=5000).fit(x, np.asarray(labels))
    return RequestClassifier(vectorizers, model.classes_, model.coef_, model.intercept_,
                             {**(info or {}), "n_train": len(texts), "c": c})


def asset_path() -> Path:
    """Where the shipped model lives inside the package."""
    return Path(str(resources.files("medsafe.mitigate") / "assets" / ASSET))


@cache
def _shipped(path: str, mtime_ns: int) -> RequestClassifier:
    return RequestClassifier.load(Path(path))


def load_request_classifier(path: Path | None = None) -> RequestClassifier:
    """The classifier shipped with medsafe (loaded once per process), or one from ``path``."""
    if path is not None:
        return RequestClassifier.load(path)
    shipped = asset_path()
    if not shipped.is_file():
        raise MedsafeError(f"the guard's request classifier is missing ({shipped}): "
                           "reinstall medsafe or run python -m medsafe.mitigate.train_request_classifier")
    return _shipped(str(shipped), shipped.stat().st_mtime_ns)
