"""Scorecard exports (Markdown, JSON), sample exports (CSV, Parquet) and `medsafe report` over
run folders and run ids."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from conftest import run_cli, write_prompts
from medsafe.report import export_samples, load_runs, scorecard, scorecard_json
from medsafe.report.exports import COLUMNS
from medsafe.report.scorecard import derive_scorecard, scorecard_markdown
from medsafe.testing.synthetic import synthetic_run

TARGETS = ["mock:comply", "mock:refuse"]


def run_main(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
             *args: str) -> tuple[int, str, str]:
    """``medsafe ARGS`` in this process (faster than a fresh interpreter): exit code, out, err."""
    from medsafe.cli import main

    monkeypatch.setattr("sys.argv", ["medsafe", *args])
    monkeypatch.setenv("COLUMNS", "200")
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real two-target run of 18 prompts, written by the evaluation API."""
    from medsafe.api import evaluate
    from medsafe.engine import RunConfig

    root = tmp_path_factory.mktemp("runs")
    prompts = write_prompts(root / "p.jsonl", 18)
    evaluate(RunConfig(targets=TARGETS, suites=[f"jsonl:{prompts}"], judge="mock:refusal"),
             store=root / "store", out_dir=root / "run")
    return root / "run"


def test_scorecard_markdown_and_json_carry_every_target_with_intervals(run_dir: Path) -> None:
    md = run_cli("report", str(run_dir), "--format", "md")
    assert md.returncode == 0, md.stderr
    lines = md.stdout.splitlines()
    assert lines[0] == "| suite | metric | better | `mock:comply` | `mock:refuse` |"
    # comply always scores 5, refuse 1 (18 prompts each); Wilson interval of 18/18 is 82.4-100%
    assert "| jsonl:p.jsonl | mean harm score (1–5) | lower | 5.00 (5.00–5.00) | 1.00 (1.00–1.00) |" \
        in lines
    assert ("| jsonl:p.jsonl | harmful rate (score ≥ 3) | lower | 100.0% (82.4–100.0%) | "
            "0.0% (0.0–17.6%) |") in lines
    data = json.loads(Path(run_dir / "summary.json").read_text())
    [run] = load_runs([run_dir])
    exported = json.loads(scorecard_json([run]))
    assert exported["series"] == TARGETS
    assert exported["scorecard"] == derive_scorecard(data)


def test_a_scorecard_in_the_summary_is_used_as_given() -> None:
    summary, rows = synthetic_run(["a"], n=9, new_kinds=False)
    summary["scorecard"] = [{"suite": "harm", "metric": "mean_score", "label": "lead's label",
                             "better": "lower", "values": {"a": {"value": 2.0, "ci95": [1.5, 2.5],
                                                                 "n": 9}}}]
    assert scorecard(summary) == summary["scorecard"]
    from medsafe.report.runs import RunData

    text = scorecard_markdown([RunData(summary, rows, label="r")])
    assert "| harm | lead's label | lower | 2.00 (1.50–2.50) |" in text


def test_report_of_a_folder_and_a_stored_run_includes_their_comparison(
        run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    run_id = json.loads((run_dir / "summary.json").read_text())["run_id"]
    out = tmp_path / "both.html"
    code, _, err = run_main(capsys, monkeypatch, "report", str(run_dir), run_id, "--store",
                            str(run_dir.parent / "store"), "--out", str(out))
    assert code == 0, err
    html = out.read_text()
    assert "Comparison on shared samples" in html
    assert f"mock:refuse @ {run_id}#2" in html  # the same run twice gets distinct labels
    assert html.count("<script") == 4 and "<script src" not in html  # everything inlined
    code, _, err = run_main(capsys, monkeypatch, "report", str(tmp_path), "--out", str(out))
    assert code == 2 and "summary.json not found" in err
    code, _, err = run_main(capsys, monkeypatch, "compare", str(run_dir), str(tmp_path))
    assert code == 2 and "summary.json not found" in err


def test_samples_export_to_csv_and_parquet_keeps_every_row(
        run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    rows = [json.loads(line) for line in (run_dir / "samples.jsonl").open()]
    result = run_cli("export-samples", str(run_dir), "--out", str(tmp_path / "s.csv"))
    assert result.returncode == 0, result.stderr
    with (tmp_path / "s.csv").open(newline="") as fh:
        table = list(csv.DictReader(fh))
    assert len(table) == len(rows) == 36
    assert list(table[0]) == [c for c, _ in COLUMNS]
    for row, flat in zip(rows, table, strict=True):
        assert (flat["target"], flat["sample_id"], flat["response"]) == (
            row["target"], row["sample_id"], row["response"])
        assert int(flat["score"]) == row["score"]
        assert json.loads(flat["messages"]) == row["messages"]
        assert flat["prompt"] == row["messages"][-1]["content"]

    pq = pytest.importorskip("pyarrow.parquet")
    [run] = load_runs([run_dir])
    assert export_samples([run], tmp_path / "s.parquet") == 36
    back = pq.read_table(tmp_path / "s.parquet")
    assert back.column_names == [c for c, _ in COLUMNS]
    assert str(back.schema.field("score").type) == "int64"
    assert back.column("score").to_pylist() == [r["score"] for r in rows]

    code, _, err = run_main(capsys, monkeypatch, "export-samples", str(run_dir), "--out",
                            str(tmp_path / "s.xlsx"))
    assert code == 2 and "unknown export format '.xlsx'" in err


def test_a_jury_run_reports_agreement_between_its_judges(tmp_path: Path) -> None:
    from medsafe.api import evaluate
    from medsafe.engine import RunConfig
    from medsafe.report.html import render_runs
    from medsafe.report.reliability import jury_members, reliability_reports

    prompts = write_prompts(tmp_path / "p.jsonl", 9)
    evaluate(RunConfig(targets=["mock:comply"], suites=[f"jsonl:{prompts}"],
                       judge="jury:mock:refusal,mock:3"), store=tmp_path / "s", out_dir=tmp_path / "r")
    [run] = load_runs([tmp_path / "r"])
    assert run.rows[0]["judge_members"]["mock:3"]["score"] == 3
    [report] = reliability_reports(run.summary, run.rows, n_boot=50)
    # mock:refusal gives every compliant answer 5, mock:3 always 3: nine pairs (5, 3)
    assert (report["reference"], report["judge"], report["n"]) == ("mock:refusal", "mock:3", 9)
    assert report["confusion"]["matrix"][4] == [0, 0, 9, 0, 0] and report["exact"] == 0.0
    html = render_runs([run])
    assert 'id="reliability"' in html and "fig-confusion-0" in html
    assert jury_members("jury:a,b", "__import__('os').system('true')") is None  # never evaluated
    assert jury_members("classifier", "{'a': {}}") is None
