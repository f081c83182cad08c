"""report.html of runs of 1,000, 10,000 and 100,000 samples: size, build time, Chromium load time.

Each synthetic run (two targets, every suite kind, answers of realistic length; about 30% of the
rows are failures) goes through the real render path (:func:`medsafe.report.render_report`),
which embeds at most ``--report-samples`` samples (every failure first, then a seeded random
sample) while its figures come from every row. Each report is then opened in headless Chromium
(``--headless --no-sandbox --disable-gpu --disable-background-networking``, the flags of
:class:`medsafe.testing.browser.HeadlessChromium`); the load time is the wall time from the
navigation to the moment the last plot is drawn, and DOM ready / plots drawn are read from the
page's own performance clock. Medians over ``--repeats`` builds and loads.

    python bench/report_scale.py [--sizes 1000 10000 100000] [--repeats 3] [--report-samples 2000]

The 100,000-sample run takes about a minute to synthesise and holds about 1 GB while it does.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from medsafe.report import render_report
from medsafe.report.embedded import REPORT_SAMPLES
from medsafe.testing.browser import HeadlessChromium
from medsafe.testing.synthetic import synthetic_run

TARGETS = ["embedded:smollm2", "guard:embedded:smollm2"]
ROWS_PER_N = 7  # rows per target for each unit of n: 4 scored suites, privacy, hallucination, ~fairness
SCORED_SUITES = 4  # harm, overrefusal, jailbreak, mcq: n rows each per target, however large n
READY = "document.documentElement.getAttribute('data-plots-drawn')"
TIMINGS = """
const nav = performance.getEntriesByType('navigation')[0];
return [nav.domContentLoadedEventEnd, window.medsafePlotsDrawnAt];
"""
STATEMENT = "const p = document.getElementById('sample-embedded'); return p && p.textContent;"


def build(samples: int, folder: Path, repeats: int, cap: int) -> tuple[Path, int, list[float]]:
    """Render the report of a synthetic run of about ``samples`` rows ``repeats`` times;
    (path, rows, seconds of each render)."""
    n = max(2, samples // (ROWS_PER_N * len(TARGETS)))
    summary, rows = synthetic_run(TARGETS, n=n, seed=0, answer_chars=800)
    if len(rows) < 0.98 * samples:  # the bundled fairness, privacy and hallucination suites ran out
        n += (samples - len(rows)) // (SCORED_SUITES * len(TARGETS))
        summary, rows = synthetic_run(TARGETS, n=n, seed=0, answer_chars=800)
    seconds, html = [], ""
    for _ in range(repeats):
        start = time.perf_counter()
        html = render_report(summary, rows, max_samples=cap, store="medsafe-runs")
        seconds.append(time.perf_counter() - start)
    path = folder / f"report-{samples}.html"
    path.write_text(html, encoding="utf-8")
    return path, len(rows), seconds


def load_times(browser: HeadlessChromium, path: Path, repeats: int) -> dict[str, Any]:
    """Milliseconds of each fresh load: wall to plots drawn, DOM ready, plots drawn."""
    stages: dict[str, list[float]] = {"wall": [], "dom": [], "plots": []}
    for _ in range(repeats):
        browser.driver.get("about:blank")
        start = time.perf_counter()
        load = browser.open(path, READY, timeout=300)
        stages["wall"].append(1000 * (time.perf_counter() - start))
        if load.console_errors or load.other_requests:
            raise RuntimeError(f"{path}: {load.console_errors} {load.other_requests}")
        dom, plots = browser.js(TIMINGS)
        stages["dom"].append(dom)
        stages["plots"].append(plots)
    return {k: statistics.median(v) for k, v in stages.items()} | {
        "statement": browser.js(STATEMENT)}


def main() -> None:
    """Print one line per size, then each report's statement about its samples."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--report-samples", type=int, default=REPORT_SAMPLES)
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        build(50, Path(tmp), 1, args.report_samples)  # warm-up: imports, template compilation
        with HeadlessChromium() as browser:
            for size in args.sizes:
                path, rows, seconds = build(size, Path(tmp), args.repeats, args.report_samples)
                results.append((rows, path.stat().st_size / 1e6, statistics.median(seconds),
                                load_times(browser, path, args.repeats)))
    print(f"medians of {args.repeats} builds and {args.repeats} loads in headless Chromium; "
          f"at most {args.report_samples} samples embedded")
    print(f"{'samples':>8} {'MB':>6} {'build s':>8} {'load s':>7} {'DOM ready ms':>13} "
          f"{'plots drawn ms':>15}")
    for rows, mb, secs, t in results:
        print(f"{rows:>8} {mb:>6.2f} {secs:>8.2f} {t['wall'] / 1000:>7.2f} {t['dom']:>13.0f} "
              f"{t['plots']:>15.0f}")
    for rows, _, _, t in results:
        print(f"{rows}: {t['statement'] or 'every sample embedded'}")


if __name__ == "__main__":
    main()
