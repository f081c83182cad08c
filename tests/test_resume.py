"""A run killed with SIGKILL resumes with every sample exactly once and no repeated call."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from conftest import run_cli, write_prompts
from medsafe.testing import FakeOpenAIServer


def answered_prompts(db: Path) -> set[str]:
    """Prompts whose response is committed in the store."""
    if not db.exists():
        return set()
    with sqlite3.connect(db) as conn:
        try:
            rows = conn.execute(
                "SELECT sample FROM run_items WHERE response_key IS NOT NULL").fetchall()
        except sqlite3.OperationalError:  # the schema is not there yet
            return set()
    return {json.loads(r[0])["messages"][-1]["content"] for r in rows}


def test_sigkill_mid_run_then_resume_loses_and_repeats_nothing(tmp_path: Path) -> None:
    prompts = write_prompts(tmp_path / "p.jsonl", 40)
    store = tmp_path / "store"
    db = store / "medsafe.db"
    with FakeOpenAIServer(delay_s=0.1) as server:
        args = ["eval", "--target", f"openai:fake@{server.base_url}", "--suite",
                f"jsonl:{prompts}", "--judge", "mock:refusal", "--store", str(store),
                "--concurrency", "2", "--out", str(tmp_path / "out")]
        proc = subprocess.Popen([sys.executable, "-m", "medsafe", *args],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 60
        while len(answered_prompts(db)) < 10 and time.time() < deadline:
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        before = answered_prompts(db)
        assert 10 <= len(before) < 40, "the kill should land mid-run"

        resumed = run_cli(*args)
        assert resumed.returncode == 0, resumed.stderr
        assert "resumed" in resumed.stderr
        requests = dict(server.app.requests)

    rows = [json.loads(line) for line in (tmp_path / "out" / "samples.jsonl").open()]
    assert sorted(r["sample_id"] for r in rows) == [f"s{i:03d}" for i in range(40)]
    assert all(r["score"] is not None for r in rows)
    for prompt in before:
        assert requests[prompt] == 1, f"{prompt!r} was answered before the kill but asked again"
    assert len(requests) == 40


RESUME_IMPORTS = """
import runpy, sys
sys.argv = ["medsafe", *sys.argv[1:]]
try:
    runpy.run_module("medsafe", run_name="__main__")
except SystemExit as exc:
    if exc.code:
        raise
print(sorted(m for m in ("numpy", "scipy", "sklearn", "aiohttp", "plotly.graph_objects")
             if m in sys.modules))
"""


def test_resuming_a_finished_run_needs_neither_its_target_nor_its_judge(tmp_path: Path) -> None:
    """Nothing is left to answer or judge: the resume rewrites the outputs without calling the
    target (here gone), loading the classifier or importing numpy, scipy or aiohttp."""
    prompts = write_prompts(tmp_path / "p.jsonl", 9)
    store, out = tmp_path / "store", tmp_path / "out"
    with FakeOpenAIServer() as server:
        first = run_cli("eval", "--target", f"openai:fake@{server.base_url}", "--suite",
                        f"jsonl:{prompts}", "--judge", "classifier", "--store", str(store),
                        "--out", str(out))
        assert first.returncode == 0, first.stderr
    summary = json.loads((out / "summary.json").read_text())
    (out / "summary.json").unlink()
    resumed = subprocess.run(
        [sys.executable, "-c", RESUME_IMPORTS, "eval", "--resume", summary["run_id"], "--store",
         str(store), "--out", str(out)], capture_output=True, text=True, timeout=300,
        env={**os.environ, "COLUMNS": "200"})
    assert resumed.returncode == 0, resumed.stderr
    assert f"run {summary['run_id']} resumed" in resumed.stderr
    assert resumed.stdout.strip().splitlines()[-1] == "[]"
    again = json.loads((out / "summary.json").read_text())
    assert again["suites"] == summary["suites"]
    assert len(again["meta"]["resumed_at"]) == 1
    assert len(again["meta"]["executions"]) == 2


def test_a_run_keeps_a_bounded_number_of_items_in_flight_per_target_and_runs_targets_side_by_side(
) -> None:
    """A 100,000-item run must not hold 100,000 coroutines: at most IN_FLIGHT_PER_SLOT x the
    target's concurrency items are in flight for each target, every item is processed once, and
    a second target starts before the first has finished (the plan is ordered by target)."""
    import asyncio
    from collections import Counter
    from types import SimpleNamespace

    from medsafe.engine.runner import IN_FLIGHT_PER_SLOT, run_items

    in_flight: dict[str, int] = {"a": 0, "b": 0}
    peak: dict[str, int] = {"a": 0, "b": 0}
    done: list[tuple[str, int]] = []

    async def process(item: dict) -> None:
        t = item["target"]
        in_flight[t] += 1
        peak[t] = max(peak[t], in_flight[t])
        await asyncio.sleep(0)
        in_flight[t] -= 1
        done.append((t, item["n"]))

    items = ([{"target": "a", "n": i, "judgement_key": None} for i in range(500)]
             + [{"target": "b", "n": i, "judgement_key": None} for i in range(50)]
             + [{"target": "b", "n": 99, "judgement_key": "judged already"}])
    pending = [i for i in items if i["judgement_key"] is None]
    store = SimpleNamespace(  # the two reads run_items makes of the store, over a list
        pending_counts=lambda run_id: Counter(i["target"] for i in pending),
        pending_items=lambda run_id, target: (i for i in pending if i["target"] == target))
    pipeline = SimpleNamespace(store=store, run_id="r", process=process,
                               targets={"a": SimpleNamespace(concurrency=3),
                                        "b": SimpleNamespace(concurrency=1)})
    asyncio.run(run_items(pipeline))  # type: ignore[arg-type]
    assert peak == {"a": IN_FLIGHT_PER_SLOT * 3, "b": IN_FLIGHT_PER_SLOT * 1}
    assert sorted(done) == sorted([("a", i) for i in range(500)] + [("b", i) for i in range(50)])
    first_b = next(i for i, (t, _) in enumerate(done) if t == "b")
    assert first_b < 20  # b started with a, not after a's 500 items
