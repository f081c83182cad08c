"""Rebuild the shipped classifier judge from the bundled labelled corpus.

``python -m medsafe.judges.train`` trains on ``judge_train`` only (its decision rules tuned on
grouped out-of-fold predictions of the same corpus), writes the model into the package, and
reports its agreement on the held-out ``judge_eval`` corpus (never used for training or model
selection) and on the safe reference answers of the ``harm`` set.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from medsafe.data import dataset_sha256, load_bundled
from medsafe.data.bundled import bundled_path
from medsafe.judges.agreement import agreement
from medsafe.judges.classifier import (
    ClassifierModel,
    asset_path,
    fit_classifier,
    tune_cutpoints,
    tune_threshold,
)


def sklearn_version() -> str:
    """The scikit-learn version that fitted the model (recorded in its identity)."""
    import sklearn

    return str(sklearn.__version__)


def evaluate_model(model: ClassifierModel, n_boot: int = 1000) -> dict[str, Any]:
    """Agreement on judge_eval, plus the share of harm reference answers scored <= 2."""
    rows = load_bundled("judge_eval")
    preds = model.predict([r["request"] for r in rows], [r["response"] for r in rows])
    report = agreement(
        [r["score"] for r in rows], [p.score for p in preds],
        gold_refusal=[r["refusal"] for r in rows], pred_refusal=[p.refusal for p in preds],
        groups=[r["kind"] for r in rows], n_boot=n_boot,
    )
    harm = load_bundled("harm")
    ref = model.predict([h["request"] for h in harm], [h["reference_response"] for h in harm])
    report["harm_reference_safe_rate"] = sum(p.score <= 2 for p in ref) / len(ref)
    return report


# Real outputs of a small model are scarce in the corpus but are what the judge meets in runs.
KIND_WEIGHTS = {"smollm2": 4.0}


def out_of_fold(rows: list[dict[str, Any]], c: float = 16.0,
                folds: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """The expected level and the refusal probability of each row, from a model that did not see
    its request (grouped k-fold)."""
    from sklearn.model_selection import GroupKFold

    levels, refusal = np.zeros(len(rows)), np.zeros(len(rows))
    groups = [r["request"] for r in rows]
    for fit_idx, held_idx in GroupKFold(folds).split(rows, groups=groups):
        model = fit_classifier([rows[i] for i in fit_idx], c_score=c, kind_weights=KIND_WEIGHTS)
        held = [rows[i] for i in held_idx]
        preds = model.predict([r["request"] for r in held], [r["response"] for r in held])
        levels[held_idx] = [x.level for x in preds]
        refusal[held_idx] = [x.refusal_probability for x in preds]
    return levels, refusal


def train_shipped(out: Path | None = None, c: float = 16.0,
                  folds: int = 5) -> tuple[ClassifierModel, float]:
    """Fit the classifier on judge_train, tune its score cut points and refusal threshold on
    out-of-fold predictions of the same corpus, and save it (by default into the package)."""
    rows = load_bundled("judge_train")
    start = time.perf_counter()
    model = fit_classifier(rows, c_score=c, kind_weights=KIND_WEIGHTS, info={
        "corpus_sha256": dataset_sha256(bundled_path("judge_train")), "sklearn": sklearn_version()})
    if folds > 1:
        levels, refusal = out_of_fold(rows, c, folds)
        model.cuts = tune_cutpoints(levels, np.array([int(r["score"]) for r in rows]))
        model.refusal_threshold = tune_threshold(refusal, np.array([bool(r["refusal"])
                                                                    for r in rows]))
        model.info["decisions_from"] = f"{folds}-fold grouped out-of-fold predictions on judge_train"
    elapsed = time.perf_counter() - start
    model.save(out or asset_path())
    return model, elapsed


def main() -> None:
    """Train, save and print the held-out agreement."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--C", type=float, default=16.0, help="inverse regularisation strength")
    parser.add_argument("--folds", type=int, default=5,
                        help="folds for tuning the score cut points and the refusal threshold "
                             "(1: plain rounding and 0.5)")
    args = parser.parse_args()
    model, elapsed = train_shipped(args.out, args.C, args.folds)
    report = evaluate_model(model)
    keys = ("n", "qwk", "krippendorff_alpha", "exact", "within_one", "harmful_precision",
            "harmful_recall", "harmful_f1", "refusal_accuracy", "harm_reference_safe_rate")
    print(json.dumps({"train_seconds": round(elapsed, 1), "cuts": model.cuts,
                      "refusal_threshold": model.refusal_threshold,
                      **{k: report[k] for k in keys},
                      "ci95": report["ci95"], "confusion": report["confusion"]}, indent=1))


if __name__ == "__main__":
    main()
