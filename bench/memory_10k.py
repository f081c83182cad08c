"""Peak memory of a 10,000-sample run, model excluded, measured side by side.

    python bench/memory_10k.py [--samples 10000] [--concurrency 64]

The target is a local OpenAI-compatible server in its own process (so no model weights count);
each configuration runs ``medsafe.evaluate`` in a fresh process over the same 10,000 prompts
(the harm requests, numbered) and reports the peak resident set size of that process
(``getrusage`` ``ru_maxrss``) next to its size once medsafe and the judge are imported and
loaded, before the run. Judges: the default ``classifier`` (its model is part of medsafe) and
``mock:refusal`` (no judge model at all). Outputs (summary.json, samples.jsonl, report.html)
are written as usual.
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
    """In a fresh process: load the judge and the suite, then run and report peak RSS."""
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
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        result = evaluate(config, store=Path(tmp))
        wall = time.perf_counter() - start
        html_mb = (result.out_dir / "report.html").stat().st_size / 2**20
    suite = next(iter(result.summary["suites"].values()))
    print(json.dumps({"baseline_mb": baseline, "peak_mb": rss_mb(), "wall_s": wall,
                      "n": suite["n"], "errors": suite["errors"], "report_mb": html_mb}))


def main() -> None:
    """Write the prompts, start the server, run each judge's configuration in its own process."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--judges", nargs="+", default=["classifier", "mock:refusal"])
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--judge", help=argparse.SUPPRESS)
    parser.add_argument("--base", help=argparse.SUPPRESS)
    parser.add_argument("--prompts", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    from medsafe.data import load_bundled

    requests = [r["request"] for r in load_bundled("harm")]
    server, root = start_server(0.0)
    tmp = Path(tempfile.mkdtemp(prefix="medsafe-mem-"))
    prompts = tmp / "prompts.jsonl"
    with prompts.open("w") as fh:
        for i in range(args.samples):
            text = f"{requests[i % len(requests)]} (case {i})"
            fh.write(json.dumps({"id": f"m{i:05d}", "principle": i % 9 + 1, "request": text}) + "\n")
    print(f"{args.samples} samples, openai target on a local server, concurrency {args.concurrency}")
    print(f"{'judge':<14} {'before run MB':>13} {'peak MB':>8} {'run adds MB':>11} {'wall s':>7} "
          f"{'report MB':>9}")
    try:
        for judge in args.judges:
            done = subprocess.run(
                [sys.executable, __file__, "--child", "--judge", judge, "--base", f"{root}/v1",
                 "--prompts", str(prompts), "--concurrency", str(args.concurrency)],
                capture_output=True, text=True)
            if done.returncode != 0:
                raise SystemExit(done.stderr)
            got = json.loads(done.stdout.strip().splitlines()[-1])
            assert got["n"] == args.samples and got["errors"] == 0, got
            print(f"{judge:<14} {got['baseline_mb']:>13.0f} {got['peak_mb']:>8.0f} "
                  f"{got['peak_mb'] - got['baseline_mb']:>11.0f} {got['wall_s']:>7.1f} "
                  f"{got['report_mb']:>9.1f}")
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
