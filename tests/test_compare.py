"""Paired comparison of runs: the statistics against hand-computed values, the pairing of
samples, and `medsafe compare` on real runs."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from conftest import run_cli
from medsafe.report.compare import (
    bootstrap_mean_ci,
    compare_runs,
    comparison_pairs,
    paired_stats,
)
from medsafe.report.runs import RunData


def test_bootstrap_interval_of_the_mean_difference() -> None:
    assert bootstrap_mean_ci(np.full(12, -2.0)) == [-2.0, -2.0]
    # Two pairs: resampled means are 0, 0.5, 1 with chances 1/4, 1/2, 1/4, so the 2.5th and
    # 97.5th percentiles of 2,000 draws are the extremes.
    assert bootstrap_mean_ci(np.array([0.0, 1.0])) == [0.0, 1.0]
    lo, hi = bootstrap_mean_ci(np.array([0.0, 1.0] * 200))
    assert lo < 0.5 < hi and hi - lo < 0.12  # 1.96 * 0.5 / sqrt(400) = 0.049 each side
    assert bootstrap_mean_ci(np.array([])) is None


def test_paired_stats_means_are_over_the_pairs() -> None:
    stats = paired_stats([1, 2, 3], [2, 2, 5])
    assert (stats["n"], stats["baseline"], stats["other"], stats["diff"]) == (3, 2.0, 3.0, 1.0)


def _row(target: str, sample: str, score: int | None, principle: int = 1,
         suite: str = "harm") -> dict:
    return {"target": target, "suite": suite, "sample_id": sample, "principle": principle,
            "score": score, "refusal": None if score is None else score == 1,
            "response": "I can't help with that." if score == 1 else "Sure.", "correct": None}


def _run(run_id: str, target: str, rows: list[dict]) -> RunData:
    summary = {"run_id": run_id, "targets": [target],
               "suites": {"harm": {"kind": "harm", "by_target": {target: {}}}}}
    return RunData(summary, rows, source=run_id, label=run_id)


def test_only_samples_scored_in_both_runs_are_paired() -> None:
    before = _run("a", "m", [_row("m", "s1", 4), _row("m", "s2", 4, 2), _row("m", "s3", 3, 2),
                             _row("m", "s4", 5)])
    after = _run("b", "m", [_row("m", "s1", 1), _row("m", "s2", 2, 2), _row("m", "s3", None, 2),
                            _row("m", "s5", 1)])
    [comp] = compare_runs([before, after], n_boot=500)
    assert (comp["baseline"], comp["other"]) == ("m @ a", "m @ b")
    score, harmful, *principles = comp["rows"]
    assert score["metric"] == "mean_score" and score["principle"] is None
    assert (score["n"], score["excluded"]) == (2, 1)  # s3 failed in b; s4, s5 are not shared
    assert (score["baseline"], score["other"], score["diff"]) == (4.0, 1.5, -2.5)
    assert score["ci95"] == [-3.0, -2.0]
    assert harmful["diff"] == -1.0  # both were harmful (>= 3), neither is now
    assert [(p["principle"], p["n"], p["diff"]) for p in principles] == [("1", 1, -3.0),
                                                                        ("2", 1, -2.0)]
    assert all(p["p_adjusted"] is not None for p in principles)
    assert score["verdict"] == "no clear change"  # two pairs cannot make p < 0.05


def test_which_sides_are_compared() -> None:
    one = RunData({"run_id": "r", "targets": ["a", "b", "c"], "suites": {}}, [], label="r")
    assert [(x.target, y.target) for x, y in comparison_pairs([one])] == [("a", "b"), ("a", "c")]
    base = RunData({"run_id": "r1", "targets": ["a", "b"], "suites": {}}, [], label="r1")
    later = RunData({"run_id": "r2", "targets": ["b", "z"], "suites": {}}, [], label="r2")
    pairs = [(x.label, y.label) for x, y in comparison_pairs([base, later])]
    assert pairs == [("b @ r1", "b @ r2"), ("a @ r1", "z @ r2")]


def test_compare_command_on_two_real_runs(tmp_path: Path, prompts: Path) -> None:
    from medsafe.api import evaluate
    from medsafe.engine import RunConfig
    from medsafe.report import load_runs

    for name, target in (("before", "mock:comply"), ("after", "mock:refuse")):
        evaluate(RunConfig(targets=[target], suites=[f"jsonl:{prompts}"], judge="mock:refusal"),
                 store=tmp_path / "store", out_dir=tmp_path / name)
    dirs = [str(tmp_path / "before"), str(tmp_path / "after")]
    md = run_cli("compare", *dirs, "--format", "md")
    assert md.returncode == 0, md.stderr
    lines = md.stdout.splitlines()
    assert lines[0].startswith("### `mock:refuse @ ")
    overall = next(line for line in lines if "| mean score | all |" in line)
    # comply is scored 5 and refuse 1 on all 18 shared prompts: -4 on every pair
    assert "| 18 | 5.00 | 1.00 | -4.00 (-4.00, -4.00) | <0.001 | – | better |" in overall
    assert sum("| mean score |" in line for line in lines) == 1 + 9  # overall and per principle
    [comp] = compare_runs(load_runs(dirs))
    assert comp["rows"][0]["p_value"] < 0.001 and comp["rows"][1]["diff"] == -1.0
    table = run_cli("compare", *dirs, "--no-principles")
    assert table.returncode == 0, table.stderr
    assert "better" in table.stdout and "-4.00 (-4.00, -4.00)" in table.stdout
