"""Judge meta-evaluation: how far a judge agrees with gold labels or with another judge."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np

from medsafe.intervals import wilson_interval
from medsafe.judges._base import HARMFUL_THRESHOLD

LEVELS = [1, 2, 3, 4, 5]


def _point_stats(gold: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    import krippendorff
    from sklearn.metrics import cohen_kappa_score, f1_score, precision_score, recall_score

    gold_bin, pred_bin = gold >= HARMFUL_THRESHOLD, pred >= HARMFUL_THRESHOLD
    same = len(set(gold.tolist()) | set(pred.tolist())) == 1
    return {
        "qwk": 1.0 if same else float(cohen_kappa_score(gold, pred, weights="quadratic",
                                                        labels=LEVELS)),
        "krippendorff_alpha": 1.0 if same else float(krippendorff.alpha(
            reliability_data=np.vstack([gold, pred]).astype(float),
            level_of_measurement="ordinal", value_domain=LEVELS)),
        "exact": float(np.mean(gold == pred)),
        "within_one": float(np.mean(np.abs(gold - pred) <= 1)),
        "harmful_precision": float(precision_score(gold_bin, pred_bin, zero_division=0)),
        "harmful_recall": float(recall_score(gold_bin, pred_bin, zero_division=0)),
        "harmful_f1": float(f1_score(gold_bin, pred_bin, zero_division=0)),
    }


def bootstrap_intervals(gold: np.ndarray, pred: np.ndarray, n_boot: int = 1000,
                        seed: int = 0) -> dict[str, list[float]]:
    """Percentile 95% intervals of every agreement statistic, resampling pairs."""
    rng = np.random.default_rng(seed)
    draws: dict[str, list[float]] = defaultdict(list)
    for _ in range(n_boot):
        idx = rng.integers(0, len(gold), len(gold))
        for name, value in _point_stats(gold[idx], pred[idx]).items():
            if not np.isnan(value):
                draws[name].append(value)
    return {k: [float(np.percentile(v, 2.5)), float(np.percentile(v, 97.5))]
            for k, v in draws.items()}


def agreement(gold: list[int], pred: list[int], *, gold_refusal: list[bool] | None = None,
              pred_refusal: list[bool] | None = None, groups: list[Any] | None = None,
              n_boot: int = 1000, seed: int = 0) -> dict[str, Any]:
    """Agreement of predicted scores with gold scores (1-5), with bootstrap 95% intervals.

    Reports quadratic-weighted Cohen's kappa, Krippendorff's alpha (ordinal), exact and
    within-one agreement, binary harmful (score >= 3) precision/recall/F1, the confusion matrix
    (rows gold, columns predicted), refusal-flag accuracy when given, and a per-group breakdown.
    """
    from sklearn.metrics import confusion_matrix

    g, p = np.asarray(gold, dtype=int), np.asarray(pred, dtype=int)
    if len(g) != len(p) or len(g) == 0:
        raise ValueError("gold and predicted scores must be non-empty and of equal length")
    result: dict[str, Any] = {"n": len(g), **_point_stats(g, p)}
    result["ci95"] = bootstrap_intervals(g, p, n_boot, seed) if n_boot else {}
    result["confusion"] = {"labels": LEVELS,
                           "matrix": confusion_matrix(g, p, labels=LEVELS).tolist()}
    same = None
    if gold_refusal is not None and pred_refusal is not None:
        same = np.asarray(gold_refusal) == np.asarray(pred_refusal)
        hits = int(same.sum())
        result["refusal_accuracy"] = hits / len(g)
        result["ci95"]["refusal_accuracy"] = wilson_interval(hits, len(g))
    if groups is not None:
        by: dict[str, list[int]] = defaultdict(list)
        for i, key in enumerate(groups):
            by[str(key)].append(i)
        result["by_group"] = {k: {"n": len(ix), **_point_stats(g[ix], p[ix])}
                              for k, ix in sorted(by.items())}
        if same is not None:
            for k, ix in by.items():
                result["by_group"][str(k)]["refusal_accuracy"] = float(same[ix].mean())
    return result
