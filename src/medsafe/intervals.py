"""Confidence intervals used across medsafe: t intervals for means, Wilson for proportions,
Newcombe for the difference of two paired proportions."""

from __future__ import annotations

import math
import statistics
from functools import cache

TINY = 1e-300  # keeps the continued fraction's terms off zero (modified Lentz)


def _beta_fraction(a: float, b: float, x: float) -> float:
    """The continued fraction of the regularized incomplete beta function (modified Lentz)."""
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / (d if abs(d) > TINY else TINY)
    fraction = d
    for m in range(1, 1000):
        for term in (m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
                     -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))):
            d = 1.0 + term * d
            d = 1.0 / (d if abs(d) > TINY else TINY)
            c = 1.0 + term / c
            c = c if abs(c) > TINY else TINY
            fraction *= d * c
        if abs(d * c - 1.0) < 1e-16:
            break
    return fraction


def _log_gamma_ratio(a: float, b: float) -> float:
    """log(Gamma(a + b) / Gamma(a)), without the cancellation of two large lgamma values."""
    if a < 10.0:
        return math.lgamma(a + b) - math.lgamma(a)

    def stirling(z: float) -> float:  # the terms of Stirling's series after the first ones
        return 1 / (12 * z) - 1 / (360 * z**3) + 1 / (1260 * z**5) - 1 / (1680 * z**7)

    return ((a - 0.5) * math.log1p(b / a) + b * math.log(a + b) - b
            + stirling(a + b) - stirling(a))


def _beta_regularized(a: float, b: float, x: float, y: float) -> float:
    """I_x(a, b), the regularized incomplete beta function, with ``y`` = 1 - x given exactly
    (x near 1 would lose it to rounding)."""
    if x <= 0.0:
        return 0.0
    if y <= 0.0:
        return 1.0
    front = math.exp(_log_gamma_ratio(a, b) - math.lgamma(b) + a * math.log(x) + b * math.log(y))
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _beta_fraction(a, b, x) / a
    return 1.0 - front * _beta_fraction(b, a, y) / b


@cache
def t_quantile(p: float, df: int) -> float:
    """The ``p`` quantile of Student's t distribution with ``df`` degrees of freedom (what
    ``scipy.stats.t.ppf`` gives, to 1e-9 relative or 1e-10 absolute for p in [0.001, 0.999]
    and df up to 100,000), in pure Python: importing scipy cost a resumed run a fifth of its
    time, for this one number.

    Newton's method on the upper tail, 0.5 * I_{df/(df+t^2)}(df/2, 1/2), from the normal
    quantile: the tail is convex for t > 0 and the normal quantile lies below the root, so the
    steps approach it from below and never overshoot."""
    if not 0.0 < p < 1.0 or df < 1:
        raise ValueError(f"no t quantile for p={p}, df={df}")
    if p < 0.5:
        return -t_quantile(1.0 - p, df)
    target = 1.0 - p
    half = df / 2.0
    log_norm = _log_gamma_ratio(half, 0.5) - 0.5 * math.log(df * math.pi)
    t = statistics.NormalDist().inv_cdf(p)
    last = math.inf
    for _ in range(200):
        tail = 0.5 * _beta_regularized(half, 0.5, df / (df + t * t), t * t / (df + t * t))
        density = math.exp(log_norm - (half + 0.5) * math.log1p(t * t / df))
        step = (tail - target) / density
        if abs(step) >= last and abs(step) < 1e-9 * max(t, 1.0):
            break  # rounding noise: the root is as close as floats get
        t += step
        last = abs(step)
        if last <= 1e-14 * max(t, 1.0):
            break
    return t


def mean_sem_ci(values: list[float]) -> dict[str, float | None]:
    """Mean, standard error and a t-based 95% interval (None where undefined)."""
    if not values:
        return {"mean": None, "sem": None, "ci95": None}
    mean = statistics.fmean(values)
    if len(values) < 2:
        return {"mean": mean, "sem": None, "ci95": None}
    sem = statistics.stdev(values) / math.sqrt(len(values))
    half = t_quantile(0.975, len(values) - 1) * sem
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
