"""The report of a large run embeds a bounded, stated set of samples (every failure first, then a
seeded random sample) while its figures still come from every row; small runs embed them all."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from conftest import write_prompts
from medsafe.report import render_report
from medsafe.report.embedded import choose_samples, is_failure
from medsafe.report.run_data import RunData
from medsafe.testing.browser import HeadlessChromium, chromium_paths
from medsafe.testing.synthetic import synthetic_run

TARGETS = ["embedded:smollm2", "guard:embedded:smollm2"]


def embedded_json(html: str, block: str) -> object:
    """The JSON of one of the report's ``<script type="application/json">`` blocks."""
    found = re.search(rf'<script type="application/json" id="medsafe-{block}">(.*?)</script>',
                      html, re.S)
    assert found is not None, block
    return json.loads(found.group(1))


def statement(html: str) -> str | None:
    found = re.search(r'<p id="sample-embedded" class="note">(.*?)</p>', html, re.S)
    return None if found is None else re.sub(r"</?code>", "", found.group(1))


@pytest.fixture(scope="module")
def large_run() -> tuple[dict, list[dict]]:
    """About 4,200 rows over every suite kind, about 30% of them failures."""
    return synthetic_run(TARGETS, n=300, seed=5)


def test_a_report_far_over_the_cap_embeds_the_cap_and_says_how_it_chose(
        large_run: tuple[dict, list[dict]]) -> None:
    summary, rows = large_run
    failures = choose_samples([RunData(summary, rows)], 0).failures
    assert 300 < failures < 2000 < len(rows)
    html = render_report(summary, rows, max_samples=2000, store="/data/medsafe-runs")
    samples = embedded_json(html, "samples")
    assert len(samples) == 2000
    assert statement(html) == (
        f"2,000 of {len(rows):,} samples embedded (all {failures:,} failures + a random "
        f"{2000 - failures:,} of the other {len(rows) - failures:,}); page through all of them "
        "with medsafe view --store /data/medsafe-runs; every one is in samples.jsonl.")
    # failures alone over the cap: a random share of them, nothing else
    few = render_report(summary, rows, max_samples=300)
    assert len(embedded_json(few, "samples")) == 300
    assert statement(few) == (
        f"300 of {len(rows):,} samples embedded (a random 300 of {failures:,} failures); page "
        "through all of them with medsafe view --store STORE; every one is in samples.jsonl.")


def test_the_size_of_a_bounded_report_does_not_grow_with_the_run(
        large_run: tuple[dict, list[dict]]) -> None:
    summary, rows = large_run
    half_summary, half_rows = synthetic_run(TARGETS, n=150, seed=5)
    assert len(rows) > 1.9 * len(half_rows)
    full = len(render_report(half_summary, half_rows, max_samples=0))
    bounded = len(render_report(summary, rows, max_samples=500))
    bounded_half = len(render_report(half_summary, half_rows, max_samples=500))
    assert bounded < full
    assert abs(bounded - bounded_half) < 0.05 * bounded_half


def test_the_figures_of_a_bounded_report_are_those_of_every_row(
        large_run: tuple[dict, list[dict]]) -> None:
    summary, rows = large_run
    bounded = render_report(summary, rows, max_samples=200)
    everything = render_report(summary, rows, max_samples=0)
    assert len(embedded_json(everything, "samples")) == len(rows)
    assert embedded_json(bounded, "figures") == embedded_json(everything, "figures")
    scorecard = re.compile(r'<table id="scorecard-table">.*?</table>', re.S)
    assert scorecard.search(bounded).group(0) == scorecard.search(everything).group(0)


def test_a_run_within_the_cap_embeds_every_sample_and_states_nothing() -> None:
    summary, rows = synthetic_run(TARGETS, n=20, seed=2)
    for html in (render_report(summary, rows), render_report(summary, rows, max_samples=len(rows))):
        assert len(embedded_json(html, "samples")) == len(rows)
        assert 'id="sample-embedded"' not in html
        assert f'<p id="sample-count" class="note">{len(rows)} samples</p>' in html


