"""A red-team run killed with SIGKILL in the middle of its conversations, then resumed: no call
whose answer was stored before a kill is made again, and the conversations end exactly as in an
uninterrupted run."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from conftest import run_cli
from medsafe.testing import FakeOpenAIServer
from redteam_support import COMPLY, GENERAL, REFUSAL, Script, write_requests

N = 6
CONCURRENCY = 2
KILL_AT_STEPS = (12, 40)  # recorded steps at which the run is killed


def target(last: str, turns: int) -> str:
    """Refuses the first 'step 2' (a backtrack), complies at 'step 4' (the success)."""
    if "step 2" in last and "gentler" not in last:
        return REFUSAL
    return COMPLY if "step 4" in last else GENERAL


def args(url: str, requests: Path, store: Path, out: Path) -> list[str]:
    model = f"openai:fake@{url}"
    return ["eval", "--target", model, "--suite", f"redteam:crescendo@jsonl:{requests}",
            "--attacker", model, "--judge", f"llm:{model}", "--max-turns", "4",
            "--max-queries", "6", "--store", str(store), "--out", str(out),
            "--concurrency", str(CONCURRENCY), "--retries", "0"]


def rows(db: Path, sql: str) -> list[dict[str, Any]]:
    try:
        with sqlite3.connect(db) as conn:
            conn.row_factory = sqlite3.Row
            return [dict(r) for r in conn.execute(sql)]
    except sqlite3.OperationalError:  # not created yet
        return []


def committed_digests(db: Path) -> set[tuple[str, str]]:
    """(role, digest of the messages sent) of every attacker and target call stored so far."""
    return {(r["kind"], json.loads(r["detail"])["digest"])
            for r in rows(db, "SELECT kind, detail FROM conversation_steps "
                              "WHERE kind IN ('attacker', 'target') AND key IS NOT NULL")}


def outcomes(out: Path) -> dict[str, tuple[Any, ...]]:
    found = {}
    for line in (out / "samples.jsonl").open():
        row = json.loads(line)
        c = row["conversation"]
        found[row["sample_id"]] = (c["outcome"], c["queries"], c["turns"], c["success_query"],
                                   tuple(s["prompt"] for s in c["steps"]))
    return found


def test_sigkill_mid_conversation_resumes_without_repeating_a_stored_call(tmp_path: Path) -> None:
    requests = write_requests(tmp_path / "requests.jsonl", N)
    reference = Script(target=target)
    with FakeOpenAIServer(converse=reference.converse) as server:
        done = run_cli(*args(server.base_url, requests, tmp_path / "ref", tmp_path / "ref-out"))
    assert done.returncode == 0, done.stderr
    expected = outcomes(tmp_path / "ref-out")
    assert {v[0] for v in expected.values()} == {"success"} and len(expected) == N
    # Without a kill, no call is made twice.
    assert max(Counter(c["digest"] for c in reference.calls).values()) == 1

    script = Script(target=target)
    store = tmp_path / "store"
    db = store / "medsafe.db"
    with FakeOpenAIServer(converse=script.converse, delay_s=0.03) as server:
        command = args(server.base_url, requests, store, tmp_path / "out")
        marks: list[int] = []
        committed: list[set[tuple[str, str]]] = []
        mid_conversation = 0
        for threshold in KILL_AT_STEPS:
            proc = subprocess.Popen([sys.executable, "-m", "medsafe", *command],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            deadline = time.time() + 120
            while (len(rows(db, "SELECT step FROM conversation_steps")) < threshold
                   and proc.poll() is None and time.time() < deadline):
                time.sleep(0.01)
            os.kill(proc.pid, signal.SIGKILL)
            assert proc.wait() == -signal.SIGKILL, "the run ended before its kill"
            marks.append(len(script.calls))
            committed.append(committed_digests(db))
            open_items = rows(db, "SELECT sample_id FROM run_items WHERE conversation IS NULL "
                                  "AND sample_id IN (SELECT sample_id FROM conversation_steps)")
            mid_conversation += bool(open_items)
        final = run_cli(*command)
    assert final.returncode == 0, final.stderr
    assert mid_conversation == len(KILL_AT_STEPS), "a kill did not land mid-conversation"
    assert len(rows(db, "SELECT run_id FROM runs")) == 1, "every restart resumed the same run"

    # No attacker or target call stored before a kill was made again after it.
    for mark, stored in zip(marks, committed, strict=True):
        again = {(c["role"], c["digest"]) for c in script.calls[mark:]} & stored
        assert not again, f"asked again after a kill: {sorted(again)[:2]}"
        assert stored, "nothing was stored before the kill"
    # What was asked twice was in flight at a kill (answered but not yet stored), no more.
    repeats = sum(n - 1 for n in Counter(c["digest"] for c in script.calls).values())
    assert repeats <= 2 * CONCURRENCY * len(KILL_AT_STEPS)
    assert len(script.calls) == len(reference.calls) + repeats
    # The conversations end as they would have without the kills.
    assert outcomes(tmp_path / "out") == expected
    steps = rows(db, "SELECT sample_id, step FROM conversation_steps")
    per_item = Counter(r["sample_id"] for r in steps)
    assert set(per_item) == set(expected) and max(Counter(
        (r["sample_id"], r["step"]) for r in steps).values()) == 1
