"""``medsafe view`` on a large run: how long its pages take and how much memory it holds.

    python bench/view_scale.py [--samples 100000] [--store DIR]

Builds a run of ``--samples`` numbered harm requests against a local OpenAI-compatible server
(``mock:refusal`` judge; reused when ``--store`` already holds it), then, in a fresh process,
serves the store with ``medsafe view``'s application and times its pages through FastAPI's test
client: the run list (which computes the run's summary), the run's first page (which loads its
rows), a later page, a text search over every sample, and the full report. Each line gives the
seconds, the size of the answer and the peak resident memory of the serving process so far.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness_overhead import start_server  # bench/ is on the path when run as a script
from run_scale import write_prompts


def build(store: Path, samples: int) -> str:
    """The id of a finished run of ``samples`` requests in ``store`` (made now if missing)."""
    from medsafe.api import evaluate
    from medsafe.engine import RunConfig
    from medsafe.targets import TargetOptions

    server, root = start_server(0.0)
    try:
        prompts = write_prompts(store.parent, samples)
        config = RunConfig(targets=[f"openai:fake@{root}/v1"], suites=[f"jsonl:{prompts}"],
                           judge="mock:refusal", target_options=TargetOptions(concurrency=64))
        return evaluate(config, store=store).run_id
    finally:
        server.terminate()
        server.wait()


def serve_and_time(store: Path, run_id: str) -> None:
    """In a fresh process: time view's pages for the run."""
    from fastapi.testclient import TestClient

    from medsafe.report.view import create_app

    client = TestClient(create_app(store))
    for what, path in [("run list (the run's summary)", "/"),
                       ("first page (loads the run)", f"/runs/{run_id}"),
                       ("page 50", f"/runs/{run_id}?page=50"),
                       ("search every sample", f"/api/runs/{run_id}/samples?q=case%2012345"),
                       ("full report", f"/runs/{run_id}/report")]:
        start = time.perf_counter()
        reply = client.get(path)
        seconds = time.perf_counter() - start
        assert reply.status_code == 200, (path, reply.status_code)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"{what:<29} {seconds:>7.2f} {len(reply.content) / 1024:>9.0f} {peak:>8.0f}",
              flush=True)


def main() -> None:
    """Build (or reuse) the run, then time view on it in a fresh process."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=100_000)
    parser.add_argument("--store", type=Path, help="a folder to keep the run in between uses")
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    args = parser.parse_args()
    store = args.store or Path(tempfile.mkdtemp(prefix="medsafe-view-")) / "store"
    if args.serve:
        serve_and_time(store, args.serve)
        return
    store.mkdir(parents=True, exist_ok=True)
    marker = store / f"run-{args.samples}.json"
    if marker.exists():
        run_id = json.loads(marker.read_text())["run_id"]
    else:
        run_id = build(store, args.samples)
        marker.write_text(json.dumps({"run_id": run_id}))
    print(f"medsafe view on a run of {args.samples:,} samples ({run_id})")
    print(f"{'page':<29} {'seconds':>7} {'answer KB':>9} {'peak MB':>8}")
    try:
        subprocess.run([sys.executable, __file__, "--store", str(store), "--serve", run_id],
                       check=True)
    finally:
        if args.store is None:
            shutil.rmtree(store.parent, ignore_errors=True)


if __name__ == "__main__":
    main()
