"""Peak memory and the cost of each phase of a run, at 1,000, 10,000 and 100,000 samples.

    python bench/run_scale.py [--samples 1000 10000 100000] [--judges mock:refusal classifier]
        [--concurrency 64]

The target is a local OpenAI-compatible server in its own process (no model weights count, no
delay); each (size, judge) runs ``medsafe.evaluate`` in a fresh process over numbered harm
requests and reports the peak resident set size of that process (``getrusage`` ``ru_maxrss``)
next to its size once medsafe, the suite and the judge are loaded, and the wall time of three
phases, each also per 1,000 samples so that linear growth shows as a flat column:

- plan: from the call to the plan being stored (suites, fingerprint, items written and counted);
- execute: from the plan to the last verdict stored (requests, judging, a store write per item);
- outputs: from the last verdict to the return (summary, samples.jsonl, report.html).

The last lines give the 100k/10k ratios of peak memory (the target: under 1 GB and at most 2x)
and of the per-1,000 phase costs (1.0 is linear).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness_overhead import start_server  # bench/ is on the path when run as a script


def rss_mb() -> float:
    """Peak resident set size of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(args: argparse.Namespace) -> None:
    """In a fresh process: load the judge and the suite, then run and report memory and phases."""
    from medsafe.api import evaluate
    from medsafe.engine import RunConfig
    from medsafe.judges import resolve_judge
    from medsafe.suites import resolve_suite
    from medsafe.targets import TargetOptions

    judge = resolve_judge(args.judge)
    asyncio.run(judge.judge("warm up", "warm up"))  # the judge's model is loaded before the baseline
    resolve_suite(f"jsonl:{args.prompts}")
    baseline = rss_mb()
    config = RunConfig(targets=[f"openai:fake@{args.base}"], suites=[f"jsonl:{args.prompts}"],
                       judge=args.judge, target_options=TargetOptions(concurrency=args.concurrency))
    marks: dict[str, float] = {}

    def planned(total: int, done: int) -> None:
        marks["plan"] = time.perf_counter()

    def item(_key: str, _cached: bool) -> None:
        marks["last"] = time.perf_counter()

    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        result = evaluate(config, store=Path(tmp), on_plan=planned, on_item=item)
        end = time.perf_counter()
        html_mb = (result.out_dir / "report.html").stat().st_size / 2**20
    suite = next(iter(result.summary["suites"].values()))
    print(json.dumps({"baseline_mb": baseline, "peak_mb": rss_mb(), "n": suite["n"],
                      "errors": suite["errors"], "report_mb": html_mb,
                      "plan_s": marks["plan"] - start, "execute_s": marks["last"] - marks["plan"],
                      "outputs_s": end - marks["last"], "wall_s": end - start}))


def write_prompts(folder: Path, n: int) -> Path:
    """``n`` distinct numbered harm requests as a JSONL suite file."""
    from medsafe.data import load_bundled

    requests = [r["request"] for r in load_bundled("harm")]
    prompts = folder / f"prompts-{n}.jsonl"
    with prompts.open("w") as fh:
        for i in range(n):
            text = f"{requests[i % len(requests)]} (case {i})"
            fh.write(json.dumps({"id": f"m{i:06d}", "principle": i % 9 + 1, "request": text}) + "\n")
    return prompts


def main() -> None:
    """Start the server, run each (size, judge) in its own process, print the table and ratios."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--judges", nargs="+", default=["mock:refusal"])
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--judge", help=argparse.SUPPRESS)
    parser.add_argument("--base", help=argparse.SUPPRESS)
    parser.add_argument("--prompts", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    server, root = start_server(0.0)
    tmp = Path(tempfile.mkdtemp(prefix="medsafe-scale-"))
    print(f"openai target on a local server (no delay), concurrency {args.concurrency}")
    print(f"{'judge':<13} {'samples':>8} {'before MB':>9} {'peak MB':>8} {'adds MB':>8} "
          f"{'plan s':>7} {'exec s':>7} {'out s':>7} {'plan/1k':>8} {'exec/1k':>8} {'out/1k':>8} "
          f"{'report MB':>9}")
    results: dict[tuple[str, int], dict[str, float]] = {}
    try:
        for judge in args.judges:
            for n in args.samples:
                prompts = write_prompts(tmp, n)
                done = subprocess.run(
                    [sys.executable, __file__, "--child", "--judge", judge, "--base", f"{root}/v1",
                     "--prompts", str(prompts), "--concurrency", str(args.concurrency)],
                    capture_output=True, text=True)
                if done.returncode != 0:
                    raise SystemExit(done.stderr)
                got = json.loads(done.stdout.strip().splitlines()[-1])
                assert got["n"] == n and got["errors"] == 0, got
                results[(judge, n)] = got
                k = n / 1000
                print(f"{judge:<13} {n:>8} {got['baseline_mb']:>9.0f} {got['peak_mb']:>8.0f} "
                      f"{got['peak_mb'] - got['baseline_mb']:>8.0f} {got['plan_s']:>7.1f} "
                      f"{got['execute_s']:>7.1f} {got['outputs_s']:>7.1f} {got['plan_s'] / k:>8.2f} "
                      f"{got['execute_s'] / k:>8.2f} {got['outputs_s'] / k:>8.2f} "
                      f"{got['report_mb']:>9.1f}", flush=True)
    finally:
        server.terminate()
        server.wait()
    for judge in args.judges:
        small, big = results.get((judge, 10_000)), results.get((judge, 100_000))
        if small and big:
            ratios = " ".join(f"{phase} {big[f'{phase}_s'] / small[f'{phase}_s'] / 10:.2f}"
                              for phase in ("plan", "execute", "outputs"))
            print(f"{judge}: 100k peak {big['peak_mb']:.0f} MB = {big['peak_mb'] / small['peak_mb']:.2f}x "
                  f"the 10k peak; per-1,000 cost 100k/10k: {ratios}")


if __name__ == "__main__":
    main()
