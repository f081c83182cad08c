"""Confidence intervals used across medsafe: t intervals for means, Wilson for proportions,
Newcombe for the difference of two paired proportions."""

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


def paired_difference_interval(both: int, first_only: int, second_only: int,
                               neither: int) -> list[float] | None:
    """95% interval of the difference of two paired proportions, second minus first, from the
    four cells of the paired table (Newcombe 1998, method 10: the Wilson intervals of the two
    proportions combined with the continuity-corrected phi correlation of the pairs)."""
    n = both + first_only + second_only + neither
    if n == 0:
        return None
    ones, twos = both + first_only, both + second_only
    p1, p2 = ones / n, twos / n
    l1, u1 = wilson_interval(ones, n)  # type: ignore[misc]
    l2, u2 = wilson_interval(twos, n)  # type: ignore[misc]
    margins = ones * (n - ones) * twos * (n - twos)
    cross = both * neither - first_only * second_only
    corrected = cross - n / 2 if cross > n / 2 else (cross if cross < 0 else 0.0)
    phi = corrected / math.sqrt(margins) if margins else 0.0
    diff = p2 - p1
    low = diff - math.sqrt(max(0.0, (p2 - l2) ** 2 - 2 * phi * (p2 - l2) * (u1 - p1) + (u1 - p1) ** 2))
    high = diff + math.sqrt(max(0.0, (u2 - p2) ** 2 - 2 * phi * (u2 - p2) * (p1 - l1) + (p1 - l1) ** 2))
    return [max(-1.0, low), min(1.0, high)]
