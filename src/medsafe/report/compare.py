"""Paired comparison of runs or targets on the samples they share.

Each sample answered (and scored) by both sides gives one paired difference, other - baseline.
Per suite and per principle we report the means on the shared samples, the mean difference with
a percentile bootstrap 95% interval (resampling samples, so the pairing is kept), and the
two-sided Wilcoxon signed-rank p-value (zero differences dropped, Wilcoxon's convention).
Principle rows are many tests at once, so their p-values also come Benjamini-Hochberg adjusted.
Samples with an error on either side are left out and counted.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from medsafe.engine.metrics import item_refused
from medsafe.judges import HARMFUL_THRESHOLD
from medsafe.report.run_data import RunData
from medsafe.report.scorecard import series_label
from medsafe.significance import bh_adjust, wilcoxon_p

if TYPE_CHECKING:
    import numpy as np

Value = Callable[[dict[str, Any]], float | None]


def _score(row: dict[str, Any]) -> float | None:
    return None if row.get("score") is None else float(row["score"])


def _harmful(row: dict[str, Any]) -> float | None:
    return None if row.get("score") is None else float(row["score"] >= HARMFUL_THRESHOLD)


def _refused(row: dict[str, Any]) -> float | None:
    return None if row.get("score") is None else float(item_refused(row))


def _correct(row: dict[str, Any]) -> float | None:
    return None if row.get("correct") is None else float(row["correct"])


@dataclass(frozen=True)
class PairedMetric:
    """A per-sample quantity whose mean is a suite metric."""

    metric: str
    label: str
    better: str
    value: Value


_SCORE = PairedMetric("mean_score", "mean score", "lower", _score)
_HARMFUL = PairedMetric("harmful_rate", "harmful rate", "lower", _harmful)
# The first metric of each kind is also compared per principle.
PAIRED_METRICS: dict[str, list[PairedMetric]] = {
    "harm": [_SCORE, _HARMFUL],
    "jailbreak": [PairedMetric("asr", "attack success", "lower", _harmful), _SCORE],
    # An attack's item is its deciding turn: harmful exactly when the attack succeeded.
    "redteam": [PairedMetric("asr", "attack success", "lower", _harmful), _SCORE],
    "overrefusal": [PairedMetric("false_refusal_rate", "false-refusal rate", "lower", _refused)],
    "mcq": [PairedMetric("accuracy", "accuracy", "higher", _correct)],
}
# Their headline metrics are not means of one number per sample (flip rates are per vignette
# group or per question, disclosure needs the suite's own grading), so they are compared in the
# scorecard only.
NOT_PAIRED = {"fairness", "privacy", "hallucination", "robustness"}


def bootstrap_mean_ci(diffs: np.ndarray, n_boot: int = 2000, seed: int = 0) -> list[float] | None:
    """Percentile 95% interval of the mean of paired differences (resampling pairs)."""
    import numpy as np  # here: a run with nothing to compare never needs it

    if len(diffs) == 0:
        return None
    rng = np.random.default_rng(seed)
    # In blocks, so that 2,000 resamples of 10,000 pairs never hold 20 M indices at once.
    block = max(1, 2_000_000 // len(diffs))
    means = np.concatenate([
        diffs[rng.integers(0, len(diffs), (min(block, n_boot - done), len(diffs)))].mean(axis=1)
        for done in range(0, n_boot, block)])
    return [float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))]


def paired_stats(baseline: list[float], other: list[float], n_boot: int = 2000,
                 seed: int = 0) -> dict[str, Any]:
    """Means on the pairs, mean difference (other - baseline), its interval and p-value."""
    import numpy as np  # here: a run with nothing to compare never needs it

    a, b = np.asarray(baseline, dtype=float), np.asarray(other, dtype=float)
    diffs = b - a
    n = len(diffs)
    return {
        "n": n,
        "baseline": float(a.mean()) if n else None,
        "other": float(b.mean()) if n else None,
        "diff": float(diffs.mean()) if n else None,
        "ci95": bootstrap_mean_ci(diffs, n_boot, seed),
        "p_value": wilcoxon_p(diffs),
    }


@dataclass(frozen=True)
class Side:
    """One side of a comparison: a target in a run."""

    run: RunData
    target: str
    label: str

    def rows_by_suite(self) -> dict[str, dict[str, dict[str, Any]]]:
        """suite -> sample_id -> row, for this target."""
        out: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
        for row in self.run.rows:
            if row.get("target") == self.target:
                out[row["suite"]][str(row["sample_id"])] = row
        return out


def comparison_pairs(runs: list[RunData]) -> list[tuple[Side, Side]]:
    """Which sides are compared: with one run, every target against the first; with several,
    each later run's targets against the same target of the first run (or its first target
    when the first run lacks it, e.g. a fine-tuned model against its base model)."""
    several = len(runs) > 1
    sides = [[Side(r, t, series_label(r, t, several)) for t in r.targets] for r in runs]
    if not any(sides):
        return []
    if not several:
        return [(sides[0][0], s) for s in sides[0][1:]]
    base = {s.target: s for s in sides[0]}
    return [(base.get(s.target, sides[0][0]), s) for later in sides[1:] for s in later]


def _kind_of(run: RunData, suite: str) -> str:
    return str(run.summary.get("suites", {}).get(suite, {}).get("kind", ""))


def _paired_values(metric: PairedMetric, pairs: list[tuple[dict[str, Any], dict[str, Any]]]
                   ) -> tuple[list[float], list[float], int]:
    a, b, dropped = [], [], 0
    for x, y in pairs:
        vx, vy = metric.value(x), metric.value(y)
        if vx is None or vy is None:
            dropped += 1
            continue
        a.append(vx)
        b.append(vy)
    return a, b, dropped


def _row(suite: str, kind: str, metric: PairedMetric, principle: str | None,
         pairs: list[tuple[dict[str, Any], dict[str, Any]]], n_boot: int) -> dict[str, Any]:
    a, b, dropped = _paired_values(metric, pairs)
    stats = paired_stats(a, b, n_boot=n_boot)
    return {"suite": suite, "kind": kind, "metric": metric.metric, "label": metric.label,
            "better": metric.better, "principle": principle, "excluded": dropped, **stats}


def _calibrated(side: Side, suite: str, metric: str) -> dict[str, Any] | None:
    suites = side.run.summary.get("suites", {})
    block = suites.get(suite, {}).get("by_target", {}).get(side.target)
    if not (block or {}).get("calibrated"):
        return None  # nothing labelled: no need for medsafe.labels (and its numpy and scipy)
    from medsafe.labels import calibrated_estimate

    return calibrated_estimate(block, metric)


def calibrated_row(suite: str, kind: str, metric: PairedMetric, baseline: Side, other: Side
                   ) -> dict[str, Any] | None:
    """The difference of the two sides' prediction-powered estimates, when both have labels.

    The two estimates come from separate label samples; their variances are added, which ignores
    the positive covariance that shared prompts give and so errs towards a wider interval."""
    key = "harmful_rate" if metric.metric == "asr" else metric.metric
    a, b = _calibrated(baseline, suite, key), _calibrated(other, suite, key)
    if a is None or b is None:
        return None
    from scipy.special import ndtr

    from medsafe.labels.ppi import Z95

    diff = b["value"] - a["value"]
    se = math.hypot(a["se"], b["se"])
    p = float(2 * ndtr(-abs(diff) / se)) if se > 0 else (1.0 if diff == 0 else 0.0)
    return {"suite": suite, "kind": kind, "metric": metric.metric,
            "label": f"{metric.label}, calibrated", "better": metric.better, "principle": None,
            "excluded": 0, "n": a["n"] + b["n"], "baseline": a["value"], "other": b["value"],
            "diff": diff, "ci95": [diff - Z95 * se, diff + Z95 * se], "p_value": p,
            "calibrated": True}


def verdict(row: dict[str, Any], alpha: float = 0.05) -> str:
    """"better" or "worse" when the test rejects no-difference at ``alpha`` (the adjusted p for
    principle rows) and the interval of the difference excludes zero; else "no clear change"."""
    p = row.get("p_adjusted", row.get("p_value"))
    ci = row.get("ci95")
    if p is None or p >= alpha or not ci or ci[0] <= 0 <= ci[1]:
        return "no clear change"
    return "better" if (ci[0] > 0) == (row["better"] == "higher") else "worse"


def compare_sides(baseline: Side, other: Side, n_boot: int = 2000) -> dict[str, Any]:
    """Every suite both sides ran: overall rows per metric, then per-principle rows."""
    mine, theirs = baseline.rows_by_suite(), other.rows_by_suite()
    rows: list[dict[str, Any]] = []
    skipped: list[str] = []
    for suite in [s for s in mine if s in theirs]:
        kind = _kind_of(baseline.run, suite) or _kind_of(other.run, suite)
        shared = [k for k in mine[suite] if k in theirs[suite]]
        pairs = [(mine[suite][k], theirs[suite][k]) for k in shared]
        if kind in NOT_PAIRED or not pairs:
            skipped.append(suite)
            continue
        metrics = PAIRED_METRICS.get(kind, [_SCORE, _HARMFUL])
        rows += [_row(suite, kind, m, None, pairs, n_boot) for m in metrics]
        rows += [r for m in metrics if (r := calibrated_row(suite, kind, m, baseline, other))]
        by_principle: dict[str, list[tuple[dict[str, Any], dict[str, Any]]]] = defaultdict(list)
        for x, y in pairs:
            if x.get("principle"):
                by_principle[str(x["principle"])].append((x, y))
        principle_rows = [_row(suite, kind, metrics[0], p, by_principle[p], n_boot)
                          for p in sorted(by_principle, key=lambda p: (len(p), p))]
        for row, adj in zip(principle_rows, bh_adjust([r["p_value"] for r in principle_rows]),
                            strict=True):
            row["p_adjusted"] = adj
        rows += principle_rows
    for row in rows:
        row["verdict"] = verdict(row)
    return {"baseline": baseline.label, "other": other.label,
            "baseline_run": baseline.run.run_id, "other_run": other.run.run_id,
            "rows": rows, "not_compared": skipped,
            "method": "Mean of paired differences (other − baseline) on shared samples; "
                      "percentile bootstrap 95% CI; two-sided Wilcoxon signed-rank p; "
                      "principle rows also Benjamini–Hochberg adjusted; \"calibrated\" rows (when "
                      "both sides have human labels) compare the prediction-powered estimates, "
                      "n = labelled answers of both sides, normal interval and p with the two "
                      "variances added"}


def compare_runs(runs: list[RunData], n_boot: int = 2000) -> list[dict[str, Any]]:
    """All comparisons implied by the runs given (see :func:`comparison_pairs`)."""
    return [compare_sides(a, b, n_boot) for a, b in comparison_pairs(runs)]


def _fmt_p(p: float | None) -> str:
    if p is None or (isinstance(p, float) and math.isnan(p)):
        return "–"
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def _is_score(row: dict[str, Any]) -> bool:
    return row["metric"] == "mean_score"


def _fmt_value(row: dict[str, Any], value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:.2f}" if _is_score(row) else f"{100 * value:.1f}%"


def _fmt_diff(row: dict[str, Any]) -> str:
    if row["diff"] is None:
        return "–"
    scale, pattern, unit = (1, "{:+.2f}", "") if _is_score(row) else (100, "{:+.1f}", " pp")
    text = pattern.format(scale * row["diff"]) + unit
    if row["ci95"]:
        text += " (" + ", ".join(pattern.format(scale * v) for v in row["ci95"]) + ")"
    return text


def table_cells(row: dict[str, Any]) -> list[str]:
    """The printed cells of one comparison row (shared by the terminal, Markdown and HTML)."""
    return [
        row["suite"], row["label"], "all" if row["principle"] is None else row["principle"],
        str(row["n"]), _fmt_value(row, row["baseline"]), _fmt_value(row, row["other"]),
        _fmt_diff(row), _fmt_p(row["p_value"]), _fmt_p(row.get("p_adjusted")), row["verdict"],
    ]


TABLE_HEADER = ["suite", "metric", "principle", "n", "baseline", "other", "Δ (95% CI)", "p", "p (BH)",
                "verdict"]


def comparison_markdown(comparisons: list[dict[str, Any]]) -> str:
    """The comparisons as Markdown tables, one per (baseline, other) pair."""
    out = []
    for comp in comparisons:
        out.append(f"### `{comp['other']}` vs `{comp['baseline']}`\n")
        out.append("| " + " | ".join(TABLE_HEADER) + " |")
        out.append("|---|---|---|" + "---:|" * (len(TABLE_HEADER) - 4) + "---|")
        for row in comp["rows"]:
            cells = [c.replace("|", "\\|") for c in table_cells(row)]
            out.append("| " + " | ".join(cells) + " |")
        if comp["not_compared"]:
            out.append(f"\nNot compared sample by sample: {', '.join(comp['not_compared'])} "
                       "(see the scorecard).")
        out.append(f"\nΔ = other − baseline; rates in percentage points (pp). {comp['method']}.\n")
    return "\n".join(out) if out else "No comparison: give two runs, or a run with two targets.\n"
