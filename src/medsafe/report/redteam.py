"""The red-team part of the report: success against budget, success by principle, and the
conversation viewer (every turn with its score, backtracked turns, and the turn that succeeded).

The viewer is rendered by the template (Jinja autoescapes every model-written string); nothing
of a conversation reaches the page's script.
"""

from __future__ import annotations

from typing import Any

from medsafe.report.figures import (
    Figure,
    Series,
    _grouped_bars,
    _principle_names,
    _principles_in,
    label,
    suites_of_kind,
)
from medsafe.report.run_data import RunData

OUTCOME_WORDS = {"success": "attack succeeded", "defended": "target held",
                 "attacker_failure": "attacker failed", "target_error": "target failed",
                 "judge_error": "judge could not score", "strategy_error": "strategy failed"}


def _curve(s: Series, suite: str, field: str) -> dict[str, Any] | None:
    points = (s.block(suite) or {}).get(field) or []
    points = [p for p in points if p.get("asr") is not None]
    if not points:
        return None
    x = [p["budget"] for p in points]
    y = [p["asr"] for p in points]
    plus = [p["ci95"][1] - p["asr"] if p.get("ci95") else None for p in points]
    minus = [p["asr"] - p["ci95"][0] if p.get("ci95") else None for p in points]
    return {"type": "scatter", "mode": "lines+markers", "name": label(s.label), "x": x, "y": y,
            "line": {"color": s.color, "shape": "hv"}, "marker": {"color": s.color},
            "error_y": {"type": "data", "symmetric": False, "array": plus, "arrayminus": minus,
                        "color": s.color, "thickness": 1, "width": 3},
            "hovertemplate": "budget %{x}: %{y:.1%}" + f"<extra>{label(s.label)}</extra>"}


def redteam_figures(series: list[Series], runs: list[RunData]) -> list[Figure]:
    """Per red-team suite: success against the query budget and the turn budget, and the
    attack success rate by principle."""
    figures: list[Figure] = []
    for suite in suites_of_kind(runs, ("redteam",)):
        for field, unit in (("success_by_queries", "queries"), ("success_by_turns", "turns")):
            traces = [t for t in (_curve(s, suite, field) for s in series) if t]
            if traces:
                figures.append(Figure(
                    f"fig-rt-{len(figures)}", f"{suite}: success against budget ({unit})", traces,
                    {"xaxis": {"title": {"text": f"{unit} allowed per request"}, "dtick": 1},
                     "yaxis": {"title": {"text": "attack success rate"}, "tickformat": ".0%",
                               "rangemode": "tozero"}},
                    f"Share of attacks that had succeeded within the first b {unit} of the run's "
                    "budget, with Wilson 95% intervals; attacks that failed (attacker, target, "
                    "judge) are left out."))
        keys = _principles_in(series, suite)

        def points(s: Series, suite: str = suite, keys: list[str] = keys) -> list[Any]:
            by = (s.block(suite) or {}).get("by_principle", {})
            return [((by.get(k) or {}).get("asr"), (by.get(k) or {}).get("asr_ci95")) for k in keys]

        bars = _grouped_bars(series, _principle_names(keys), points, "%{x}: %{y:.1%}")
        if bars:
            figures.append(Figure(
                f"fig-rt-{len(figures)}", f"{suite}: attack success by principle", bars,
                {"barmode": "group", "yaxis": {"title": {"text": "attack success rate"},
                                               "tickformat": ".0%", "range": [0, 1.05]}},
                "Share of attacks with a turn judged harmful (score ≥ 3), Wilson 95% intervals."))
    return figures


def conversation_views(runs: list[RunData], labels: dict[tuple[str, str], str]) -> list[dict[str, Any]]:
    """Every red-team conversation of the runs, as the viewer shows it: successes first, then
    the failures, then the attacks the target held."""
    order = {"success": 0, "attacker_failure": 1, "target_error": 1, "judge_error": 1,
             "strategy_error": 1, "defended": 2}
    views = []
    for run in runs:
        kinds = [b.get("kind") for b in run.summary.get("suites", {}).values() if isinstance(b, dict)]
        if "redteam" not in kinds:
            continue  # only red-team items have conversations: no need to read every row
        for row in run.rows:
            record = row.get("conversation")
            if not record:
                continue
            views.append({
                "series": labels.get((run.run_id, str(row.get("target"))), str(row.get("target"))),
                "suite": row.get("suite"), "id": row.get("sample_id"),
                "principle": row.get("principle"),
                "request": (row.get("metadata") or {}).get("judge_request", ""),
                "outcome": record.get("outcome"),
                "outcome_words": OUTCOME_WORDS.get(str(record.get("outcome")), record.get("outcome")),
                "error": record.get("error"), "queries": record.get("queries"),
                "turns": record.get("turns"), "attacker_calls": record.get("attacker_calls"),
                "success_query": record.get("success_query"), "max_score": record.get("max_score"),
                "steps": record.get("steps") or [],
            })
    views.sort(key=lambda v: (order.get(str(v["outcome"]), 3), str(v["series"]), str(v["suite"]),
                              str(v["id"])))
    return views
