"""Reliability: two `medsafe eval` processes writing to one store at once."""

from __future__ import annotations

import multiprocessing
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

from conftest import run_cli, write_prompts
from medsafe.engine.store import RunStore
from medsafe.testing import FakeOpenAIServer, FaultPlan
from reliability_support import (
    check_no_call_after_answer,
    check_run,
    committed_prompts,
    db_rows,
    faults_of,
)

RETRIES = 3


def eval_args(server: FakeOpenAIServer, prompts: Path, store: Path) -> list[str]:
    return ["eval", "--target", f"openai:fake@{server.base_url}", "--suite", f"jsonl:{prompts}",
            "--judge", "mock:refusal", "--store", str(store), "--concurrency", "4",
            "--timeout", "1.0", "--retries", str(RETRIES)]


def start(args: list[str]) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "medsafe", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def test_two_runs_write_one_store_at_once_and_both_are_complete(
        tmp_path: Path, reliability_counts: Counter[str]) -> None:
    n = 80
    files = [write_prompts(tmp_path / f"{name}.jsonl", n, prefix=f"{name} request")
             for name in ("alpha", "beta")]
    store = tmp_path / "store"
    with FakeOpenAIServer(plan=FaultPlan(rate=0.15, seed=5, retry_after_s=0.05, stall_s=1.3),
                          delay_s=0.01) as server:
        procs = [start(eval_args(server, f, store)) for f in files]
        outputs = [p.communicate(timeout=120) for p in procs]
        log = list(server.app.log)
    for proc, (_, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err
        assert "Traceback" not in err and "locked" not in err
    runs = db_rows(store / "medsafe.db", "SELECT run_id, config FROM runs")
    assert len(runs) == 2
    for run in runs:
        counts = check_run(store / "medsafe.db", run["run_id"], {f"s{i:03d}" for i in range(n)},
                           RETRIES)
        reliability_counts["samples"] += counts["samples"]
        reliability_counts["runs"] += 1
    check_no_call_after_answer(log)
    reliability_counts["faults_injected"] += sum(faults_of(log).values())
    reliability_counts["concurrent_processes"] += 2


def test_the_same_run_started_twice_runs_in_one_process_only(
        tmp_path: Path, reliability_counts: Counter[str]) -> None:
    n = 40
    prompts = write_prompts(tmp_path / "p.jsonl", n)
    store = tmp_path / "store"
    release = threading.Event()  # holds the last prompt, so the first run stays unfinished
    with FakeOpenAIServer(delay_s=0.01, hold={"number 39": release}) as server:
        args = [*eval_args(server, prompts, store), "--timeout", "60"]
        first = start(args)
        deadline = time.time() + 60
        while len(committed_prompts(store / "medsafe.db")) < 5 and time.time() < deadline:
            time.sleep(0.02)
        second = run_cli(*args)  # finds the first one's unfinished run, held by the first
        release.set()
        _, first_err = first.communicate(timeout=120)
        after = run_cli(*args)  # the run is finished: a new run, answered from the cache
        log = list(server.app.log)
    assert first.returncode == 0, first_err
    assert second.returncode == 2, second.stderr
    assert "being executed by another process" in second.stderr
    assert "Traceback" not in second.stderr + first_err + after.stderr
    assert after.returncode == 0, after.stderr
    assert len(log) == n, "every prompt was asked exactly once over the three processes"
    runs = db_rows(store / "medsafe.db", "SELECT run_id FROM runs ORDER BY created_at")
    assert len(runs) == 2
    for run in runs:
        check_run(store / "medsafe.db", run["run_id"], {f"s{i:03d}" for i in range(n)}, RETRIES)
    reliability_counts["samples"] += 2 * n
    reliability_counts["runs"] += 2
    reliability_counts["concurrent_processes"] += 2


def open_store_at(path: str, at: float) -> str | None:
    """Open (and so create) the store at wall time ``at``; the error it raised, if any."""
    while time.time() < at:
        pass  # spin rather than sleep, so the processes start within microseconds of each other
    try:
        RunStore(Path(path)).close()
    except Exception as exc:  # the test reports whatever it was
        return repr(exc)
    return None


def test_processes_creating_one_new_store_together_all_open_it(tmp_path: Path) -> None:
    # Before the journal-mode switch waited for the others, about one new store in four opened
    # by four processes at once failed one of them with "database is locked".
    processes, stores = 4, 12
    with multiprocessing.get_context("spawn").Pool(processes) as pool:
        pool.map(abs, range(processes))  # the workers are up before the first race
        errors = []
        for i in range(stores):
            path = str(tmp_path / f"s{i}" / "medsafe.db")
            at = time.time() + 0.3
            errors += [e for e in pool.starmap(open_store_at, [(path, at)] * processes) if e]
    assert errors == []
    for i in range(stores):
        assert RunStore(tmp_path / f"s{i}" / "medsafe.db").applied_migrations()
