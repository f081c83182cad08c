"""The single-file HTML report: scorecard, figures, comparison, judge reliability, a sample
browser and the run metadata, in one file that needs no network.

Security model (model output is untrusted):
- the page's Content-Security-Policy allows no network at all and only the two inline scripts
  it ships (plotly.js and the report's own script), pinned by their SHA-256 hashes;
- every value the template writes is HTML-escaped by Jinja's autoescape;
- samples travel as JSON in a ``<script type="application/json">`` block with every ``<``, ``>``
  and ``&`` written as a ``\\u`` escape, so no closing tag or comment can end the block early;
- the sample browser builds its elements with ``textContent`` only, never ``innerHTML``.
"""

from __future__ import annotations

import base64
import bisect
import hashlib
import itertools
import json
import time
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from medsafe.judges.policy import PRINCIPLES
from medsafe.report.compare import TABLE_HEADER, compare_runs, table_cells
from medsafe.report.embedded import REPORT_SAMPLES, choose_samples
from medsafe.report.figures import (
    Figure,
    Series,
    build_series,
    comparison_forest,
    confusion,
    fairness,
    harm_by_principle,
    jailbreak,
    privacy_and_hallucination,
    safety_helpfulness,
    score_distribution,
)
from medsafe.report.redteam import conversation_views, redteam_figures
from medsafe.report.reliability import reliability_reports
from medsafe.report.robustness_view import TABLE_HEADER as ROBUSTNESS_HEADER
from medsafe.report.robustness_view import robustness_figures, robustness_table
from medsafe.report.run_data import RunData
from medsafe.report.scorecard import format_cell, merged_scorecard

MAX_CONVERSATIONS = 500  # red-team conversations drawn in full; beyond, the page only gets longer
RELIABILITY_KEYS = ("qwk", "krippendorff_alpha", "exact", "within_one", "harmful_precision",
                    "harmful_recall", "harmful_f1", "refusal_accuracy")


def _env() -> Environment:
    env = Environment(
        loader=PackageLoader("medsafe.report", "templates"),
        autoescape=select_autoescape(["html", "j2"], default=True),
    )
    env.filters["fmt"] = lambda v, d=2: "–" if v is None else f"{v:.{d}f}"
    env.filters["pct"] = lambda v: "–" if v is None else f"{100 * v:.1f}%"
    return env


def script_json(value: Any) -> str:
    """JSON safe inside a ``<script>`` element: no ``<``, ``>`` or ``&`` appears literally, so
    neither ``</script>`` nor ``<!--`` can occur, whatever the strings hold."""
    try:
        text = json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    except ValueError:  # a NaN somewhere: JSON.parse would reject it
        from medsafe.report.figures import clean

        text = json.dumps(clean(value), ensure_ascii=False, separators=(",", ":"))
    return (text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def csp_hash(script: str) -> str:
    """The CSP source expression that allows exactly this inline script."""
    digest = hashlib.sha256(script.encode("utf-8")).digest()
    return f"'sha256-{base64.b64encode(digest).decode()}'"


def plotly_js() -> str:
    """plotly.js as shipped by the plotly package, to be inlined (no CDN)."""
    from plotly.offline import get_plotlyjs

    js = get_plotlyjs()
    if "</script" in js.lower():  # would end the inline element early; never seen in plotly.js
        raise RuntimeError("this plotly.js cannot be inlined: it contains '</script'")
    return js


def _app_js() -> str:
    return resources.files("medsafe.report").joinpath("templates/report.js").read_text("utf-8")


def _compact(row: dict[str, Any], series: str) -> dict[str, Any]:
    """What the sample browser shows of a row (empty fields dropped to keep the file small)."""
    out = {
        "series": series, "suite": row.get("suite"), "id": row.get("sample_id"),
        "principle": row.get("principle"), "messages": row.get("messages"),
        "follow_ups": row.get("follow_ups"),
        "response": row.get("response"), "score": row.get("score"),
        "refusal": row.get("refusal"), "correct": row.get("correct"), "judge": row.get("judge"),
        "rationale": row.get("rationale"), "error": row.get("error"),
        "error_stage": row.get("error_stage"), "reference": row.get("reference"),
        "extracted": row.get("extracted"), "members": row.get("judge_members"),
        "metadata": row.get("metadata"),
    }
    return {k: v for k, v in out.items() if v not in (None, "", {}, [])}


def _when(stamp: Any) -> str:
    if not isinstance(stamp, int | float):
        return "–"
    return time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(stamp))