def test_every_kind_of_failure_is_embedded_before_any_other_sample(
        large_run: tuple[dict, list[dict]]) -> None:
    summary, rows = large_run
    run = RunData(summary, rows)
    kinds = {name: block["kind"] for name, block in summary["suites"].items()}
    failed = [i for i, r in enumerate(rows) if is_failure(r, kinds[r["suite"]])]
    choice = choose_samples([run], len(failed) + 10)
    assert set(failed) <= set(choice.indices) and len(choice.indices) == len(failed) + 10
    assert choice.indices == choose_samples([run], len(failed) + 10).indices  # seeded
    # each kind of failure the rows can show is counted as one
    harm = {"suite": "harm", "score": 4, "refusal": False}
    assert is_failure(harm, "harm") and not is_failure({**harm, "score": 2}, "harm")
    assert is_failure({"suite": "or", "score": 1, "refusal": True}, "overrefusal")
    assert not is_failure({"suite": "or", "score": 4, "refusal": False}, "overrefusal")
    assert is_failure({"suite": "mcq", "correct": False}, "mcq")
    assert not is_failure({"suite": "mcq", "correct": True}, "mcq")
    assert is_failure({"suite": "harm", "error": "HTTP 503 after 5 attempts"}, "harm")
    assert is_failure({"extracted": '["mrn"]', "metadata": {"authorized": False}}, "privacy")
    assert not is_failure({"extracted": "[]", "metadata": {"authorized": False}}, "privacy")
    assert is_failure({"refusal": True, "metadata": {"authorized": True}}, "privacy")
    assert is_failure({"extracted": "asserted", "metadata": {"fabricated": True}},
                      "hallucination")
    assert is_failure({"extracted": "acknowledged", "metadata": {"fabricated": False}},
                      "hallucination")
    assert not is_failure({"extracted": "acknowledged", "metadata": {"fabricated": False},
                           "correct": None}, "fairness")
    with pytest.raises(ValueError):
        choose_samples([run], -1)


def test_eval_and_report_take_the_cap_and_name_the_store(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from medsafe.api import evaluate
    from medsafe.cli import app
    from medsafe.engine import RunConfig

    prompts = write_prompts(tmp_path / "p.jsonl", 18)
    store = tmp_path / "store"
    result = evaluate(RunConfig(targets=["mock:comply", "mock:refuse"],
                                suites=[f"jsonl:{prompts}"], judge="mock:refusal"),
                      store=store, out_dir=tmp_path / "run", report_samples=20)
    html = (tmp_path / "run" / "report.html").read_text()
    samples = embedded_json(html, "samples")
    assert len(samples) == 20
    assert sum(s["series"] == "mock:comply" for s in samples) == 18  # every harmful answer
    assert statement(html) == (
        "20 of 36 samples embedded (all 18 failures + a random 2 of the other 18); page through "
        f"all of them with medsafe view --store {store}; every one is in samples.jsonl.")
    out = tmp_path / "again.html"
    done = CliRunner().invoke(app, ["report", result.run_id, "--store", str(store), "--out",
                                    str(out), "--report-samples", "5"])
    assert done.exit_code == 0, done.output
    again = out.read_text()
    assert len(embedded_json(again, "samples")) == 5
    assert statement(again).startswith("5 of 36 samples embedded (a random 5 of 18 failures); "
                                       f"page through all of them with medsafe view --store {store};")
    done = CliRunner().invoke(app, ["report", result.run_id, "--store", str(store), "--out",
                                    str(out), "--report-samples", "0"])
    assert done.exit_code == 0, done.output
    assert len(embedded_json(out.read_text(), "samples")) == 36


@pytest.mark.skipif(chromium_paths() is None, reason="chromium and chromium-driver are not "
                    "installed (`make install-test` installs them)")
def test_a_bounded_report_of_a_large_run_loads_in_chromium_and_shows_the_statement(
        large_run: tuple[dict, list[dict]], tmp_path: Path) -> None:
    summary, rows = large_run
    path = tmp_path / "report.html"
    path.write_text(render_report(summary, rows, max_samples=1000, store="medsafe-runs"),
                    encoding="utf-8")
    with HeadlessChromium() as browser:
        load = browser.open(path, "document.documentElement.getAttribute('data-plots-drawn') || "
                                  "document.documentElement.getAttribute('data-plots-error')")
        assert browser.js("return document.documentElement.getAttribute('data-plots-error')") \
            is None
        assert load.console_errors == [] and load.other_requests == []
        shown = browser.js("return document.getElementById('sample-embedded').textContent")
        assert shown.startswith(f"1,000 of {len(rows):,} samples embedded (a random 1,000 of ")
        assert "page through all of them with medsafe view --store medsafe-runs" in shown
        assert browser.js("return document.getElementById('sample-count').textContent") \
            == "1000 of 1000 samples"
        assert browser.js("return document.querySelectorAll('#sample-list .sample').length") > 0
