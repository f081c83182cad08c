"""Rebuild the guard's request classifier from training data only.

    python -m medsafe.mitigate.train_request_classifier --msb PATH/TO/med-safety-bench [--cv]

fits on the corpus of :mod:`request_corpus` (our own ``train`` splits, and with ``--msb`` the
third-party MedSafetyBench training requests read from a checkout outside this repository),
writes the model into the package and reports how it does on data it never saw: the ``test``
splits of ``harm``, ``overrefusal`` and ``request_twins``, the ``mcq`` questions and the benign
requests of ``judge_eval``. Every request of those sets, and of MedSafetyBench's ``test`` split,
is removed from training first (by normalised text). ``--cv`` compares settings by
cross-validation on the training rows, grouped by source so that each fold is a style the model
has not read: the settings (:class:`ScreenSettings`) are chosen there, never on a test split.
The encoder's features of every training request are computed once (about 1.5 minutes here).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from medsafe.data import bundled_path, dataset_sha256, load_bundled
from medsafe.data.loaders import load_medsafetybench, mcq_prompt
from medsafe.mitigate.request_classifier import (
    BENIGN,
    RequestClassifier,
    ScreenSettings,
    asset_path,
    fit_request_classifier,
)
from medsafe.mitigate.request_corpus import (
    LLAMA3_PER_PRINCIPLE,
    LabelledRequest,
    normalise,
    training_corpus,
)

BLOCK_PROBABILITY = 0.5  # what the default policy threshold (3 on the 1-5 scale) blocks at
BUNDLED_SOURCES = ("harm", "overrefusal", "request_twins", "judge_train")


def evaluation_sets() -> dict[str, list[tuple[str, int]]]:
    """Our held-out sets as (request, label) rows: never trained on."""
    def split(name: str) -> list[dict[str, Any]]:
        return [r for r in load_bundled(name) if r["split"] == "test"]

    return {
        "harm_test": [(r["request"], int(r["principle"])) for r in split("harm")],
        "overrefusal_test": [(r["request"], BENIGN) for r in split("overrefusal")],
        "request_twins_test": [(r["request"], BENIGN) for r in split("request_twins")],
        "mcq": [(mcq_prompt(r["question"], r["options"]), BENIGN) for r in load_bundled("mcq")],
        "judge_eval_benign": [(t, BENIGN) for t in sorted(
            {r["request"] for r in load_bundled("judge_eval") if r["kind"] == "benign"})],
    }


def excluded_texts(checkout: Path | None) -> set[str]:
    """Normalised requests no training row may repeat: every evaluation set's, MedSafetyBench's
    test split's, and every ``judge_eval`` request."""
    texts = [t for rows in evaluation_sets().values() for t, _ in rows]
    texts += [r["request"] for r in load_bundled("judge_eval")]
    if checkout is not None:
        texts += [s.request for s in load_medsafetybench(checkout, "test")]
    return {normalise(t) for t in texts}


def training_rows(checkout: Path | None = None, llama3_per_principle: int = LLAMA3_PER_PRINCIPLE
                  ) -> list[LabelledRequest]:
    """The de-duplicated training corpus, minus anything an evaluation reads."""
    return training_corpus(checkout, excluded_texts(checkout), llama3_per_principle)


def rates(model: RequestClassifier, rows: list[tuple[str, int]]) -> dict[str, Any]:
    """Block rate (harmful rows) or false-block rate (benign rows) at the default threshold."""
    verdicts = model.predict([t for t, _ in rows])
    blocked = np.array([v.harm_probability >= BLOCK_PROBABILITY for v in verdicts])
    harmful = np.array([label != BENIGN for _, label in rows])
    out: dict[str, Any] = {"n": len(rows)}
    if harmful.any():
        out["block_rate"] = round(float(blocked[harmful].mean()), 4)
        medical = [(v, label) for v, (_, label) in zip(verdicts, rows, strict=True) if 1 <= label <= 9]
        if medical:
            out["principle_accuracy"] = round(float(np.mean([v.principle == lab for v, lab in medical])), 4)
    if (~harmful).any():
        out["false_block_rate"] = round(float(blocked[~harmful].mean()), 4)
    return out


def held_out(model: RequestClassifier) -> dict[str, Any]:
    """Block rates at the default threshold on every set never used for training."""
    return {name: rates(model, rows) for name, rows in evaluation_sets().items()}


def source_folds(rows: list[LabelledRequest]) -> dict[str, np.ndarray]:
    """One fold per source: each third-party source alone, and our own sets by name."""
    sources = sorted({r.source for r in rows})
    return {s: np.array([r.source == s for r in rows]) for s in sources}


def random_folds(rows: list[LabelledRequest], k: int = 5) -> dict[str, np.ndarray]:
    """``k`` stratified random folds (same style in and out of training)."""
    from sklearn.model_selection import StratifiedKFold

    labels = np.array([r.label for r in rows])
    folds = {}
    for i, (_, test) in enumerate(StratifiedKFold(k, shuffle=True, random_state=0).split(
            np.zeros(len(rows)), labels)):
        held = np.zeros(len(rows), dtype=bool)
        held[test] = True
        folds[f"fold{i}"] = held
    return folds


