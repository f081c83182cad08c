"""The guard's request classifier: is a request harmful, and which AMA principle would it violate?

Two views of a request are read. TF-IDF word and character n-grams feed two linear heads: a
binary harm head (benign against any harmful request, medical or not) and a nine-class principle
head fitted on the medical harmful requests only. The encoder judge's network gives a second
view (:mod:`request_encoder`): a logistic regression on its hidden states, which carry meaning
across wordings. The harm probability is the mean of the two harm heads, weighted by
``encoder_weight`` (chosen by leave-one-source-out cross-validation on the training requests);
the principle is the word model's, so even a benign-looking request has one and its answer is
judged against that principle's threshold. The model ships as gzipped JSON (no pickle) and is
rebuilt by ``python -m medsafe.mitigate.train_request_classifier``.
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
FORMAT = 2
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


@dataclass(frozen=True)
class ScreenSettings:
    """Regularisation of the three heads and the encoder's share of the harm probability."""

    c: float = 4.0
    principle_c: float = 1.0
    encoder_c: float = 0.1
    encoder_weight: float = 0.0


@dataclass(frozen=True)
class EncoderHead:
    """A logistic regression on standardised encoder features, tied to one encoder model."""

    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float
    weight: float
    model_sha256: str

    def probability(self, features: np.ndarray) -> np.ndarray:
        """Harm probability of each row of features."""
        z = ((features - self.mean) / self.scale) @ self.coef + self.intercept
        return 1.0 / (1.0 + np.exp(-z))

    def to_json(self) -> dict[str, Any]:
        """The head as plain JSON values."""
        return {"mean": np.round(self.mean, 6).tolist(), "scale": np.round(self.scale, 6).tolist(),
                "coef": np.round(self.coef, 6).tolist(), "intercept": round(self.intercept, 6),
                "weight": self.weight, "model_sha256": self.model_sha256}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> EncoderHead:
        """Read :meth:`to_json`'s output."""
        return cls(np.asarray(data["mean"]), np.asarray(data["scale"]), np.asarray(data["coef"]),
                   float(data["intercept"]), float(data["weight"]), str(data["model_sha256"]))


