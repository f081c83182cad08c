"""The Ray backend: same numbers as the local backend, failures recorded the same way, and a
killed Ray run resumes with nothing repeated. One local Ray instance (2 CPUs) for the module."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import run_cli, write_prompts
from medsafe.api import evaluate
from medsafe.engine import ExecutionOptions, RunConfig, RunStore, store_file
from medsafe.targets import TargetOptions
from medsafe.testing import FakeOpenAIServer, FaultPlan
from reliability_support import committed_prompts

ray = pytest.importorskip("ray", reason="the ray extra is not installed (pip install 'medsafe[ray]')")

RAY = ExecutionOptions(backend="ray", workers=2)
HEADLINE = ("n", "scored", "mean_score", "sem", "ci95", "harmful_rate", "refusal_rate", "errors",
            "generation_errors", "judge_errors", "score_distribution", "by_principle")


@pytest.fixture(scope="module")
def ray_address() -> Iterator[str]:
    """A local Ray instance with 2 CPUs, started once; yields its address for other drivers."""
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()


def headline(summary: dict[str, Any]) -> dict[str, Any]:
    suite = next(iter(summary["suites"].values()))
    return {k: suite[k] for k in HEADLINE}


def per_sample(out: Path) -> dict[str, tuple[Any, ...]]:
    rows = [json.loads(line) for line in (out / "samples.jsonl").open()]
    return {r["sample_id"]: (r["response"], r["score"], r["refusal"], r["error"]) for r in rows}


def assert_ran_on_ray_workers(store: Path, run_id: str, answers: int, verdicts: int) -> None:
    """Every answer and verdict came from a worker process other than this one (the driver),
    and both workers took part: a silent fallback to local execution fails here."""
    db = RunStore(store_file(store))
    work = db.get_run(run_id)["meta"]["ray_work"]  # type: ignore[index]
    db.close()
    assert work["driver_pid"] == os.getpid()
    generated, judged = work["generate"], work["judge"]
    assert sum(generated.values()) == answers and sum(judged.values()) == verdicts
    assert len(generated) == 2 and len(judged) == 2  # RAY has two workers; both were used
    assert str(os.getpid()) not in {*generated, *judged}
    # One node here: it did everything, and none was lost.
    assert [(n["generate"], n["judge"]) for n in work["nodes"].values()] == [(answers, verdicts)]
    assert work["lost_nodes"] == []


def test_ray_gives_the_same_numbers_as_local_with_the_classifier_judge(
        ray_address: str, tmp_path: Path) -> None:
    config = RunConfig(targets=["mock:echo"], suites=["harm"], judge="classifier", limit=90)
    local = evaluate(config, store=tmp_path / "local", out_dir=tmp_path / "out-local")
    remote = evaluate(config, store=tmp_path / "ray", out_dir=tmp_path / "out-ray", execution=RAY)
    assert headline(remote.summary) == headline(local.summary)
    assert per_sample(tmp_path / "out-ray") == per_sample(tmp_path / "out-local")
    assert remote.summary["meta"]["executions"][-1]["backend"] == "ray"
    assert_ran_on_ray_workers(tmp_path / "ray", remote.run_id, answers=90, verdicts=90)
    assert "ray_work" not in local.summary["meta"]
    # The classifier scored echoes of harmful requests: a real spread, not a constant.
    assert len({s for s in per_sample(tmp_path / "out-ray").values()}) > 1


def test_ray_retries_and_records_failures_exactly_as_local(ray_address: str, tmp_path: Path) -> None:
    prompts = write_prompts(tmp_path / "p.jsonl", 10)  # 10+ would also match "number 1"
    script = {"number 0": ["429", "500"], "number 1": ["stall"], "number 2": ["malformed"],
              "number 3": ["500"] * 10, "number 4": ["drop"], "number 5": ["empty"]}
    outcomes = {}
    for backend in ("local", "ray"):
        plan = FaultPlan(script=script, retry_after_s=0.1, stall_s=2.0)
        with FakeOpenAIServer(plan=plan) as server:
            config = RunConfig(
                targets=[f"openai:fake@{server.base_url}"], suites=[f"jsonl:{prompts}"],
                judge="mock:refusal",
                target_options=TargetOptions(timeout_s=0.5, max_retries=2, backoff_base_s=0.01,
                                             backoff_max_s=0.2),
            )
            result = evaluate(config, store=tmp_path / backend,
                              execution=ExecutionOptions(backend=backend, workers=2))  # type: ignore[arg-type]
            requests = dict(server.app.requests)
        store = RunStore(store_file(tmp_path / backend))
        attempts = sorted((a["sample_id"], a["attempt"], a["error"].split(":")[0])
                          for a in store.attempts(result.run_id))
        store.close()
        outcomes[backend] = (headline(result.summary), requests, attempts)
    assert outcomes["ray"] == outcomes["local"]
    summary, requests, attempts = outcomes["ray"]
    assert summary["generation_errors"] == 1 and summary["scored"] == 9
    assert requests["request number 3"] == 3  # 1 + 2 retries, each logged
    assert [a for a in attempts if a[0] == "s003"] == [("s003", n, "HTTP 500") for n in (1, 2, 3)]


def test_killed_ray_run_resumes_without_repeating_a_call(ray_address: str, tmp_path: Path) -> None:
    prompts = write_prompts(tmp_path / "p.jsonl", 40)
    store = tmp_path / "store"
    with FakeOpenAIServer(delay_s=0.1) as server:
        args = ["eval", "--target", f"openai:fake@{server.base_url}", "--suite", f"jsonl:{prompts}",
                "--judge", "mock:refusal", "--store", str(store), "--concurrency", "1",
                "--out", str(tmp_path / "out"), "--backend", "ray", "--ray-address", ray_address]
        proc = subprocess.Popen([sys.executable, "-m", "medsafe", *args],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 120
        while len(committed_prompts(store / "medsafe.db")) < 8 and time.time() < deadline:
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        before = committed_prompts(store / "medsafe.db")
        at_kill = dict(server.app.requests)
        assert 8 <= len(before) < 40, "the kill should land mid-run"

        resumed = run_cli(*args)
        assert resumed.returncode == 0, resumed.stderr
        assert "resumed" in resumed.stderr
        requests = dict(server.app.requests)

    rows = [json.loads(line) for line in (tmp_path / "out" / "samples.jsonl").open()]
    assert sorted(r["sample_id"] for r in rows) == [f"s{i:03d}" for i in range(40)]
    assert all(r["score"] is not None for r in rows)
    for prompt in before:
        assert requests[prompt] == at_kill[prompt], f"{prompt!r} was asked again after its answer"


def test_unknown_backend_is_a_one_line_error(tmp_path: Path) -> None:
    result = run_cli("eval", "--target", "mock:refuse", "--suite", "harm", "--limit", "9",
                     "--judge", "mock:1", "--store", str(tmp_path), "--backend", "spark")
    assert result.returncode == 2
    assert "unknown backend 'spark'" in result.stderr and "Traceback" not in result.stderr
