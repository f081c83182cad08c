"""How fast a large HTML report renders, how big it is, and how fast it opens in Chromium.

Builds synthetic runs (two targets, every suite kind, answers of realistic length) of 1,000 and
10,000 samples plus a tiny one (the fixed cost of the inlined plotly.js), writes each report,
then opens each in headless Chromium three times and reports medians: DOMContentLoaded, the load
event, and the moment the last plot is drawn (all from navigation start, read from the page's
own performance clock), plus the time to filter the samples by suite and to run a text search.
The smallest report measures the fixed cost (parsing the inlined plotly.js, drawing the plots);
the last column is each report's time to plots drawn over the smallest one's.

    python bench/report_10k.py [--samples 10000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from medsafe.report import render_report
from medsafe.testing.browser import HeadlessChromium
from medsafe.testing.synthetic import synthetic_run

TARGETS = ["embedded:smollm2", "guard:embedded:smollm2"]
ROWS_PER_N = 7  # rows per target for each unit of n: 4 scored suites, privacy, hallucination, ~fairness
READY = "document.documentElement.getAttribute('data-plots-drawn')"
TIMINGS = """
const nav = performance.getEntriesByType('navigation')[0];
return [nav.domContentLoadedEventEnd, nav.loadEventEnd, window.medsafePlotsDrawnAt];
"""
FILTER = """
const done = arguments[arguments.length - 1];
const [id, value, kind] = [arguments[0], arguments[1], arguments[2]];
const control = document.getElementById(id);
const count = document.getElementById('sample-count');
const before = count.textContent;
const start = performance.now();
control.value = value;
control.dispatchEvent(new Event(kind));
const poll = () => count.textContent !== before ? done(performance.now() - start)
                                                 : setTimeout(poll, 1);
poll();
"""


def build(samples: int, folder: Path) -> tuple[Path, int, float]:
    """Write the report of a synthetic run of about ``samples`` rows; (path, rows, seconds)."""
    n = max(2, samples // (ROWS_PER_N * len(TARGETS)))
    summary, rows = synthetic_run(TARGETS, n=n, seed=0, answer_chars=800)
    start = time.perf_counter()
    html = render_report(summary, rows)
    seconds = time.perf_counter() - start
    path = folder / f"report-{samples}.html"
    path.write_text(html, encoding="utf-8")
    return path, len(rows), seconds


def open_times(browser: HeadlessChromium, path: Path, repeats: int) -> dict[str, float]:
    """Median milliseconds of each stage over ``repeats`` fresh loads."""
    stages: dict[str, list[float]] = {k: [] for k in
                                      ("dom", "load", "plots", "wall", "suite", "search")}
    for _ in range(repeats):
        browser.driver.get("about:blank")
        start = time.perf_counter()
        load = browser.open(path, READY, timeout=120)
        stages["wall"].append(1000 * (time.perf_counter() - start))
        if load.console_errors or load.other_requests:
            raise RuntimeError(f"{path}: {load.console_errors} {load.other_requests}")
        dom, loaded, plots = browser.js(TIMINGS)
        stages["dom"].append(dom)
        stages["load"].append(loaded)
        stages["plots"].append(plots)
        stages["suite"].append(browser.driver.execute_async_script(FILTER, "f-suite", "harm",
                                                                   "change"))
        stages["search"].append(browser.driver.execute_async_script(FILTER, "f-q", "nurse chart",
                                                                    "input"))
    return {k: statistics.median(v) for k, v in stages.items()}


def main() -> None:
    """Print the table of figures and ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    sizes = [50, max(50, args.samples // 10), args.samples]
    with tempfile.TemporaryDirectory() as tmp, HeadlessChromium() as browser:
        build(sizes[0], Path(tmp))  # warm-up: imports and template compilation
        built = [build(s, Path(tmp)) for s in sizes]
        results = [(rows, secs, path.stat().st_size / 1e6, open_times(browser, path, args.repeats))
                   for path, rows, secs in built]
    base = results[0][3]["plots"]
    print(f"medians of {args.repeats} loads in headless Chromium; times in ms from navigation "
          "start (render: Python, s)")
    print(f"{'samples':>8} {'MB':>6} {'render s':>9} {'DOM ready':>10} {'load':>7} "
          f"{'plots drawn':>12} {'wall':>7} {'filter':>7} {'search':>7} {'vs smallest':>11}")
    for rows, secs, mb, t in results:
        print(f"{rows:>8} {mb:>6.1f} {secs:>9.2f} {t['dom']:>10.0f} {t['load']:>7.0f} "
              f"{t['plots']:>12.0f} {t['wall']:>7.0f} {t['suite']:>7.0f} {t['search']:>7.0f} "
              f"{t['plots'] / base:>11.2f}")


if __name__ == "__main__":
    main()