class RequestClassifier:
    """Fitted vectorizers, the word model's harm and principle heads, and optionally the
    encoder's harm head with the encoder that feeds it."""

    def __init__(self, vectorizers: dict[str, Any], harm: tuple[np.ndarray, float],
                 principle: tuple[np.ndarray, np.ndarray], info: dict[str, Any],
                 encoder_head: EncoderHead | None = None, encoder: Any = None) -> None:
        if (encoder_head is None) != (encoder is None):
            raise MedsafeError("an encoder head needs its encoder, and an encoder its head")
        if encoder_head is not None and encoder.model_sha256 != encoder_head.model_sha256:
            raise MedsafeError("the request classifier was trained on another encoder model "
                               "(SHA-256 differs): retrain it with python -m "
                               "medsafe.mitigate.train_request_classifier")
        self.vectorizers = vectorizers
        self.info = info
        self.encoder_head = encoder_head
        self.encoder = encoder
        self.classes = np.arange(10)  # column order of :meth:`probabilities`: 0 benign, 1-9
        # Weights laid out (features x outputs) once: a transposed view is copied on every call.
        self._harm = (np.ascontiguousarray(np.asarray(harm[0], dtype=np.float64).reshape(-1)),
                      float(harm[1]))
        self._principle = (np.ascontiguousarray(np.asarray(principle[0], dtype=np.float64).T),
                           np.asarray(principle[1], dtype=np.float64))

    def features(self, texts: list[str]) -> sparse.csr_matrix:
        """The word feature matrix of many requests (what the vectorizers' ``transform`` gives)."""
        clipped = [clip(t) for t in texts]
        return sparse.hstack([tfidf_rows(self.vectorizers[name], clipped) for name in VECTORIZERS],
                             format="csr")

    def _heads(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        x = self.features(texts)
        weights, bias = self._harm
        harm = 1.0 / (1.0 + np.exp(-(np.asarray(x @ weights).reshape(-1) + bias)))
        if self.encoder_head is not None and self.encoder_head.weight > 0 and texts:
            share = self.encoder_head.weight
            encoded = self.encoder_head.probability(self.encoder.features(texts))
            harm = (1.0 - share) * harm + share * encoded
        logits = np.asarray(x @ self._principle[0]) + self._principle[1]
        logits -= logits.max(axis=1, keepdims=True)
        exp = np.exp(logits)
        return harm, exp / exp.sum(axis=1, keepdims=True)

    def probabilities(self, texts: list[str]) -> np.ndarray:
        """Ten columns per request: benign, then harmful under principle 1-9 (they sum to 1)."""
        harm, principle = self._heads(texts)
        return np.hstack([(1.0 - harm)[:, None], harm[:, None] * principle])

    def predict(self, texts: list[str]) -> list[RequestVerdict]:
        """Harm probability and principle of each request."""
        harm, principle = self._heads(texts)
        best = principle.argmax(axis=1)
        return [RequestVerdict(harm_probability=float(h), principle=int(b) + 1,
                               principle_probability=float(h * row[b]))
                for h, b, row in zip(harm, best, principle, strict=True)]

    def save(self, path: Path) -> None:
        """Write the model as gzipped JSON (the encoder itself is not copied, only its hash)."""
        data = {
            "format": FORMAT, "info": self.info,
            "vectorizers": {name: {"vocabulary": {k: int(i) for k, i in v.vocabulary_.items()},
                                   "idf": [round(float(x), 5) for x in v.idf_]}
                            for name, v in self.vectorizers.items()},
            "harm": {"coef": np.round(self._harm[0], 5).tolist(),
                     "intercept": round(self._harm[1], 5)},
            "principle": {"coef": np.round(self._principle[0].T, 5).tolist(),
                          "intercept": np.round(self._principle[1], 5).tolist()},
            "encoder_head": None if self.encoder_head is None else self.encoder_head.to_json(),
        }
        with gzip.open(path, "wt", encoding="utf-8") as fh:
            json.dump(data, fh, separators=(",", ":"))

    @classmethod
    def load(cls, path: Path, encoder: Any = None) -> RequestClassifier:
        """Read a model written by :meth:`save`; one with an encoder head reads ``encoder``
        (by default the shipped encoder, see :func:`load_request_encoder`)."""
        try:
            with gzip.open(path, "rt", encoding="utf-8") as fh:
                data = json.load(fh)
            if data.get("format") != FORMAT:
                raise ValueError(f"format {data.get('format')!r}, expected {FORMAT} "
                                 "(retrain with this version of medsafe)")
            vectorizers = {}
            for name, params in VECTORIZERS.items():
                vec = _vectorizer(params)
                vec.vocabulary_ = data["vectorizers"][name]["vocabulary"]
                vec.idf_ = np.asarray(data["vectorizers"][name]["idf"])
                vectorizers[name] = vec
            head = data.get("encoder_head")
            encoder_head = None if head is None else EncoderHead.from_json(head)
            if encoder_head is not None and encoder_head.weight == 0:
                encoder_head = None  # given no share: the encoder need not even be loaded
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise MedsafeError(f"cannot read the guard's request classifier {path}: {exc}") from exc
        if encoder_head is not None and encoder is None:
            from medsafe.mitigate.request_encoder import load_request_encoder

            encoder = load_request_encoder()
        return cls(vectorizers, (np.asarray(data["harm"]["coef"]), data["harm"]["intercept"]),
                   (np.asarray(data["principle"]["coef"]),
                    np.asarray(data["principle"]["intercept"])), data["info"],
                   encoder_head, encoder if encoder_head is not None else None)


def _fit_encoder_head(features: np.ndarray, harmful: np.ndarray, settings: ScreenSettings,
                      model_sha256: str) -> EncoderHead:
    from sklearn.linear_model import LogisticRegression

    mean = features.mean(axis=0)
    scale = features.std(axis=0)
    scale[scale == 0] = 1.0
    model = LogisticRegression(C=settings.encoder_c, max_iter=3000, class_weight="balanced").fit(
        (features - mean) / scale, harmful)
    return EncoderHead(mean, scale, model.coef_[0], float(model.intercept_[0]),
                       settings.encoder_weight, model_sha256)


def _principle_head(x: sparse.csr_matrix, y: np.ndarray, c: float) -> tuple[np.ndarray, np.ndarray]:
    """Weights (9 x features) and intercepts of the principle head; a principle absent from
    training gets a column that never wins, and a single principle always wins."""
    from sklearn.linear_model import LogisticRegression

    coef, intercept = np.zeros((9, x.shape[1])), np.full(9, -1e3)
    present = sorted(set(int(v) for v in y))
    if not present:
        raise MedsafeError("the request classifier needs harmful requests labelled with a principle")
    if len(present) == 1:
        intercept[present[0] - 1] = 0.0
        return coef, intercept
    head = LogisticRegression(C=c, max_iter=5000).fit(x, y)
    head_coef, head_intercept = head.coef_, head.intercept_
    if len(head.classes_) == 2:  # scikit-learn keeps one row, the second class's log-odds
        head_coef = np.vstack([-head_coef[0] / 2, head_coef[0] / 2])
        head_intercept = np.array([-head_intercept[0] / 2, head_intercept[0] / 2])
    for row, cls in enumerate(head.classes_):
        coef[int(cls) - 1], intercept[int(cls) - 1] = head_coef[row], head_intercept[row]
    return coef, intercept


def fit_request_classifier(texts: list[str], labels: list[int],
                           settings: ScreenSettings | None = None,
                           info: dict[str, Any] | None = None, encoder: Any = None,
                           encoder_features: np.ndarray | None = None) -> RequestClassifier:
    """Train on requests labelled 0 (benign), 1-9 (the principle they would violate) or any
    other positive number (harmful outside medicine: used by the harm heads only). With an
    ``encoder`` (a :class:`~medsafe.mitigate.request_encoder.RequestEncoder`) the encoder head is
    fitted too, on ``encoder_features`` if they were computed already."""
    from sklearn.linear_model import LogisticRegression

    settings = settings or ScreenSettings()
    clipped = [clip(t) for t in texts]
    vectorizers = {name: _vectorizer(params).fit(clipped) for name, params in VECTORIZERS.items()}
    x = sparse.hstack([vectorizers[name].transform(clipped) for name in VECTORIZERS], format="csr")
    y = np.asarray(labels)
    if not (y == BENIGN).any() or not (y != BENIGN).any():
        raise MedsafeError("the request classifier needs benign and harmful training requests")
    # Balanced weights: harmful requests outnumber benign ones in the corpus, and the guard's
    # threshold (p >= 0.5) should mean even odds, not the corpus's base rate.
    harm = LogisticRegression(C=settings.c, max_iter=5000, class_weight="balanced").fit(
        x, y != BENIGN)
    medical = (y >= 1) & (y <= 9)
    coef, intercept = _principle_head(x[medical], y[medical], settings.principle_c)
    encoder_head = None
    if encoder is not None:
        features = encoder.features(texts) if encoder_features is None else encoder_features
        encoder_head = _fit_encoder_head(features, y != BENIGN, settings, encoder.model_sha256)
    return RequestClassifier(vectorizers, (harm.coef_[0], float(harm.intercept_[0])),
                             (coef, intercept), {**(info or {}), "n_train": len(texts),
                                                 "settings": settings.__dict__},
                             encoder_head, encoder)


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
