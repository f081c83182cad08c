"""The t quantile of the mean intervals, computed without scipy, gives scipy's values."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import stdtrit

from medsafe.intervals import mean_sem_ci, t_quantile


@settings(deadline=None, max_examples=300)
@given(df=st.integers(1, 100_000), p=st.floats(0.5, 0.999))
def test_t_quantile_matches_scipy(df: int, p: float) -> None:
    expected = float(stdtrit(df, p))
    assert t_quantile(p, df) == pytest.approx(expected, rel=1e-9, abs=1e-10)
    assert t_quantile(1.0 - p, df) == pytest.approx(-expected, rel=1e-9, abs=1e-10)


def test_the_mean_interval_uses_the_t_quantile_of_its_sample_size() -> None:
    values = [1.0, 2.0, 2.0, 3.0, 5.0]
    mean = sum(values) / len(values)
    sem = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1) / len(values))
    low, high = mean_sem_ci(values)["ci95"]
    assert high - mean == pytest.approx(float(stdtrit(4, 0.975)) * sem, rel=1e-12)
    assert mean - low == pytest.approx(2.7764451051977987 * sem, rel=1e-12)
    with pytest.raises(ValueError):
        t_quantile(1.0, 3)
