"""The HTML report in headless Chromium: it loads offline with no console errors, draws its
plots, filters samples, and shows hostile model output as text without running anything."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from medsafe.report import render_report
from medsafe.testing.browser import HeadlessChromium, chromium_paths
from medsafe.testing.synthetic import synthetic_run

pytestmark = pytest.mark.skipif(
    chromium_paths() is None,
    reason="chromium and chromium-driver are not installed (`make install-test` installs them)")

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
TARGETS = ["embedded:smollm2", "guard:embedded:smollm2", "openai:m@http://127.0.0.1:8000/v1"]
PLOTS_READY = ("document.documentElement.getAttribute('data-plots-drawn') || "
               "document.documentElement.getAttribute('data-plots-error')")
HOSTILE = (
    "<script>window.__pwned = 1</script>"
    "<img src=x onerror=\"window.__pwned = 2\">"
    "<img src=\"http://127.0.0.1:9/beacon.png\">"
    "<a href=\"javascript:window.__pwned = 3\">open</a>"
    "</pre></details></div></script><script>window.__pwned = 4</script>"
    "<!-- <svg onload=\"window.__pwned = 5\"> ]]> </textarea><iframe srcdoc=\"x\"></iframe>"
)


@pytest.fixture(scope="module")
def browser() -> Iterator[HeadlessChromium]:
    with HeadlessChromium() as chromium:
        yield chromium


@pytest.fixture(scope="module")
def full_report(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict]]:
    """A report of three targets over all seven suite kinds, with a scorecard, a jury's member
    verdicts and an attached judge meta-evaluation."""
    from medsafe.judges.agreement import agreement

    summary, rows = synthetic_run(TARGETS, n=36, seed=3)
    for i, row in enumerate(r for r in rows if r["suite"] == "harm" and r["score"]):
        second = row["score"] if i % 3 else min(5, row["score"] + 1)
        row["judge_members"] = {"classifier": {"score": row["score"]}, "llm:x": {"score": second}}
    summary["judge_reliability"] = [{"judge": "classifier", "reference": "gold:score",
                                     **agreement([1, 2, 3, 4, 5, 5], [1, 2, 4, 4, 5, 3], n_boot=50)}]
    path = tmp_path_factory.mktemp("report") / "report.html"
    path.write_text(render_report(summary, rows), encoding="utf-8")
    return path, rows


def test_report_of_several_targets_loads_offline_and_draws_every_plot(
        browser: HeadlessChromium, full_report: tuple[Path, list[dict]]) -> None:
    path, _ = full_report
    load = browser.open(path, PLOTS_READY)
    assert browser.js("return document.documentElement.getAttribute('data-plots-error')") is None
    assert load.console_errors == []
    assert load.other_requests == [], "the report must not touch the network"
    divs = browser.js("return [...document.querySelectorAll('.plot')].map(d => d.id)")
    drawn = browser.js("return [...document.querySelectorAll('.plot')]"
                       ".filter(d => d.querySelector('svg.main-svg')).map(d => d.id)")
    assert int(browser.js("return document.documentElement.getAttribute('data-plots-drawn')")) \
        == len(divs)
    assert drawn == divs
    # one figure of each kind the issue asks for
    for fig in ("fig-principle-0", "fig-dist-0", "fig-tradeoff", "fig-heat-", "fig-fair-0",
                "fig-priv-0", "fig-forest-0", "fig-confusion-0", "fig-confusion-1"):
        assert any(d.startswith(fig) for d in divs), fig
    arrows = browser.js("return document.querySelectorAll('#fig-tradeoff .annotation-arrow-g')"
                        ".length")
    assert arrows == 1  # embedded:smollm2 -> guard:embedded:smollm2
    header = browser.js("return [...document.querySelectorAll('#scorecard-table th')]"
                        ".map(th => th.textContent)")
    assert header[3:] == TARGETS
    shot = browser.screenshot(ARTIFACTS / "report-several-targets.png")
    print(f"screenshot: {shot}")
    assert shot.stat().st_size > 50_000


def _count(browser: HeadlessChromium) -> str:
    return browser.js("return document.getElementById('sample-count').textContent")


def _set(browser: HeadlessChromium, control: str, value: str) -> None:
    browser.js("const c = document.getElementById(arguments[0]); c.value = arguments[1];"
               "c.dispatchEvent(new Event(c.tagName === 'INPUT' ? 'input' : 'change'));",
               control, value)


def _cards(browser: HeadlessChromium) -> list[str]:
    return browser.js("return [...document.querySelectorAll('#sample-list > details > summary')]"
                      ".map(s => s.textContent)")


def test_sample_filters_select_the_matching_samples(
        browser: HeadlessChromium, full_report: tuple[Path, list[dict]]) -> None:
    path, rows = full_report
    browser.open(path, PLOTS_READY)
    assert _count(browser) == f"{len(rows)} of {len(rows)} samples"

    _set(browser, "f-suite", "overrefusal")
    _set(browser, "f-series", TARGETS[1])
    expected = [r for r in rows if r["suite"] == "overrefusal" and r["target"] == TARGETS[1]]
    browser.wait_for(f"document.getElementById('sample-count').textContent.startsWith("
                     f"'{len(expected)} of')", 5)
    cards = _cards(browser)
    assert len(cards) == min(50, len(expected))
    assert all("overrefusal" in c and TARGETS[1] in c for c in cards)

    _set(browser, "f-suite", "harm")
    _set(browser, "f-score", "5")
    _set(browser, "f-principle", "3")
    expected = [r for r in rows if r["suite"] == "harm" and r["target"] == TARGETS[1]
                and r["score"] == 5 and r["principle"] == 3]
    browser.wait_for(f"document.getElementById('sample-count').textContent.startsWith("
                     f"'{len(expected)} of')", 5)
    assert all(c.startswith("score 5") for c in _cards(browser))

    for control in ("f-suite", "f-score", "f-principle", "f-series"):
        _set(browser, control, "")
    wanted = next(r for r in rows if r["suite"] == "jailbreak" and r["target"] == TARGETS[2])
    _set(browser, "f-q", wanted["sample_id"].upper())  # search ignores case
    matches = [r for r in rows if wanted["sample_id"].lower() in r["sample_id"].lower()]
    browser.wait_for(f"document.getElementById('sample-count').textContent.startsWith("
                     f"'{len(matches)} of')", 5)
    assert any(wanted["sample_id"] in c and TARGETS[2] in c for c in _cards(browser))


def test_hostile_model_output_is_shown_as_text_and_runs_nothing(
        browser: HeadlessChromium, tmp_path: Path) -> None:
    target = "mock:<img src=x onerror=\"window.__pwned = 6\">"
    summary, rows = synthetic_run(["mock:refuse", target], n=9, seed=1, new_kinds=False)
    hostile = next(r for r in rows if r["target"] == target and r["suite"] == "harm")
    hostile.update(response=HOSTILE, rationale=HOSTILE, sample_id="xss-1",
                   metadata={"note": HOSTILE}, reference=HOSTILE,
                   messages=[{"role": "user", "content": HOSTILE}])
    path = tmp_path / "hostile.html"
    path.write_text(render_report(summary, rows), encoding="utf-8")

    load = browser.open(path, PLOTS_READY)
    _set(browser, "f-q", "xss-1")
    browser.wait_for("document.getElementById('sample-count').textContent.startsWith('1 of')", 5)
    browser.js("document.querySelector('#sample-list > details').open = true")
    browser.wait_for("document.querySelector('#sample-list .body')", 5)
    shown = browser.js("return [...document.querySelectorAll('#sample-list .body pre')]"
                       ".map(p => p.textContent)")
    assert f"[user] {HOSTILE}" in shown  # the prompt
    assert shown.count(HOSTILE) >= 3  # answer, rationale and reference, verbatim
    injected = browser.js("return document.querySelectorAll('#sample-list img, #sample-list a, "
                          "#sample-list script, #sample-list iframe, #sample-list svg, "
                          "img, iframe').length")
    assert injected == 0
    assert browser.js("return window.__pwned === undefined")
    assert browser.js("return document.querySelectorAll('script').length") == 4
    header = browser.js("return [...document.querySelectorAll('#scorecard-table th')]"
                        ".map(th => th.textContent)")
    assert target in header
    load = browser.collect(load.url)  # everything logged while filtering and expanding
    assert load.console_errors == []
    assert load.other_requests == []


def test_report_without_the_new_suites_or_a_scorecard_still_renders(
        browser: HeadlessChromium, tmp_path: Path) -> None:
    summary, rows = synthetic_run(["embedded:smollm2"], n=18, seed=2, new_kinds=False,
                                  scorecard=False)
    for name in ("overrefusal", "jailbreak", "mcq"):
        del summary["suites"][name]
    rows = [r for r in rows if r["suite"] == "harm"]
    path = tmp_path / "plain.html"
    path.write_text(render_report(summary, rows), encoding="utf-8")
    load = browser.open(path, PLOTS_READY)
    assert load.console_errors == [] and load.other_requests == []
    divs = browser.js("return [...document.querySelectorAll('.plot')].map(d => d.id)")
    assert divs == ["fig-principle-0", "fig-dist-0"]
    assert browser.js("return document.getElementById('fig-tradeoff')") is None
    assert "mean harm score" in browser.js(
        "return document.getElementById('scorecard-table').textContent")
