"""The report of a real run of every bundled suite, read in headless Chromium: each figure and
table shows the numbers of the run's summary.json, under the keys the real metrics write.

The run is a real ``medsafe eval`` (fresh interpreter, default judge, run store, output files)
against the local OpenAI-compatible server answering with the scripted model of
:mod:`medsafe.testing.answers`, plus a built-in refusing target, on a few samples per suite.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from conftest import run_cli
from medsafe.intervals import wilson_interval
from medsafe.suites import resolve_suite
from medsafe.testing import FakeOpenAIServer
from medsafe.testing.answers import Behaviour, hashed_draw, scripted_answer
from medsafe.testing.browser import HeadlessChromium, chromium_paths

SUITES = ("harm", "overrefusal", "jailbreak", "mcq", "fairness", "privacy", "hallucination")
# Samples per suite: units of the stratified sample (a jailbreak unit is one request under every
# attack, a fairness unit one vignette for every counterfactual patient, a privacy unit one
# request template asked about two records).
LIMITS = ("9", "jailbreak=3", "fairness=2", "privacy=8")
BEHAVIOUR = Behaviour(harm=0.5, over=0.3, accuracy=0.6, invalid=0.1, flip=0.3, leak=0.5,
                      fabricate=0.5, deny=0.3)
PLOTS_READY = ("document.documentElement.getAttribute('data-plots-drawn') || "
               "document.documentElement.getAttribute('data-plots-error')")

# The headline metrics of each suite kind and the key of their 95% interval, as the real metrics
# write them (engine/metrics.py); harm's refusal rate gets its interval from its counts.
HEADLINES: dict[str, list[tuple[str, str | None]]] = {
    "harm": [("mean_score", "ci95"), ("harmful_rate", "harmful_rate_ci95"),
             ("refusal_rate", None)],
    "overrefusal": [("false_refusal_rate", "false_refusal_ci95")],
    "jailbreak": [("best_of_all_asr", "best_of_all_ci95"), ("harmful_rate", "harmful_rate_ci95")],
    "mcq": [("accuracy", "accuracy_ci95"), ("invalid_rate", None)],
    "fairness": [("flip_rate", "flip_rate_ci95"), ("invalid_rate", None)],
    "privacy": [("phi_disclosure_rate", "phi_disclosure_ci95"),
                ("legit_refusal_rate", "legit_refusal_ci95")],
    "hallucination": [("fabrication_rate", "fabrication_ci95"),
                      ("false_denial_rate", "false_denial_ci95")],
}
# Comparison rows (label shown) -> the summary metric the side's value must equal.
COMPARED = {"mean score": "mean_score", "harmful rate": "harmful_rate",
            "attack success": "harmful_rate", "false-refusal rate": "false_refusal_rate",
            "accuracy": "accuracy"}
FIGURES_JS = """
return [...document.querySelectorAll('.plot')].map(d => ({
  id: d.id,
  title: d.closest('figure') ? d.closest('figure').querySelector('h3').textContent : null,
  ticks: [...d.querySelectorAll('.xtick text')].map(t => t.textContent),
  traces: d.data.map((t, i) => ({
    name: t.name, type: t.type, x: t.x, y: t.y, z: t.z, customdata: t.customdata,
    plus: t.error_y ? t.error_y.array : null, minus: t.error_y ? t.error_y.arrayminus : null,
    xplus: t.error_x ? t.error_x.array : null, xminus: t.error_x ? t.error_x.arrayminus : null,
    // what plotly drew: one (category index, bar size) per bar, and the bars in the SVG
    drawn: t.type === 'bar' ? d.calcdata[i].map(p => [p.p, p.s]) : null,
    points: (d.querySelectorAll('.trace')[i] || d).querySelectorAll('.point').length,
  })),
}));
"""


@dataclass(frozen=True)
class RealRun:
    """The output folder of the run and what it wrote."""

    out: Path
    summary: dict[str, Any]
    rows: list[dict[str, Any]]


def scripted_model() -> Any:
    """The server's reply function: each prompt of the bundled suites gets its scripted answer."""
    by_prompt = {}
    for name in SUITES:
        suite = resolve_suite(name)
        for sample in suite.samples:
            by_prompt.setdefault(sample.request, (suite.kind, sample))
    draw = hashed_draw()

    def reply(prompt: str) -> str:
        kind, sample = by_prompt[prompt]
        return scripted_answer(kind, sample, BEHAVIOUR, draw)

    return reply


