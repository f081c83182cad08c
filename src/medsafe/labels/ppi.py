"""Prediction-powered inference for a mean: a judge's verdicts on every item of a run, corrected by
human labels on a simple random subset of the same items.

The estimator and its variance are those of PPI++ (Angelopoulos, Duchi & Zrnic, "PPI++: Efficient
Prediction-Powered Inference", arXiv:2311.01453, 2023), which extends prediction-powered
inference (Angelopoulos, Bates, Fannjiang, Jordan & Zrnic, "Prediction-powered inference",
Science 382, 2023). With ``n`` labelled items (label ``y``, judge ``f``) and ``N`` unlabelled items
(judge ``f~``)::

    theta = mean(y) + lam * (mean(f~) - mean(f))
    var   = var(y - lam * f) / n + lam**2 * var(f~) / N

The interval ``theta +/- z * sqrt(var)`` covers the mean label at the nominal rate however biased
the judge is; the judge only decides how narrow it is. ``lam`` is the power-tuning weight
``cov(y, f) / ((1 + n/N) var(f))`` clipped to [0, 1]: ``lam = 1`` is plain PPI, ``lam = 0`` ignores
the judge (the classical interval of the labels alone), so a useless judge cannot make the
interval much wider than the labels' own.

``ppi-python`` implements the same estimator, but it pulls numba, statsmodels, pandas and a file
downloader into the install, which is why medsafe keeps these few lines of its own.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
from scipy.special import ndtri

Z95 = float(ndtri(0.975))


@dataclass(frozen=True)
class Estimate:
    """A point estimate with its standard error and 95% interval."""

    value: float
    se: float
    ci95: tuple[float, float]
    lam: float | None = None  # the power-tuning weight (PPI estimates only)

    def as_dict(self) -> dict[str, object]:
        """JSON-ready form (the interval as a list)."""
        out = asdict(self)
        out["ci95"] = list(self.ci95)
        return out


def _interval(value: float, se: float, bounds: tuple[float, float] | None) -> tuple[float, float]:
    lo, hi = value - Z95 * se, value + Z95 * se
    if bounds is not None:  # a rate cannot leave [0, 1], a score [1, 5]
        lo, hi = max(bounds[0], lo), min(bounds[1], hi)
    return (lo, hi)


def classical_mean(y: np.ndarray, bounds: tuple[float, float] | None = None) -> Estimate | None:
    """The labels' own mean with a normal 95% interval (None with fewer than two labels)."""
    y = np.asarray(y, dtype=float)
    if len(y) < 2:
        return None
    se = float(np.std(y, ddof=1) / math.sqrt(len(y)))
    value = float(np.mean(y))
    return Estimate(value, se, _interval(value, se, bounds), lam=0.0)


def power_tuning(y: np.ndarray, f: np.ndarray, f_unlabelled: np.ndarray) -> float:
    """The variance-minimising weight of the judge, clipped to [0, 1] (PPI++, eq. for the mean)."""
    n, big_n = len(y), len(f_unlabelled)
    pooled = np.concatenate([f, f_unlabelled])
    var_f = float(np.var(pooled, ddof=1)) if len(pooled) > 1 else 0.0
    if var_f <= 0 or n < 2:
        return 0.0
    cov = float(np.cov(y, f, ddof=1)[0, 1])
    return float(np.clip(cov / ((1 + n / big_n) * var_f), 0.0, 1.0))


def ppi_mean(y: np.ndarray, f: np.ndarray, f_unlabelled: np.ndarray, *,
             lam: float | None = None, bounds: tuple[float, float] | None = None
             ) -> Estimate | None:
    """The prediction-powered estimate of the mean label and its 95% interval.

    ``y`` and ``f`` are the labels and the judge's values on the labelled items, ``f_unlabelled``
    the judge's values on the others. ``lam`` defaults to the power-tuned weight. With no
    unlabelled item left the labels are the whole population and the classical mean is returned.
    """
    y, f = np.asarray(y, dtype=float), np.asarray(f, dtype=float)
    f_u = np.asarray(f_unlabelled, dtype=float)
    if len(y) != len(f):
        raise ValueError("labels and judge values of the labelled items differ in length")
    if len(y) < 2:
        return None
    if len(f_u) == 0:
        return classical_mean(y, bounds)
    lam = power_tuning(y, f, f_u) if lam is None else lam
    value = float(np.mean(y) + lam * (np.mean(f_u) - np.mean(f)))
    var_u = float(np.var(f_u, ddof=1)) if len(f_u) > 1 else 0.0
    variance = float(np.var(y - lam * f, ddof=1)) / len(y) + lam ** 2 * var_u / len(f_u)
    se = math.sqrt(max(variance, 0.0))
    return Estimate(value, se, _interval(value, se, bounds), lam=lam)


def labels_for_half_width(y: np.ndarray, f: np.ndarray, f_unlabelled: np.ndarray,
                          half_width: float) -> int | None:
    """How many labels in all (of the same run) the PPI interval needs to reach ``+/- half_width``.

    Plans with the variances seen so far: the residual variance ``var(y - lam f)`` per label and the
    judge's variance per unlabelled item, ``lam`` held at its current value. None when even labelling
    every item would not reach the width, or when there are too few labels to plan from.
    """
    y, f = np.asarray(y, dtype=float), np.asarray(f, dtype=float)
    f_u = np.asarray(f_unlabelled, dtype=float)
    if len(y) < 2:
        return None
    total = len(y) + len(f_u)
    lam = power_tuning(y, f, f_u) if len(f_u) else 0.0
    resid = float(np.var(y - lam * f, ddof=1))
    var_f = float(np.var(np.concatenate([f, f_u]), ddof=1))
    var_y = float(np.var(y, ddof=1))
    for n in range(len(y), total + 1):
        rest = total - n
        variance = var_y / n if rest == 0 else resid / n + lam ** 2 * var_f / rest
        if Z95 * math.sqrt(variance) <= half_width:
            return n
    return None
