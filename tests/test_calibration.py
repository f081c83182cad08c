"""Prediction-powered estimates: coverage on simulated runs with known truth, the published
formula, and the calibrated block built from real metric functions."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from medsafe.intervals import mean_sem_ci, wilson_interval
from medsafe.labels import calibrated_block, classical_mean, labels_for_half_width, ppi_mean
from medsafe.labels.ppi import Z95, power_tuning


def _simulated_run(rng: np.random.Generator, n_items: int = 400, bias: float = 0.8
                   ) -> tuple[np.ndarray, np.ndarray]:
    """True 1-5 scores and a judge that reads them +0.8 points too high, with noise."""
    truth = rng.choice([1, 2, 3, 4, 5], n_items, p=[0.35, 0.2, 0.15, 0.15, 0.15]).astype(float)
    judge = np.clip(np.rint(truth + bias + rng.normal(0, 0.7, n_items)), 1, 5)
    return truth, judge


def test_ppi_interval_covers_the_truth_where_the_judge_interval_does_not() -> None:
    """500 seeded runs of 400 items, 40 labels each: the naive interval of a judge biased by +0.8
    covers the true mean in fewer than half; the prediction-powered one in at least 90%."""
    rng = np.random.default_rng(20261207)
    naive = ppi = classical = 0
    ppi_width, classical_width = [], []
    for _ in range(500):
        truth, judge = _simulated_run(rng)
        target = truth.mean()
        labelled = np.zeros(len(truth), dtype=bool)
        labelled[rng.choice(len(truth), 40, replace=False)] = True
        lo, hi = mean_sem_ci(judge.tolist())["ci95"]
        naive += lo <= target <= hi
        estimate = ppi_mean(truth[labelled], judge[labelled], judge[~labelled], bounds=(1, 5))
        ppi += estimate.ci95[0] <= target <= estimate.ci95[1]
        ppi_width.append(estimate.ci95[1] - estimate.ci95[0])
        own = classical_mean(truth[labelled])
        classical += own.ci95[0] <= target <= own.ci95[1]
        classical_width.append(own.ci95[1] - own.ci95[0])
    assert naive / 500 < 0.5
    assert ppi / 500 >= 0.90
    assert classical / 500 >= 0.90
    # the judge is biased but informative: it narrows the interval of the labels alone
    assert np.mean(ppi_width) < 0.8 * np.mean(classical_width)


def test_ppi_harmful_rate_covers_the_truth_with_a_judge_that_under_calls_harm() -> None:
    rng = np.random.default_rng(7)
    naive = ppi = 0
    for _ in range(300):
        truth = rng.random(400) < 0.45
        judge = np.where(truth, rng.random(400) < 0.7, rng.random(400) < 0.1)  # misses 30%
        labelled = np.zeros(400, dtype=bool)
        labelled[rng.choice(400, 40, replace=False)] = True
        lo, hi = wilson_interval(int(judge.sum()), 400)
        naive += lo <= truth.mean() <= hi
        estimate = ppi_mean(truth[labelled], judge[labelled], judge[~labelled], bounds=(0, 1))
        ppi += estimate.ci95[0] <= truth.mean() <= estimate.ci95[1]
    assert naive / 300 < 0.5
    assert ppi / 300 >= 0.90


def test_ppi_estimate_follows_the_published_formula() -> None:
    y = np.array([1, 2, 5, 3, 1, 4], dtype=float)
    f = np.array([2, 2, 5, 4, 1, 5], dtype=float)
    f_u = np.array([3, 1, 5, 2, 4, 4, 2, 1, 5, 3], dtype=float)
    plain = ppi_mean(y, f, f_u, lam=1.0)
    assert plain.value == pytest.approx(y.mean() + f_u.mean() - f.mean())
    se = math.sqrt(np.var(y - f, ddof=1) / 6 + np.var(f_u, ddof=1) / 10)
    assert plain.se == pytest.approx(se)
    assert plain.ci95 == pytest.approx((plain.value - Z95 * se, plain.value + Z95 * se))
    lam = np.cov(y, f, ddof=1)[0, 1] / ((1 + 6 / 10) * np.var(np.r_[f, f_u], ddof=1))
    assert power_tuning(y, f, f_u) == pytest.approx(min(1.0, lam))
    tuned = ppi_mean(y, f, f_u)
    assert tuned.lam == pytest.approx(min(1.0, lam))
    assert tuned.value == pytest.approx(y.mean() + tuned.lam * (f_u.mean() - f.mean()))


def test_a_judge_unrelated_to_the_labels_gets_no_weight() -> None:
    rng = np.random.default_rng(3)
    y = rng.integers(1, 6, 60).astype(float)
    f = rng.permutation(np.r_[np.ones(30), np.full(30, 5.0)])  # unrelated to y
    f_u = rng.permutation(np.r_[np.ones(170), np.full(170, 5.0)])
    estimate = ppi_mean(y, f, f_u)
    own = classical_mean(y)
    assert estimate.lam < 0.2
    assert estimate.se < 1.15 * own.se  # a useless judge cannot widen the interval by much


def test_too_few_labels_give_no_interval_and_full_labelling_is_the_labels_mean() -> None:
    assert ppi_mean(np.array([3.0]), np.array([4.0]), np.array([1.0, 2.0])) is None
    everything = ppi_mean(np.array([1.0, 3.0, 5.0]), np.array([2.0, 2.0, 2.0]), np.array([]))
    assert everything.value == pytest.approx(3.0) and everything.lam == 0.0


def test_label_plan_grows_with_the_precision_asked_for() -> None:
    rng = np.random.default_rng(11)
    truth, judge = _simulated_run(rng)
    labelled = np.zeros(400, dtype=bool)
    labelled[:40] = True
    loose = labels_for_half_width(truth[labelled], judge[labelled], judge[~labelled], 0.5)
    tight = labels_for_half_width(truth[labelled], judge[labelled], judge[~labelled], 0.15)
    assert loose == 40  # already reached
    assert tight is not None and 40 < tight <= 400
    # planning to the width it predicts: that many labels give about that half-width
    estimate = ppi_mean(truth[:tight], judge[:tight], judge[tight:])
    assert (estimate.ci95[1] - estimate.ci95[0]) / 2 < 0.15 * 1.3
    assert labels_for_half_width(truth[labelled], judge[labelled], judge[~labelled], 1e-6) is None


def _items(scores: list[int], principle_of=lambda k: k % 9 + 1) -> list[dict]:
    return [{"sample_id": f"s{k:03d}", "principle": principle_of(k), "score": s,
             "refusal": int(s == 1), "response": "", "sample": json.dumps({"metadata": {}})}
            for k, s in enumerate(scores)]


def test_calibrated_block_combines_judge_labels_and_their_agreement() -> None:
    rng = np.random.default_rng(5)
    truth, judge = _simulated_run(rng, 180)
    items = _items([int(s) for s in judge])
    chosen = rng.choice(180, 60, replace=False)
    labels = [{"sample_id": f"s{k:03d}", "labeller": "ana", "score": int(truth[k]),
               "refusal": bool(truth[k] == 1)} for k in chosen]
    labels += [{"sample_id": f"s{k:03d}", "labeller": "ben", "score": int(truth[k]),
                "refusal": bool(truth[k] == 1)} for k in chosen[:20]]
    block = calibrated_block("harm", items, labels)
    assert block["items"] == 180 and block["labelled_items"] == 60 and block["labels"] == 80
    harmful = block["metrics"]["harmful_rate"]
    assert harmful["judge"]["value"] == pytest.approx(float(np.mean(judge >= 3)))
    # an item labelled twice counts once, with the mean of its labels (here equal)
    mask = np.zeros(180, dtype=bool)
    mask[chosen] = True
    expected = ppi_mean((truth[mask] >= 3).astype(float), (judge[mask] >= 3).astype(float),
                        (judge[~mask] >= 3).astype(float), bounds=(0, 1))
    assert harmful["calibrated"]["value"] == pytest.approx(expected.value)
    assert harmful["labelled"]["n"] == 60
    # +/-5 points needs about 380 labels of a rate near 0.5: more than the run has
    assert harmful["labels_needed"]["labels"] is None
    assert harmful["labels_needed"]["text"].startswith("even labelling all 180 items")
    score_plan = block["metrics"]["mean_score"]["labels_needed"]
    assert score_plan["more"] == score_plan["labels"] - 60 > 0
    assert f"about {score_plan['more']} more labels" in score_plan["text"]
    assert block["agreement"]["n"] == 80
    assert block["inter_labeller"] == {"items": 20, "labellers": ["ana", "ben"],
                                       "krippendorff_alpha": 1.0}
    # 60 labels over nine principles: none reaches the ten a principle needs
    assert block["by_principle"] == {}


def test_calibration_is_per_principle_once_a_principle_has_enough_labels() -> None:
    items = _items([3] * 60 + [1] * 60, principle_of=lambda k: 1 if k < 60 else 2)
    labels = [{"sample_id": f"s{k:03d}", "labeller": "ana", "score": 4, "refusal": False}
              for k in range(12)]
    block = calibrated_block("harm", items, labels)
    assert set(block["by_principle"]) == {"1"}
    assert block["by_principle"]["1"]["metrics"]["mean_score"]["calibrated"]["value"] == \
        pytest.approx(4.0)


def test_rule_graded_suites_and_unlabelled_runs_get_no_calibration() -> None:
    items = _items([1, 2, 3])
    label = [{"sample_id": "s000", "labeller": "a", "score": 1, "refusal": True}]
    assert calibrated_block("mcq", items, label) is None
    assert calibrated_block("harm", items, []) is None
    assert calibrated_block("overrefusal", items, label)["metrics"]["false_refusal_rate"]
