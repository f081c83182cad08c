"""The scorecard: one row per headline metric of each suite, one value (with its 95% interval)
per target, shared by the terminal, summary.json, the Markdown/JSON exports and the HTML report.

A summary that carries ``summary["scorecard"]`` is used as it is; an older summary gets the same
rows derived from its suite metrics.
"""

from __future__ import annotations

import json
from typing import Any

from medsafe.intervals import wilson_interval
from medsafe.report.run_data import RunData

# (metric key, label, better, key of its 95% interval in the metrics block) per suite kind.
HEADLINES: dict[str, list[tuple[str, str, str, str | None]]] = {
    "harm": [
        ("mean_score", "mean harm score (1–5)", "lower", "ci95"),
        ("harmful_rate", "harmful rate (score ≥ 3)", "lower", "harmful_rate_ci95"),
        ("refusal_rate", "refusal rate", "higher", None),
    ],
    "overrefusal": [("false_refusal_rate", "false-refusal rate", "lower", "false_refusal_ci95")],
    "jailbreak": [
        ("best_of_all_asr", "attack success, best of all attacks", "lower", "best_of_all_ci95"),
        ("harmful_rate", "attack success, every attempt", "lower", "harmful_rate_ci95"),
    ],
    "redteam": [
        ("asr", "attack success rate", "lower", "asr_ci95"),
        ("median_queries_to_success", "median queries to success", "higher", None),
    ],
    "mcq": [("accuracy", "accuracy", "higher", "accuracy_ci95"),
            ("invalid_rate", "invalid answers", "lower", None)],
    "fairness": [("flip_rate", "decision flip rate", "lower", "flip_rate_ci95"),
                 ("invalid_rate", "invalid decisions", "lower", None)],
    "privacy": [("phi_disclosure_rate", "PHI disclosure rate", "lower", "phi_disclosure_ci95"),
                ("legit_refusal_rate", "refusal of legitimate requests", "lower",
                 "legit_refusal_ci95")],
    "hallucination": [("fabrication_rate", "fabrication rate", "lower", "fabrication_ci95"),
                      ("false_denial_rate", "false denial rate", "lower", "false_denial_ci95")],
    # The rows of each perturbation and of pushback follow the first row (_robustness_rows).
    "robustness": [("accuracy", "accuracy as written", "higher", "accuracy_ci95"),
                   ("invalid_rate", "invalid answers as written", "lower", None)],
}
FALLBACK = [("mean_score", "mean score (1–5)", "lower", "ci95")]


def is_rate(metric: str) -> bool:
    """Whether a metric is a share (printed as a percentage) rather than a score."""
    return metric.endswith(("_rate", "asr", "accuracy"))


def _interval(metric: str, ci_key: str | None, block: dict[str, Any]) -> list[float] | None:
    if ci_key and block.get(ci_key):
        return list(block[ci_key])
    if metric == "refusal_rate" and block.get("scored"):
        return wilson_interval(int(block.get("refusals") or 0), int(block["scored"]))
    return None


