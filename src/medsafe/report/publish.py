"""Writing reports where the user asked: the HTML report, the scorecard and the comparison as
Markdown or JSON, or the comparison as a terminal table."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table

from medsafe.errors import InputError, MedsafeError
from medsafe.report.compare import TABLE_HEADER, compare_runs, comparison_markdown, table_cells
from medsafe.report.run_data import RunData
from medsafe.report.runs import load_runs

REPORT_FORMATS = ("html", "md", "json")
COMPARE_FORMATS = ("table", "md", "json")


@contextmanager
def _nothing() -> Iterator[None]:
    yield


def _emit(text: str, out: Path | None) -> None:
    if out is None:
        sys.stdout.write(text)
    else:
        out.write_text(text, encoding="utf-8")
        Console(stderr=True).print(f"wrote {out}")


def attach_judge_evals(runs: list[RunData], files: list[Path]) -> None:
    """Add ``medsafe judge-eval --out`` reports to the first run's judge reliability."""
    for path in files:
        try:
            report = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise InputError(path, None, None, f"cannot read a judge-eval report ({exc})") from exc
        if not isinstance(report, dict) or "confusion" not in report:
            raise InputError(path, None, "confusion", "missing: not a `medsafe judge-eval --out` file")
        runs[0].summary.setdefault("judge_reliability", []).append(report)


def write_report(refs: list[str], out: Path | None, fmt: str, store: Path | None,
                 judge_evals: list[Path], *, report_samples: int | None = None) -> None:
    """``medsafe report``: the HTML report of the runs (embedding at most ``report_samples``
    samples, failures first; None: the default, 0: all), or their scorecard as Markdown/JSON."""
    from medsafe.report.embedded import REPORT_SAMPLES
    from medsafe.report.html import render_runs
    from medsafe.report.scorecard import scorecard_json, scorecard_markdown

    if fmt not in REPORT_FORMATS:
        raise MedsafeError(f"unknown --format '{fmt}'; use one of {', '.join(REPORT_FORMATS)}")
    if fmt == "html" and out is None:
        raise MedsafeError("an HTML report needs --out FILE.html")
    runs = load_runs(refs, store)
    attach_judge_evals(runs, judge_evals)
    if fmt == "html":
        limit = REPORT_SAMPLES if report_samples is None else report_samples
        _emit(render_runs(runs, max_samples=limit, store=store), out)
    else:
        _emit(scorecard_markdown(runs) if fmt == "md" else scorecard_json(runs) + "\n", out)


def comparison_table(comparison: dict[str, Any]) -> Table:
    """One comparison as a rich table."""
    table = Table(box=box.SIMPLE_HEAD, title=f"{comparison['other']} vs {comparison['baseline']} "
                        "(Δ = other − baseline, paired on shared samples)")
    for i, name in enumerate(TABLE_HEADER):
        table.add_column(name, justify="right" if 3 <= i <= 8 else "left", no_wrap=3 <= i <= 8)
    colours = {"better": "green", "worse": "red"}
    for row in comparison["rows"]:
        cells = table_cells(row)
        style = colours.get(row["verdict"])
        cells[-1] = f"[{style}]{cells[-1]}[/]" if style else cells[-1]
        table.add_row(*cells)
    return table


def write_comparison(refs: list[str], fmt: str, out: Path | None, store: Path | None,
                     principles: bool) -> None:
    """``medsafe compare``: the comparisons as a terminal table, Markdown or JSON."""
    if fmt not in COMPARE_FORMATS:
        raise MedsafeError(f"unknown --format '{fmt}'; use one of {', '.join(COMPARE_FORMATS)}")
    runs = load_runs(refs, store)
    comparisons = compare_runs(runs)
    if not comparisons:
        raise MedsafeError("nothing to compare: give two runs, or one run with two targets")
    if not principles:
        for comp in comparisons:
            comp["rows"] = [r for r in comp["rows"] if r["principle"] is None]
    if fmt == "json":
        _emit(json.dumps(comparisons, indent=2, ensure_ascii=False) + "\n", out)
    elif fmt == "md":
        _emit(comparison_markdown(comparisons), out)
    else:
        console = Console(record=out is not None, width=200 if out is not None else None)
        with console.capture() if out is not None else _nothing():
            for comp in comparisons:
                console.print(comparison_table(comp))
                if comp["not_compared"]:
                    console.print("not compared sample by sample: "
                                  + ", ".join(comp["not_compared"]))
            console.print("[dim]" + comparisons[0]["method"] + "[/]", highlight=False)
        if out is not None:
            _emit(console.export_text(), out)