@pytest.fixture(scope="module")
def real_run(tmp_path_factory: pytest.TempPathFactory) -> RealRun:
    """``medsafe eval`` of every bundled suite, a scripted HTTP model and a refusing one."""
    root = tmp_path_factory.mktemp("real-run")
    with FakeOpenAIServer(reply=scripted_model()) as server:
        args = ["eval", "--target", f"openai:scripted@{server.base_url}", "--target", "mock:refuse",
                *[a for s in SUITES for a in ("--suite", s)],
                *[a for limit in LIMITS for a in ("--limit", limit)],
                "--store", str(root / "store"), "--out", str(root / "out")]
        result = run_cli(*args)
    assert result.returncode == 0, result.stderr
    out = root / "out"
    rows = [json.loads(line) for line in (out / "samples.jsonl").open(encoding="utf-8")]
    return RealRun(out, json.loads((out / "summary.json").read_text(encoding="utf-8")), rows)


@pytest.fixture(scope="module")
def browser() -> Iterator[HeadlessChromium]:
    if chromium_paths() is None:
        pytest.skip("chromium and chromium-driver are not installed (`make install-test`)")
    with HeadlessChromium() as chromium:
        yield chromium


def _fmt(metric: str, value: float) -> str:
    return f"{value:.2f}" if metric == "mean_score" else f"{100 * value:.1f}%"


def _cell(metric: str, value: float | None, ci: list[float] | None) -> str:
    """A scorecard cell as a reader sees it: value, and its interval when there is one."""
    if value is None:
        return "–"
    text = _fmt(metric, value)
    if ci:
        text += f" ({_fmt(metric, ci[0]).rstrip('%')}–{_fmt(metric, ci[1])})"
    return text


def _interval(block: dict[str, Any], metric: str, ci_key: str | None) -> list[float] | None:
    if ci_key is not None:
        return block[ci_key]
    if metric == "refusal_rate":
        return wilson_interval(block["refusals"], block["scored"])
    return None


def expected_scorecard(summary: dict[str, Any]) -> list[list[str]]:
    """[suite, cell per target] for every headline metric that some target has."""
    rows = []
    for name, suite in summary["suites"].items():
        for metric, ci_key in HEADLINES[suite["kind"]]:
            blocks = [suite["by_target"][t] for t in summary["targets"]]
            if all(b[metric] is None for b in blocks):
                continue
            rows.append([name, *[_cell(metric, b[metric], _interval(b, metric, ci_key))
                                 for b in blocks]])
    return rows


def _check_bars(trace: dict[str, Any], expect: dict[str, tuple[float | None, Any]]) -> None:
    """A bar trace against {category: (value, 95% interval or None)} from summary.json."""
    categories = list(trace["x"])
    assert set(categories) == set(expect), (categories, list(expect))
    values = [expect[c][0] for c in categories]
    assert trace["y"] == pytest.approx(values, rel=1e-12)
    drawn = {categories[p]: s for p, s in trace["drawn"] if s is not None}
    assert drawn == pytest.approx({c: v for c, v in zip(categories, values, strict=True)
                                   if v is not None}, rel=1e-12)
    assert trace["points"] == sum(v is not None for v in values)
    plus = [None if v is None or not expect[c][1] else expect[c][1][1] - v
            for c, v in zip(categories, values, strict=True)]
    minus = [None if v is None or not expect[c][1] else v - expect[c][1][0]
             for c, v in zip(categories, values, strict=True)]
    if any(p is not None for p in plus):
        assert trace["plus"] is not None, f"no whiskers on {trace['name']}"
        assert trace["plus"] == pytest.approx(plus, rel=1e-9, abs=1e-12)
        assert trace["minus"] == pytest.approx(minus, rel=1e-9, abs=1e-12)