def derive_scorecard(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """Scorecard rows computed from the suite metrics of a summary."""
    rows = []
    for name, suite in summary.get("suites", {}).items():
        by_target = suite.get("by_target") or {suite.get("target", "?"): suite}
        suite_rows = []
        for metric, label, better, ci_key in HEADLINES.get(suite.get("kind", ""), FALLBACK):
            values = {
                target: {"value": block.get(metric), "ci95": _interval(metric, ci_key, block),
                         "n": block.get("scored", block.get("n"))}
                for target, block in by_target.items()
            }
            if all(v["value"] is None for v in values.values()):
                continue
            suite_rows.append({"suite": name, "metric": metric, "label": label, "better": better,
                               "values": values})
            calibrated = _calibrated_row(name, metric, label, better, by_target)
            if calibrated is not None:
                suite_rows.append(calibrated)
        if suite.get("kind") == "robustness":  # as written, then each perturbation, then the rest
            suite_rows[1:1] = _robustness_rows(name, by_target)
        rows += suite_rows
    return rows


def _row(suite: str, metric: str, label: str, better: str,
         cells: dict[str, dict[str, Any]]) -> dict[str, Any] | None:
    if all(cell["value"] is None for cell in cells.values()):
        return None
    return {"suite": suite, "metric": metric, "label": label, "better": better, "values": cells}


def _robustness_rows(suite: str, by_target: dict[str, Any]) -> list[dict[str, Any]]:
    """Accuracy under each perturbation of a robustness suite, then the pushback flip rate and
    its control's (the paired changes and their tests are in summary.json and the report)."""
    names: dict[str, None] = {}
    for block in by_target.values():
        for variant in block.get("by_perturbation", {}):
            names.setdefault(variant)
    rows = []
    for variant in names:
        parts = {t: (b.get("by_perturbation", {}).get(variant) or {}) for t, b in by_target.items()}
        rows.append(_row(suite, f"{variant}_accuracy", f"accuracy, {variant.replace('_', ' ')}",
                         "higher", {t: {"value": p.get("accuracy"), "ci95": p.get("accuracy_ci95"),
                                        "n": p.get("n")} for t, p in parts.items()}))
    pushback = {t: b.get("pushback") or {} for t, b in by_target.items()}
    for metric, label, arm, key in (
            ("pushback_flip_rate", "pushback: correct answers switched to the user's claim",
             "pushback", "flip_rate"),
            ("pushback_control_flip_rate",
             'pushback control: correct answers changed after "please confirm"', "control",
             "control_flip_rate")):
        rows.append(_row(suite, metric, label, "lower", {
            t: {"value": p.get(key), "ci95": p.get(f"{key}_ci95"),
                "n": (p.get(arm) or {}).get("first_correct")} for t, p in pushback.items()}))
    return [r for r in rows if r is not None]


def _calibrated_row(suite: str, metric: str, label: str, better: str,
                    by_target: dict[str, Any]) -> dict[str, Any] | None:
    """The judge-corrected twin of a headline row, for targets whose answers carry labels."""
    if not any((block or {}).get("calibrated") for block in by_target.values()):
        return None  # nothing labelled: no need for medsafe.labels (and its numpy and scipy)
    from medsafe.labels import calibrated_estimate

    estimates = {t: calibrated_estimate(block, metric) for t, block in by_target.items()}
    values = {t: {"value": e["value"], "ci95": e["ci95"], "n": e["n"]}
              for t, e in estimates.items() if e}
    if not values:
        return None
    labelled = max(v["n"] for v in values.values())
    return {"suite": suite, "metric": f"calibrated_{metric}",
            "label": f"{label}, calibrated ({labelled} labels)", "better": better,
            "values": values}


def scorecard(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """The summary's own scorecard when it has one, else the derived one."""
    given = summary.get("scorecard")
    return given if isinstance(given, list) and given else derive_scorecard(summary)


def series_label(run: RunData, target: str, several_runs: bool) -> str:
    """How a (run, target) pair is named in reports: the target, plus the run when needed."""
    return f"{target} @ {run.label or run.run_id}" if several_runs else target


def merged_scorecard(runs: list[RunData]) -> tuple[list[str], list[dict[str, Any]]]:
    """One scorecard over several runs: columns are (run, target) series."""
    several = len(runs) > 1
    columns: list[str] = []
    merged: dict[tuple[str, str], dict[str, Any]] = {}
    for run in runs:
        for target in run.targets:
            columns.append(series_label(run, target, several))
        for row in scorecard(run.summary):
            key = (row["suite"], row["metric"])
            into = merged.setdefault(key, {k: row[k] for k in ("suite", "metric", "label", "better")}
                                     | {"values": {}})
            for target, value in row["values"].items():
                into["values"][series_label(run, target, several)] = value
    return columns, list(merged.values())


def format_value(metric: str, value: float | None) -> str:
    """A metric value as printed: percentages for rates, two decimals for scores."""
    if value is None:
        return "–"
    return f"{100 * value:.1f}%" if is_rate(metric) else f"{value:.2f}"


def format_cell(metric: str, cell: dict[str, Any] | None) -> str:
    """Value and 95% interval, e.g. ``27.8% (19.6-37.8%)`` with an en dash."""
    if not cell or cell.get("value") is None:
        return "–"
    text = format_value(metric, cell["value"])
    ci = cell.get("ci95")
    if ci and ci[0] is not None and ci[1] is not None:
        lo, hi = format_value(metric, ci[0]), format_value(metric, ci[1])
        text += f" ({lo.rstrip('%')}–{hi})"
    return text


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def scorecard_markdown(runs: list[RunData]) -> str:
    """The scorecard as a Markdown table (for a pull request or a paper)."""
    columns, rows = merged_scorecard(runs)
    lines = [
        "| suite | metric | better | " + " | ".join(f"`{_md_escape(c)}`" for c in columns) + " |",
        "|---|---|---|" + "---:|" * len(columns),
    ]
    for row in rows:
        cells = [format_cell(row["metric"], row["values"].get(c)) for c in columns]
        lines.append(f"| {_md_escape(row['suite'])} | {_md_escape(row['label'])} | {row['better']} | "
                     + " | ".join(cells) + " |")
    runs_line = ", ".join(f"`{r.run_id}` (judge `{r.summary.get('judge', '?')}`)" for r in runs)
    return ("\n".join(lines) + f"\n\nRuns: {runs_line}. Values with 95% intervals; n per cell in "
            "the JSON export.\n")


def scorecard_json(runs: list[RunData]) -> str:
    """The scorecard as JSON: the runs, the series (columns) and the rows."""
    columns, rows = merged_scorecard(runs)
    return json.dumps({
        "runs": [{"run_id": r.run_id, "source": r.source, "judge": r.summary.get("judge"),
                  "medsafe_version": r.summary.get("medsafe_version")} for r in runs],
        "series": columns, "scorecard": rows,
    }, indent=2, ensure_ascii=False)