def run_metadata_view(run: RunData) -> dict[str, Any]:
    """The reproducibility record of a run, arranged for reading."""
    summary, meta = run.summary, run.summary.get("meta") or {}
    config = meta.get("config") or {}
    facts = [
        ("run", run.run_id), ("status", summary.get("status", "–")),
        ("medsafe", summary.get("medsafe_version") or meta.get("medsafe_version", "–")),
        ("python", meta.get("python", "–")), ("platform", meta.get("platform", "–")),
        ("command", " ".join(meta.get("command") or []) or "–"),
        ("started", _when(meta.get("started_at"))), ("finished", _when(meta.get("finished_at"))),
        ("judge", summary.get("judge", "–")), ("seed", meta.get("seed", config.get("seed", "–"))),
        ("limit", config.get("limit", "–")), ("source", run.source or "–"),
    ]
    datasets = [
        {"suite": s.get("name"), "kind": s.get("kind"), "n": s.get("n"), "dataset": d.get("name"),
         "rows": d.get("rows"), "sha256": d.get("sha256"), "path": d.get("path")}
        for s in meta.get("suites") or [] for d in s.get("datasets") or [{}]
    ]
    return {
        "label": run.label or run.run_id, "facts": facts, "datasets": datasets,
        "params": json.dumps(meta.get("params") or config.get("params") or {}, indent=2),
        "targets": json.dumps(meta.get("targets") or {}, indent=2, ensure_ascii=False),
        "judge": json.dumps(meta.get("judge") or {}, indent=2, ensure_ascii=False),
        "options": json.dumps(config.get("target_options") or {}, indent=2),
        "full": json.dumps(meta, indent=2, ensure_ascii=False),
    }


def _sections(series: list[Series], runs: list[RunData]) -> list[dict[str, Any]]:
    spec = [
        ("principles", "Harm by principle", harm_by_principle(series, runs)
         + score_distribution(series, runs)),
        ("tradeoff", "Safety and helpfulness", safety_helpfulness(series, runs)),
        ("jailbreak", "Jailbreak attacks", jailbreak(series, runs)),
        ("redteam", "Red teaming", redteam_figures(series, runs)),
        ("fairness", "Fairness", fairness(series, runs)),
        ("privacy", "Privacy and hallucination", privacy_and_hallucination(series, runs)),
        ("robustness", "Robustness and pushback", robustness_figures(series, runs)),
    ]
    tables = {"robustness": {"header": ROBUSTNESS_HEADER, "rows": robustness_table(series, runs),
                             "note": "Each perturbed question against the same question as "
                                     "written: change in accuracy with a Newcombe 95% interval, "
                                     "exact McNemar p on the discordant pairs, consistency (the "
                                     "same option chosen, among pairs of valid answers)."}}
    return [{"id": sid, "title": title, "figures": figs, "table": tables.get(sid)}
            for sid, title, figs in spec if figs]


def _reliability(runs: list[RunData]) -> list[dict[str, Any]]:
    out = []
    for run in runs:
        for report in reliability_reports(run.summary, run.rows):
            fig = confusion(report, f"fig-confusion-{len(out)}")
            ci = report.get("ci95") or {}
            out.append({
                "run": run.label or run.run_id, "judge": report.get("judge"),
                "reference": report.get("reference"), "source": report.get("source"),
                "n": report.get("n"), "figure": fig,
                "stats": [(k, report[k], ci.get(k)) for k in RELIABILITY_KEYS if k in report],
            })
    return out


def _estimate_cell(metric: str, estimate: dict[str, Any] | None) -> str:
    if not estimate:
        return "–"
    return format_cell(metric, {"value": estimate.get("value"), "ci95": estimate.get("ci95")})


