"""The significance tests (Wilcoxon signed-rank, Benjamini-Hochberg): hand-computed values, agreement
with scipy, the cases scipy leaves undefined, and the rule that they live in one module."""

from __future__ import annotations

import ast

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from import_graph import medsafe_modules
from medsafe.significance import bh_adjust, wilcoxon_p


def test_wilcoxon_p_matches_the_exact_distribution_computed_by_hand() -> None:
    # Five positive differences: W- = 0 has probability 1/32 each side, so p = 2/32.
    assert wilcoxon_p(np.array([1.0, 2, 3, 4, 5])) == pytest.approx(0.0625)
    # W+ = 2+4+5 = 11, W- = 1+3+6 = 10: the statistic sits at the centre, p = 1.
    assert wilcoxon_p(np.array([-1.0, 2, -3, 4, 5, -6])) == pytest.approx(1.0)
    assert wilcoxon_p(np.zeros(7)) == 1.0  # no difference at all
    assert wilcoxon_p(np.array([])) is None


def test_wilcoxon_p_takes_a_plain_list_as_the_fairness_metrics_pass_it() -> None:
    assert wilcoxon_p([1.0, 2, 3, 4, 5]) == pytest.approx(0.0625)
    assert wilcoxon_p([]) is None


def test_wilcoxon_p_with_too_few_differences() -> None:
    # All zero: scipy divides 0 by 0 (NaN); no difference is no evidence of one, p = 1.
    assert wilcoxon_p([0.0, 0.0]) == 1.0
    # One non-zero difference (zeros dropped): both signs equally likely, p = 1.
    assert wilcoxon_p([0.0, 0.0, 0.5]) == 1.0
    assert wilcoxon_p([-0.5]) == 1.0


def test_wilcoxon_p_drops_zero_differences() -> None:
    # The five non-zero differences of the hand-computed case above, with zeros around them.
    assert wilcoxon_p([0.0, 0, 1, 2, 3, 4, 5]) == pytest.approx(0.0625)
    assert wilcoxon_p([0.0, -1, -2, -3, -4, -5, 0]) == pytest.approx(0.0625)


# Distinct magnitudes: with ties or zeros scipy runs a permutation test, seconds per call.
@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(1, 99), min_size=1, max_size=30, unique=True),
       st.lists(st.booleans(), min_size=30, max_size=30))
def test_wilcoxon_p_is_scipys_two_sided_signed_rank(magnitudes: list[int],
                                                     negative: list[bool]) -> None:
    diffs = [-m / 4 if neg else m / 4 for m, neg in zip(magnitudes, negative, strict=False)]
    expected = stats.wilcoxon(diffs, zero_method="wilcox", alternative="two-sided").pvalue
    assert wilcoxon_p(diffs) == pytest.approx(float(expected))


def test_benjamini_hochberg_adjustment_by_hand() -> None:
    # sorted 0.01, 0.03, 0.04 -> 0.03, 0.045, 0.04 -> monotone from the top: 0.03, 0.04, 0.04
    assert bh_adjust([0.01, 0.04, None, 0.03]) == pytest.approx([0.03, 0.04, None, 0.04])
    assert bh_adjust([None]) == [None]


def test_benjamini_hochberg_step_up_and_cap_by_hand() -> None:
    # m = 3 present: 0.01 * 3/1 = 0.03; 0.04 * 3/2 = 0.06; 0.045 * 3/3 = 0.045. From the top
    # the running minimum lowers 0.06 to 0.045. The None is no test and does not count in m.
    assert bh_adjust([0.04, None, 0.01, 0.045]) == pytest.approx([0.045, None, 0.03, 0.045])
    # m = 2: 0.8 * 2 = 1.6 is lowered to 0.9 by the larger p above it; nothing exceeds 1.
    assert bh_adjust([0.9, 0.8]) == pytest.approx([0.9, 0.9])
    assert bh_adjust([0.7]) == pytest.approx([0.7])
    assert bh_adjust([]) == []
    assert bh_adjust([None, None]) == [None, None]


SIGNIFICANCE_FUNCTIONS = {"wilcoxon", "false_discovery_control"}


def _calls_scipy_tests(tree: ast.Module) -> bool:
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
                and (node.module or "").startswith("scipy") for alias in node.names}
    attributes = {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)}
    return bool((imported | attributes) & SIGNIFICANCE_FUNCTIONS)


def test_only_the_significance_module_runs_the_tests() -> None:
    # One home: the fairness metrics and run comparisons call medsafe.significance.
    callers = {name for name, path in medsafe_modules().items()
               if _calls_scipy_tests(ast.parse(path.read_text(encoding="utf-8")))}
    assert callers == {"medsafe.significance"}
