"""Reliability: random faults with a fixed seed through the real local server.

500s, 429s with Retry-After, stalls past the timeout, dropped connections, truncated and
malformed JSON and empty content, drawn at random: every sample ends present exactly once,
scored or recorded as failed; every injected fault is one logged attempt of the right kind;
nothing answered is asked again; the summary counts every failure.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from conftest import write_prompts
from medsafe.api import evaluate
from medsafe.engine import RunConfig, store_file
from medsafe.targets import TargetOptions
from medsafe.testing import FakeOpenAIServer, FaultPlan
from reliability_support import (
    ANSWERS,
    FAULT_ERRORS,
    by_prompt,
    check_no_call_after_answer,
    check_run,
    db_rows,
    error_kind,
    faults_of,
)

RETRIES = 3


@pytest.mark.parametrize(("seed", "rate"), [(7, 0.3), (2026, 0.5)])
def test_random_faults_lose_nothing_and_log_every_failure(
        tmp_path: Path, seed: int, rate: float, reliability_counts: Counter[str]) -> None:
    n = 160
    prompts = write_prompts(tmp_path / "p.jsonl", n, prefix=f"seed {seed} request")
    # Generous timeout: an answer slowed by a busy machine must not pass for a stall.
    plan = FaultPlan(rate=rate, seed=seed, retry_after_s=0.05, stall_s=1.3)
    with FakeOpenAIServer(plan=plan) as server:
        config = RunConfig(
            targets=[f"openai:fake@{server.base_url}"], suites=[f"jsonl:{prompts}"],
            judge="mock:refusal",
            target_options=TargetOptions(concurrency=32, timeout_s=1.0, max_retries=RETRIES,
                                         backoff_base_s=0.01, backoff_max_s=0.1),
        )
        result = evaluate(config, store=tmp_path / "s")
        log = list(server.app.log)

    db = store_file(tmp_path / "s")
    counts = check_run(db, result.run_id, {f"s{i:03d}" for i in range(n)}, RETRIES)
    check_no_call_after_answer(log)
    # Every injected fault is exactly one logged failed attempt, of the matching kind.
    attempts = db_rows(db, "SELECT error FROM attempts WHERE run_id=?", result.run_id)
    logged = Counter(error_kind(a["error"]) for a in attempts)
    expected = Counter(FAULT_ERRORS[a] for _, a in log if a in FAULT_ERRORS)
    assert logged == expected
    # A prompt that never got an answer is exactly the one recorded as failed.
    never = {p for p, actions in by_prompt(log).items() if not set(actions) & set(ANSWERS)}
    assert len(never) == counts["generation_failures"]
    suite = result.summary["suites"][f"jsonl:{prompts.name}"]
    assert suite["n"] == n and suite["errors"] == suite["generation_errors"] == len(never)
    assert suite["scored"] == n - len(never)
    # Empty content is an answer: stored verbatim and scored, never an error.
    empties = db_rows(db, "SELECT r.text FROM run_items i JOIN responses r ON r.key=i.response_key "
                      "WHERE i.run_id=? AND r.text=''", result.run_id)
    assert len(empties) == sum(1 for _, a in log if a == "empty")

    faults = faults_of(log)
    assert set(faults) == set(FAULT_ERRORS), f"seed {seed} should inject every kind: {faults}"
    reliability_counts["faults_injected"] += sum(faults.values())
    for kind, count in faults.items():
        reliability_counts[f"faults_{kind}"] += count
    reliability_counts["samples"] += counts["samples"]
    reliability_counts["runs"] += 1
    reliability_counts["lost_samples"] += 0  # check_run fails the test otherwise
    reliability_counts["duplicated_samples"] += 0