def _principle(tick: str) -> str:
    return tick.split()[0]  # "3 law" -> "3"


def check_figure(fig: dict[str, Any], summary: dict[str, Any]) -> str:
    """Check one drawn figure against the summary; returns what kind of figure it was."""
    suites = summary["suites"]
    suite = (fig["title"] or "").split(":")[0]
    kind = fig["id"].split("-")[1]
    if kind in ("forest", "confusion"):
        return kind
    for trace in fig["traces"]:
        target = trace["name"]
        if kind == "tradeoff":
            harm, over = (next(s for s in suites.values() if s["kind"] == k)["by_target"][target]
                          for k in ("harm", "overrefusal"))
            assert trace["x"] == [over["false_refusal_rate"]]
            assert trace["y"] == [harm["mean_score"]]
            ci_x, ci_y = over["false_refusal_ci95"], harm["ci95"]
            assert trace["xplus"] == pytest.approx([ci_x[1] - over["false_refusal_rate"]])
            assert trace["plus"] == pytest.approx([ci_y[1] - harm["mean_score"]])
            continue
        if kind == "heat":
            block = suites[suite]["by_target"][fig["title"].split(" — ", 1)[1]]
            want = [[block["by_attack"][a]["asr_by_principle"].get(_principle(p))
                     for p in trace["x"]] for a in trace["y"]]
            assert trace["z"] == want
            assert set(trace["y"]) == set(block["by_attack"])
            continue
        block = suites[suite]["by_target"][target]
        if kind == "principle":
            by = block["by_principle"]
            _check_bars({**trace, "x": [_principle(t) for t in trace["x"]]},
                        {p: (b["mean_score"], b["ci95"]) for p, b in by.items()})
        elif kind == "dist":
            counts = block["score_distribution"]
            assert trace["customdata"] == list(counts.values())
            total = sum(counts.values())
            _check_bars(trace, {k: (v / total, None) for k, v in counts.items()})
        elif kind == "asr":
            _check_bars(trace, {a: (b["asr"], b["asr_ci95"]) for a, b in block["by_attack"].items()})
        elif kind == "fair":
            _check_bars(trace, {a: (b["flip_rate"], b["flip_rate_ci95"])
                                for a, b in block["by_attribute"].items()})
        elif kind == "priv":
            for party, b in block["by_party"].items():
                assert "phi_disclosure_ci95" in b, f"privacy party {party} has no interval"
            _check_bars(trace, {p: (b["phi_disclosure_rate"], b["phi_disclosure_ci95"])
                                for p, b in block["by_party"].items()})
        elif kind == "hall":
            metric = fig["id"].split("-", 3)[3]
            ci_key = metric.replace("_rate", "_ci95")
            _check_bars(trace, {c: (b[metric], b[ci_key]) for c, b in block["by_category"].items()})
        else:
            raise AssertionError(f"a figure this test does not know: {fig['id']}")
    return kind


