"""Significance tests used across medsafe: Wilcoxon signed-rank for paired differences, the
exact McNemar test for paired right/wrong outcomes, and Benjamini-Hochberg adjustment when many
such tests are read together.

The fairness metrics (each counterfactual value against the baseline patient), run comparisons
(each side against the other, per suite and principle) and the robustness metrics (each
perturbed question against the same question as written) use them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np


def wilcoxon_p(diffs: Sequence[float] | np.ndarray) -> float | None:
    """Two-sided Wilcoxon signed-rank p-value of paired differences, zero differences dropped
    (Wilcoxon's convention); None when there are none, 1.0 when every one is zero (no evidence
    of a difference, where scipy would return NaN)."""
    # numpy and scipy.stats are imported here: they cost a resumed run a third of its time,
    # and most commands never test.
    import numpy as np
    from scipy.stats import wilcoxon

    values = np.asarray(diffs, dtype=float)
    if values.size == 0:
        return None
    if not np.any(values):
        return 1.0
    return float(wilcoxon(values, zero_method="wilcox", alternative="two-sided").pvalue)


def bh_adjust(p_values: Sequence[float | None]) -> list[float | None]:
    """Benjamini-Hochberg adjusted p-values, in the order given; None entries (comparisons
    with no test) stay None and do not count among the tests."""
    from scipy.stats import false_discovery_control

    present = [i for i, p in enumerate(p_values) if p is not None]
    out: list[float | None] = [None] * len(p_values)
    if present:
        adjusted = false_discovery_control([p_values[i] for i in present], method="bh")
        for i, p in zip(present, adjusted, strict=True):
            out[i] = float(p)
    return out


def mcnemar_exact_p(only_first: int, only_second: int) -> float:
    """Two-sided exact McNemar p-value: a binomial test of the discordant pairs (right one way
    and wrong the other) against an even split; 1.0 when there are none."""
    from scipy.stats import binomtest

    discordant = only_first + only_second
    if discordant == 0:
        return 1.0
    return float(binomtest(min(only_first, only_second), discordant, 0.5).pvalue)