def calibrated_views(runs: list[RunData]) -> list[dict[str, Any]]:
    """One table per (run, suite, target) whose answers carry human labels: the judge's figure,
    the labels' own and the prediction-powered one, the judge's agreement and the labellers'."""
    views = []
    for run in runs:
        for suite, block in run.summary.get("suites", {}).items():
            for target, metrics in (block.get("by_target") or {}).items():
                cal = metrics.get("calibrated")
                if not cal:
                    continue
                rows = [{"words": e["words"], "judge": _estimate_cell(name, e["judge"]),
                         "labelled": _estimate_cell(name, e["labelled"]),
                         "calibrated": _estimate_cell(name, e["calibrated"]),
                         "plan": e["labels_needed"]["text"]}
                        for name, e in cal["metrics"].items()]
                views.append({"run": run.label or run.run_id, "suite": suite, "target": target,
                              "block": cal, "rows": rows})
    return views


def render_runs(runs: list[RunData], comparisons: list[dict[str, Any]] | None = None, *,
                max_samples: int | None = REPORT_SAMPLES, store: str | Path | None = None) -> str:
    """The report of one or several runs (several runs also get their paired comparison).

    Every figure and table is computed from all rows; the sample browser embeds at most
    ``max_samples`` of them (None or 0: all), failures first, and the page says how many and
    how they were chosen, naming ``store`` (default: the runs' own) for ``medsafe view``.
    """
    series = build_series(runs)
    if comparisons is None:
        comparisons = compare_runs(runs)
    columns, rows = merged_scorecard(runs)
    sections = _sections(series, runs)
    reliability = _reliability(runs)
    forests = comparison_forest(comparisons)
    figures: list[Figure] = [f for s in sections for f in s["figures"]] + forests + [
        r["figure"] for r in reliability if r["figure"]]
    labels = {(s.run.run_id, s.target): s.label for s in series}
    choice = choose_samples(runs, max_samples, store)
    samples = [_compact(row, labels.get((run.run_id, row.get("target")), str(row.get("target"))))
               for run, row in _rows_at(runs, choice.indices)]
    scripts = [plotly_js(), _app_js()]
    csp = ("default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
           f"script-src {' '.join(csp_hash(s) for s in scripts)}; base-uri 'none'; "
           "form-action 'none'")
    return _env().get_template("report.html.j2").render(
        runs=runs, principles=PRINCIPLES, title=", ".join(r.run_id for r in runs), csp=csp,
        columns=columns, scorecard=[
            {**row, "cells": [format_cell(row["metric"], row["values"].get(c)) for c in columns]}
            for row in rows],
        sections=sections, reliability=reliability, calibrated=calibrated_views(runs),
        comparisons=[{**c, "overall": [table_cells(r) for r in c["rows"] if r["principle"] is None],
                      "by_principle": [table_cells(r) for r in c["rows"]
                                       if r["principle"] is not None]} for c in comparisons],
        comparison_header=TABLE_HEADER, forests=forests,
        metadata=[run_metadata_view(r) for r in runs],
        conversations=conversation_views(runs, labels), max_conversations=MAX_CONVERSATIONS,
        filters={
            "series": [s.label for s in series],
            "suites": sorted({str(s.get("suite")) for s in samples}),
            "principles": sorted({str(s["principle"]) for s in samples if "principle" in s},
                                 key=lambda p: (len(p), p)),
        },
        n_samples=len(samples), embedded=choice,
        figures_json=script_json({f.id: f.spec() for f in figures}),
        samples_json=script_json(samples),
        plotly_script=scripts[0], app_script=scripts[1],
    )


def _rows_at(runs: list[RunData], indices: list[int]) -> Iterator[tuple[RunData, dict[str, Any]]]:
    """The rows at ``indices`` (rows numbered across the runs in order), with their run."""
    ends = list(itertools.accumulate(len(run.rows) for run in runs))
    for index in indices:
        at = bisect.bisect_right(ends, index)
        yield runs[at], runs[at].rows[index - (ends[at - 1] if at else 0)]


def render_report(summary: dict[str, Any], rows: list[dict[str, Any]], *,
                  max_samples: int | None = REPORT_SAMPLES, store: str | Path | None = None) -> str:
    """Render the report of one run from its summary and sample rows, embedding at most
    ``max_samples`` samples (None or 0: all; see :func:`render_runs`)."""
    return render_runs([RunData(summary, rows, source="")], max_samples=max_samples, store=store)
