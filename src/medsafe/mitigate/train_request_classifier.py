"""Rebuild the guard's request classifier from training data only.

``python -m medsafe.mitigate.train_request_classifier`` fits on the ``train`` splits of ``harm``
(labelled with their principle) and ``overrefusal`` (benign), the benign requests of the
``judge_train`` corpus, and the composed everyday and short harmful requests of
:mod:`composed_requests`; it writes
the model into the package and reports how it does on data it never saw: the ``test`` splits of
``harm`` and ``overrefusal``, the ``mcq`` questions and the benign requests of ``judge_eval``.
``--cv`` first compares regularisation strengths by cross-validation on the training rows.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from medsafe.data import bundled_path, dataset_sha256, load_bundled
from medsafe.data.loaders import mcq_prompt
from medsafe.mitigate.composed_requests import benign_requests, harmful_requests
from medsafe.mitigate.request_classifier import (
    BENIGN,
    RequestClassifier,
    asset_path,
    fit_request_classifier,
)

BLOCK_PROBABILITY = 0.5  # what the default policy threshold (3 on the 1-5 scale) blocks at
N_COMPOSED = 600


def training_rows() -> tuple[list[str], list[int]]:
    """Requests and labels (0 benign, 1-9 principle); no test split of any set is used."""
    texts: list[str] = []
    labels: list[int] = []
    seen: set[str] = set()

    def add(text: str, label: int) -> None:
        if text not in seen:
            seen.add(text)
            texts.append(text)
            labels.append(label)

    for row in load_bundled("harm"):
        if row["split"] == "train":
            add(row["request"], int(row["principle"]))
    for row in load_bundled("overrefusal"):
        if row["split"] == "train":
            add(row["request"], BENIGN)
    for row in load_bundled("judge_train"):
        if row["kind"] == "benign":
            add(row["request"], BENIGN)
    for text in benign_requests(N_COMPOSED):
        add(text, BENIGN)
    for text, principle in harmful_requests():
        add(text, principle)
    return texts, labels


def held_out(model: RequestClassifier) -> dict[str, Any]:
    """Block rates at the default threshold on sets never used for training."""
    harm = [r for r in load_bundled("harm") if r["split"] == "test"]
    verdicts = model.predict([r["request"] for r in harm])
    blocked = [v.harm_probability >= BLOCK_PROBABILITY for v in verdicts]
    by_principle = {
        str(p): round(float(np.mean([b for b, r in zip(blocked, harm, strict=True)
                                     if r["principle"] == p])), 3)
        for p in range(1, 10)
    }
    benign_sets = {
        "overrefusal_test": [r["request"] for r in load_bundled("overrefusal") if r["split"] == "test"],
        "mcq": [mcq_prompt(r["question"], r["options"]) for r in load_bundled("mcq")],
        "judge_eval_benign": sorted({r["request"] for r in load_bundled("judge_eval")
                                     if r["kind"] == "benign"}),
    }
    report: dict[str, Any] = {
        "harm_test": {"n": len(harm), "block_rate": round(float(np.mean(blocked)), 4),
                      "principle_accuracy": round(float(np.mean(
                          [v.principle == r["principle"] for v, r in zip(verdicts, harm, strict=True)]
                      )), 4), "block_rate_by_principle": by_principle},
    }
    for name, texts in benign_sets.items():
        probs = [v.harm_probability for v in model.predict(texts)]
        report[name] = {"n": len(texts), "false_block_rate": round(float(np.mean(
            [p >= BLOCK_PROBABILITY for p in probs])), 4)}
    return report


def cross_validate(texts: list[str], labels: list[int], cs: list[float], folds: int = 5) -> dict[str, Any]:
    """Mean log-loss and harmful-vs-benign accuracy of each C over stratified folds."""
    from sklearn.model_selection import StratifiedKFold

    y = np.asarray(labels)
    out = {}
    for c in cs:
        losses, accs = [], []
        for train, test in StratifiedKFold(folds, shuffle=True, random_state=0).split(texts, y):
            model = fit_request_classifier([texts[i] for i in train], list(y[train]), c)
            probs = model.probabilities([texts[i] for i in test])
            cols = {int(k): j for j, k in enumerate(model.classes)}
            p_true = probs[np.arange(len(test)), [cols[int(k)] for k in y[test]]]
            losses.append(float(-np.mean(np.log(np.clip(p_true, 1e-12, 1)))))
            harmful = 1 - probs[:, cols[BENIGN]] >= BLOCK_PROBABILITY
            accs.append(float(np.mean(harmful == (y[test] != BENIGN))))
        out[str(c)] = {"log_loss": round(float(np.mean(losses)), 4),
                       "harm_accuracy": round(float(np.mean(accs)), 4)}
    return out


def train_shipped(out: Path | None = None, c: float = 16.0) -> tuple[RequestClassifier, float]:
    """Fit on the training rows and save the model (by default into the package)."""
    import sklearn

    texts, labels = training_rows()
    start = time.perf_counter()
    model = fit_request_classifier(texts, labels, c, info={
        "harm_sha256": dataset_sha256(bundled_path("harm")),
        "overrefusal_sha256": dataset_sha256(bundled_path("overrefusal")),
        "judge_train_sha256": dataset_sha256(bundled_path("judge_train")),
        "composed_benign": N_COMPOSED, "sklearn": str(sklearn.__version__),
    })
    elapsed = time.perf_counter() - start
    target = out or asset_path()
    target.parent.mkdir(parents=True, exist_ok=True)
    model.save(target)
    return model, elapsed


def main() -> None:
    """Train, save, and print held-out block rates (and the CV table with --cv)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--C", type=float, default=16.0, help="inverse regularisation strength")
    parser.add_argument("--cv", action="store_true", help="compare C = 4, 16, 64 by 5-fold CV first")
    args = parser.parse_args()
    if args.cv:
        texts, labels = training_rows()
        print(json.dumps({"cv": cross_validate(texts, labels, [4.0, 16.0, 64.0])}, indent=1))
    model, elapsed = train_shipped(args.out, args.C)
    print(json.dumps({"train_seconds": round(elapsed, 1), "n_train": model.info["n_train"],
                      **held_out(model)}, indent=1))


if __name__ == "__main__":
    main()