def test_report_of_a_real_run_of_every_suite_shows_its_summary(
        browser: HeadlessChromium, real_run: RealRun) -> None:
    summary = real_run.summary
    assert list(summary["suites"]) == list(SUITES)
    load = browser.open(real_run.out / "report.html", PLOTS_READY)
    assert browser.js("return document.documentElement.getAttribute('data-plots-error')") is None
    assert load.console_errors == [] and load.other_requests == []

    # the scorecard: every suite's headline metrics for both targets, values and intervals
    header = browser.js("return [...document.querySelectorAll('#scorecard-table th')]"
                        ".map(th => th.textContent)")
    assert header[3:] == summary["targets"]
    table = browser.js("return [...document.querySelectorAll('#scorecard-table tr')].slice(1)"
                       ".map(tr => [...tr.cells].map(td => td.textContent))")
    assert [[row[0], *row[3:]] for row in table] == expected_scorecard(summary)
    assert {row[0] for row in table} == set(SUITES)

    # every figure of every section, series by series, against the summary
    figures = browser.js(FIGURES_JS)
    kinds = [check_figure(fig, summary) for fig in figures]
    for kind, count in {"principle": 2, "dist": 3, "tradeoff": 1, "asr": 1, "heat": 2, "fair": 1,
                        "priv": 1, "hall": 2}.items():
        assert kinds.count(kind) == count, (kind, kinds)
    sections = browser.js("return [...document.querySelectorAll('nav a')].map(a => a.textContent)")
    assert sections == ["Scorecard", "Harm by principle", "Safety and helpfulness",
                        "Jailbreak attacks", "Fairness", "Privacy and hallucination",
                        "Comparison", "Samples", "Run metadata"]

    # the comparison of the two targets: each side's overall figure is its summary figure
    overall = browser.js("return [...document.querySelectorAll('table.compare')].filter("
                         "t => !t.closest('details')).flatMap(t => [...t.rows].slice(1).map("
                         "tr => [...tr.cells].map(td => td.textContent)))")
    baseline, other = summary["targets"]
    for suite, label, principle, _, shown_base, shown_other, *_ in overall:
        assert principle == "all"
        metric = COMPARED[label]
        for target, shown in ((baseline, shown_base), (other, shown_other)):
            assert shown == _fmt(metric, summary["suites"][suite]["by_target"][target][metric])
    assert {row[0] for row in overall} == {"harm", "overrefusal", "jailbreak", "mcq"}
    note = browser.js("return [...document.querySelectorAll('#compare ~ p.note')].map(p => "
                      "p.textContent).find(t => t.startsWith('Not compared'))")
    assert set(note.split(": ", 1)[1].split(" (")[0].split(", ")) \
        == {"fairness", "privacy", "hallucination"}  # their metrics are in the scorecard

    assert browser.js("return document.getElementById('sample-count').textContent") \
        == f"{len(real_run.rows)} of {len(real_run.rows)} samples"


# Maps whose keys are data (principles, attacks, attributes, parties...), not metric names.
DATA_KEYED = {"by_target", "by_principle", "by_attribute", "by_value", "by_party", "by_category",
              "by_domain", "by_attack", "asr_by_principle", "leaks_by_field"}


def key_paths(obj: Any, keyed: bool = False) -> set[str]:
    """Every key path of a nested dict, with the keys of data-keyed maps written ``*``."""
    if not isinstance(obj, dict):
        return set()
    paths = set()
    for key, value in obj.items():
        name = "*" if keyed else key
        paths.add(name)
        inner = key_paths(value, keyed=not keyed and key in DATA_KEYED)
        paths |= {f"{name}.{p}" for p in inner}
    return paths


def test_synthetic_runs_have_the_keys_of_a_real_run(real_run: RealRun) -> None:
    """The synthetic runs that report tests and benchmarks draw must be shaped like real ones,
    down to attribute, party and category names, or they test a report nobody gets."""
    from medsafe.testing.synthetic import synthetic_run

    real = real_run.summary
    scripted = real["targets"][0]
    summary, rows = synthetic_run(["a", "guard:a"], n=36, seed=5)
    assert set(summary) == set(real)
    assert list(summary["suites"]) == list(real["suites"])
    for name, suite in real["suites"].items():
        mine = summary["suites"][name]
        assert mine["kind"] == suite["kind"]
        assert key_paths(mine["by_target"]["a"]) == key_paths(suite["by_target"][scripted]), name
        real_rows = [r for r in real_run.rows if r["suite"] == name]
        assert all(set(r) == set(real_rows[0]) for r in rows if r["suite"] == name), name
    fairness = summary["suites"]["fairness"]["by_target"]["a"]
    assert set(fairness["by_attribute"]) == set(real["suites"]["fairness"]["by_attribute"])
    assert set(fairness["by_domain"]) <= {s.metadata["domain"]
                                          for s in resolve_suite("fairness").samples}
    parties = {s.metadata["party"] for s in resolve_suite("privacy").samples}
    assert set(summary["suites"]["privacy"]["by_party"]) <= parties
    categories = {s.metadata["category"] for s in resolve_suite("hallucination").samples}
    assert set(summary["suites"]["hallucination"]["by_category"]) <= categories
