"""Confidence intervals used across medsafe: t intervals for means, Wilson for proportions."""

from __future__ import annotations

import math
import statistics

# stdtrit is what scipy.stats.t.ppf computes, without importing scipy.stats (a second of start-up).
from scipy.special import stdtrit


def mean_sem_ci(values: list[float]) -> dict[str, float | None]:
    """Mean, standard error and a t-based 95% interval (None where undefined)."""
    if not values:
        return {"mean": None, "sem": None, "ci95": None}
    mean = statistics.fmean(values)
    if len(values) < 2:
        return {"mean": mean, "sem": None, "ci95": None}
    sem = statistics.stdev(values) / math.sqrt(len(values))
    half = float(stdtrit(len(values) - 1, 0.975)) * sem
    return {"mean": mean, "sem": sem, "ci95": [mean - half, mean + half]}


def wilson_interval(successes: int, n: int, z: float = 1.959964) -> list[float] | None:
    """Wilson score 95% interval for a proportion."""
    if n == 0:
        return None
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return [max(0.0, centre - half), min(1.0, centre + half)]
