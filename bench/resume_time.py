"""Time to resume a finished 900-sample run (everything cached), measured side by side.

    python bench/resume_time.py [--samples 900] [--repeats 3] [--judge classifier]

A local OpenAI-compatible server (its own process) answers a first ``medsafe eval`` of the
900 prompts of ``harm:all`` with the default classifier judge, so the store holds every
response and verdict. Then, each repeated and timed:

- ``cli rerun``: the same ``medsafe eval`` command again (a new run, answered from the cache),
  a fresh interpreter as a user would start it;
- ``cli --resume``: ``medsafe eval --resume RUN_ID`` on the finished run;
- ``api rerun``: ``medsafe.evaluate`` with the same configuration in a warm process (no
  interpreter start-up or imports: what the harness itself costs);
- ``python imports``: ``python -c "import medsafe.api"``, the floor of any CLI call.

Each includes writing summary.json, samples.jsonl and report.html. Medians over the repeats,
wall time and CPU time (user + system: what the resume costs whatever else the machine runs).
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness_overhead import start_server  # bench/ is on the path when run as a script


def timed(cmd: list[str]) -> tuple[float, float]:
    """Wall and CPU (user + system) seconds of a command, which must succeed."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return elapsed, cpu


def main() -> None:
    """Make the finished run, then time its re-runs and resumes."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=900)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--judge", default="classifier")
    args = parser.parse_args()
    from medsafe.api import evaluate
    from medsafe.engine import RunConfig, RunStore, store_file

    server, root = start_server(0.0)
    tmp = Path(tempfile.mkdtemp(prefix="medsafe-resume-"))
    try:
        store = tmp / "store"
        target = f"openai:fake@{root}/v1"
        cli = [sys.executable, "-m", "medsafe", "eval", "--target", target, "--suite", "harm:all",
               "--limit", str(args.samples), "--judge", args.judge, "--store", str(store),
               "--concurrency", "64"]
        first, _ = timed(cli)
        run_store = RunStore(store_file(store))
        run_id = run_store.list_runs()[0]["run_id"]
        items = len(run_store.items(run_id))
        run_store.close()
        config = RunConfig(targets=[target], suites=["harm:all"], limit=args.samples,
                           judge=args.judge)
        evaluate(config, store=store)  # warm the API path once (imports, classifier load)
        results: dict[str, list[tuple[float, float]]] = {
            "cli rerun": [], "cli --resume": [], "api rerun": [], "python imports": []}
        for _ in range(args.repeats):
            results["cli rerun"].append(timed(cli))
            results["cli --resume"].append(timed(
                [sys.executable, "-m", "medsafe", "eval", "--resume", run_id, "--store", str(store)]))
            start, cpu = time.perf_counter(), time.process_time()
            result = evaluate(config, store=store)
            results["api rerun"].append((time.perf_counter() - start, time.process_time() - cpu))
            assert result.summary["suites"]["harm:all"]["n"] == items
            results["python imports"].append(timed([sys.executable, "-c", "import medsafe.api"]))
    finally:
        server.terminate()
        server.wait()
    print(f"first run of {items} samples (server answering at once, {args.judge} judge): "
          f"{first:.2f} s")
    print(f"{'what':<15} {'median s':>9} {'min s':>7} {'CPU s':>6}")
    for name, runs in results.items():
        walls = [w for w, _ in runs]
        cpu = statistics.median(c for _, c in runs)
        print(f"{name:<15} {statistics.median(walls):>9.2f} {min(walls):>7.2f} {cpu:>6.2f}")


if __name__ == "__main__":
    main()