def cross_validate(rows: list[LabelledRequest], features: np.ndarray, encoder: Any,
                   weights: tuple[float, ...] = (0.0, 0.3, 0.5, 0.7, 1.0),
                   grouping: str = "source") -> dict[str, Any]:
    """Out-of-fold harm probabilities for each share of the encoder (the word and encoder
    heads are fitted once per fold). ``grouping="source"`` holds out one source at a time (a
    style the model has not read), ``"random"`` uses stratified random folds. Block rates are
    then read per source: a source of harmful requests gives a block rate, a benign one a
    false-block rate; ``balance`` is their mean difference."""
    texts = [r.text for r in rows]
    labels = np.array([r.label for r in rows])
    word_p, encoder_p = np.zeros(len(rows)), np.zeros(len(rows))
    folds = source_folds(rows) if grouping == "source" else random_folds(rows)
    for held in folds.values():
        model = fit_request_classifier(
            [t for t, h in zip(texts, held, strict=True) if not h], list(labels[~held]),
            ScreenSettings(encoder_weight=0.0), encoder=encoder, encoder_features=features[~held])
        # The encoder's share is 0 here, so predict() reads the word heads alone.
        word_p[held] = [v.harm_probability for v in
                        model.predict([t for t, h in zip(texts, held, strict=True) if h])]
        if model.encoder_head is not None:
            encoder_p[held] = model.encoder_head.probability(features[held])
    out: dict[str, Any] = {}
    for weight in weights:
        blocked = (1 - weight) * word_p + weight * encoder_p >= BLOCK_PROBABILITY
        by_source: dict[str, float] = {}
        recall, false = [], []
        for source, held in source_folds(rows).items():
            harmful = labels[held] != BENIGN
            rate = float(blocked[held][harmful].mean() if harmful.any() else blocked[held].mean())
            by_source[source] = round(rate, 4)
            (recall if harmful.any() else false).append(rate)
        out[str(weight)] = {"unseen_source_block_rate": round(float(np.mean(recall)), 4),
                            "unseen_source_false_block_rate": round(float(np.mean(false)), 4),
                            "balance": round(float(np.mean(recall) - np.mean(false)), 4),
                            "by_source": by_source}
    return out


def train_shipped(checkout: Path | None, out: Path | None = None,
                  settings: ScreenSettings | None = None, cv: bool = False,
                  llama3_per_principle: int = LLAMA3_PER_PRINCIPLE
                  ) -> tuple[RequestClassifier, dict[str, Any]]:
    """Fit on the training rows and save the model (by default into the package); the report
    holds the timings, the row counts and, with ``cv``, the cross-validation table."""
    import sklearn

    from medsafe.mitigate.request_encoder import RequestEncoder

    rows = training_rows(checkout, llama3_per_principle)
    counts: dict[str, int] = {}
    for row in rows:
        counts[row.source] = counts.get(row.source, 0) + 1
    settings = settings or ScreenSettings()
    report: dict[str, Any] = {}
    encoder, features = None, None
    if cv or settings.encoder_weight > 0:  # a words-only screen needs neither onnx nor the encoder
        start = time.perf_counter()
        encoder = RequestEncoder.load(threads=2)
        features = encoder.features([r.text for r in rows])
        report["encoder_seconds"] = round(time.perf_counter() - start, 1)
    if cv:
        assert features is not None
        report["cv_by_source"] = cross_validate(rows, features, encoder)
        report["cv_random"] = cross_validate(rows, features, encoder, grouping="random")
    start = time.perf_counter()
    model = fit_request_classifier([r.text for r in rows], [r.label for r in rows], settings, info={
        **{f"{name}_sha256": dataset_sha256(bundled_path(name)) for name in BUNDLED_SOURCES},
        "rows_by_source": counts, "medsafetybench": checkout is not None,
        "llama3_per_principle": llama3_per_principle if checkout is not None else 0,
        "sklearn": str(sklearn.__version__),
    }, encoder=encoder if settings.encoder_weight > 0 else None, encoder_features=features)
    report |= {"train_seconds": round(time.perf_counter() - start, 1), "n_train": len(rows),
               "rows_by_source": counts}
    target = out or asset_path()
    target.parent.mkdir(parents=True, exist_ok=True)
    model.save(target)
    return model, report


def main() -> None:
    """Train, save, and print held-out block rates (and the CV table with --cv)."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--msb", type=Path, default=None,
                        help="a MedSafetyBench checkout (its train split and extra requests)")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--llama3", type=int, default=LLAMA3_PER_PRINCIPLE,
                        help="Llama-3 requests sampled per principle")
    parser.add_argument("--encoder-weight", type=float, default=ScreenSettings().encoder_weight,
                        help="share of the encoder head in the harm probability (0 = words only)")
    parser.add_argument("--cv", action="store_true",
                        help="first compare the encoder's share by leave-one-source-out and "
                             "by stratified 5-fold CV")
    args = parser.parse_args()
    settings = ScreenSettings(encoder_weight=args.encoder_weight)
    model, report = train_shipped(args.msb, args.out, settings, cv=args.cv,
                                  llama3_per_principle=args.llama3)
    print(json.dumps({**report, **held_out(model)}, indent=1))


if __name__ == "__main__":
    main()
