"""Reports: summary.json, samples.jsonl, the HTML report, comparisons, exports, the run browser."""

from medsafe.report.compare import compare_runs, comparison_markdown
from medsafe.report.exports import export_samples
from medsafe.report.html import render_report, render_runs
from medsafe.report.outputs import build_summary, sample_row, write_outputs
from medsafe.report.run_data import RunData
from medsafe.report.runs import load_run, load_runs
from medsafe.report.scorecard import scorecard, scorecard_json, scorecard_markdown

__all__ = [
    "RunData",
    "build_summary",
    "compare_runs",
    "comparison_markdown",
    "export_samples",
    "load_run",
    "load_runs",
    "render_report",
    "render_runs",
    "sample_row",
    "scorecard",
    "scorecard_json",
    "scorecard_markdown",
    "write_outputs",
]
