"""Reliability: `medsafe eval` killed with SIGKILL at random points (seeded), resumed, again and
again, under random faults; then the store must hold every sample exactly once and no answer
committed before a kill may have been asked for again."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from conftest import run_cli, write_prompts
from medsafe.testing import FakeOpenAIServer, FaultPlan
from reliability_support import (
    ANSWERS,
    FAULT_ERRORS,
    check_no_call_after_answer,
    check_run,
    committed_prompts,
    db_rows,
    error_kind,
    faults_of,
)

N = 120
KILLS = 4
RETRIES = 3
CONCURRENCY = 4


def test_sigkill_at_random_points_then_resume_loses_and_repeats_nothing(
        tmp_path: Path, reliability_counts: Counter[str]) -> None:
    rng = random.Random(20261122)
    prompts = write_prompts(tmp_path / "p.jsonl", N, prefix="killed run request")
    store = tmp_path / "store"
    db = store / "medsafe.db"
    # The first kill lands during start-up (migrations, planning); the others after a random
    # number of committed answers, plus a random few milliseconds so they hit any phase.
    thresholds = [0, *sorted(rng.sample(range(5, N - 40), KILLS - 1))]
    plan = FaultPlan(rate=0.15, seed=11, retry_after_s=0.05, stall_s=1.3)
    with FakeOpenAIServer(plan=plan, delay_s=0.01) as server:
        args = ["eval", "--target", f"openai:fake@{server.base_url}", "--suite", f"jsonl:{prompts}",
                "--judge", "mock:refusal", "--store", str(store), "--concurrency", str(CONCURRENCY),
                "--timeout", "1.0", "--retries", str(RETRIES), "--out", str(tmp_path / "out")]
        marks: list[int] = []  # server-log position at each kill
        committed_at: list[set[str]] = []  # answers committed at each kill
        for threshold in thresholds:
            proc = subprocess.Popen([sys.executable, "-m", "medsafe", *args],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            deadline = time.time() + 60
            if threshold == 0:
                time.sleep(rng.uniform(0.2, 0.8))
            while (len(committed_prompts(db)) < threshold and proc.poll() is None
                   and time.time() < deadline):
                time.sleep(0.01)
            time.sleep(rng.uniform(0, 0.05))
            os.kill(proc.pid, signal.SIGKILL)
            assert proc.wait() == -signal.SIGKILL, "the run ended before its kill"
            marks.append(len(server.app.log))
            committed_at.append(committed_prompts(db))

        final = run_cli(*args)
        log = list(server.app.log)
    assert final.returncode == 0, final.stderr
    assert "Traceback" not in final.stderr

    run_id = db_rows(db, "SELECT run_id FROM runs")[0]["run_id"]
    assert len(db_rows(db, "SELECT run_id FROM runs")) == 1, "every restart resumed the same run"
    counts = check_run(db, run_id, {f"s{i:03d}" for i in range(N)}, RETRIES)
    # Nothing committed before a kill was asked for again afterwards, and a kill lost at most
    # the answers of one turn of the event loop (bounded by the requests in flight).
    for start, mark, committed in zip([0, *marks], marks, committed_at, strict=False):
        asked_again = {p for p, _ in log[mark:]} & committed
        assert not asked_again, f"asked again after a kill: {sorted(asked_again)[:3]}"
        answered = {p for p, a in log[start:mark] if a in ANSWERS}
        assert len(answered - committed) <= 2 * CONCURRENCY, "a kill lost more than was in flight"
    # The last, uninterrupted run: no answered prompt asked twice, and each of its faults is
    # one logged attempt of the matching kind.
    last = log[marks[-1]:]
    check_no_call_after_answer(last)
    logged = Counter(error_kind(a["error"]) for a in db_rows(db, "SELECT error FROM attempts"))
    injected = Counter(FAULT_ERRORS[a] for _, a in log if a in FAULT_ERRORS)
    # Faults that hit a request in flight at a kill may die with it, never more than injected.
    assert all(logged[k] <= injected[k] for k in logged)
    in_last = Counter(FAULT_ERRORS[a] for _, a in last if a in FAULT_ERRORS)
    assert all(logged[k] >= in_last[k] for k in in_last)
    assert len(set(committed_at[-1])) > len(set(committed_at[0])), "kills landed at one point"

    reliability_counts["kills"] += len(marks)
    reliability_counts["samples"] += counts["samples"]
    reliability_counts["runs"] += 1
    reliability_counts["faults_injected"] += sum(faults_of(log).values())
    reliability_counts["lost_samples"] += 0
    reliability_counts["duplicated_samples"] += 0
