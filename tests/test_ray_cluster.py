"""The Ray backend on a real two-node cluster: a head and a second node started with `ray start`
on this machine (one CPU each). An eval joined through RAY_ADDRESS runs its items on both nodes,
survives the second node being killed mid-run (its raylet and workers, SIGKILL), stores every
sample exactly once and gives the local backend's numbers.

Select it with ``pytest -m ray_cluster``. Every subprocess has a timeout. Teardown kills, by pid,
every process of this cluster (those whose command line names its temp dir, and their
children) rather than `ray stop --force`, which would stop every Ray instance of this user on
the machine, other jobs' included.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from medsafe.api import evaluate
from medsafe.engine import RunConfig
from medsafe.testing import FakeOpenAIServer
from reliability_support import check_run, committed_prompts, db_rows

pytest.importorskip("ray", reason="the ray extra is not installed (pip install 'medsafe[ray]')")

pytestmark = pytest.mark.ray_cluster

START_TIMEOUT_S = 90  # one `ray start` on a loaded 2-core machine takes 5-20 s
RUN_TIMEOUT_S = 150
PROMPTS = 80
HEADLINE = ("n", "scored", "mean_score", "sem", "ci95", "harmful_rate", "refusal_rate", "errors",
            "generation_errors", "judge_errors", "score_distribution", "by_principle")


class LocalCluster:
    """Ray nodes started with `ray start` as subprocesses, each with a temp dir of its own
    under one short root (unix socket paths are limited to about 100 characters)."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="r"))
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.address = f"127.0.0.1:{self.port}"
        # Token auth is switched on by a token left in ~/.ray by other Ray use; a node started
        # with --address would then be refused. The test cluster runs without it.
        self.env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
        self.env["RAY_AUTH_MODE"] = "disabled"

    def start(self, name: str, resources: dict[str, float], head: bool) -> None:
        """Start node ``name`` (the head, or a node joining it) and wait until it is up."""
        where = ["--head", f"--port={self.port}", "--include-dashboard=false"] if head \
            else [f"--address={self.address}"]
        subprocess.run(
            [sys.executable, "-m", "ray.scripts.scripts", "start", *where,
             "--node-ip-address=127.0.0.1", "--num-cpus=1", f"--resources={json.dumps(resources)}",
             "--object-store-memory=80000000", "--disable-usage-stats",
             f"--temp-dir={self.root / name}"],
            env=self.env, check=True, capture_output=True, timeout=START_TIMEOUT_S)

    def processes(self, name: str = "") -> list[Any]:
        """Live processes of node ``name`` (of every node when empty): those whose command line
        names its temp dir, and their children (the workers, renamed ``ray::...``)."""
        needle = str(self.root / name)
        found: dict[int, Any] = {}
        for proc in psutil.process_iter(["cmdline"]):
            try:
                if proc.pid != os.getpid() and any(needle in a for a in proc.info["cmdline"] or []):
                    found[proc.pid] = proc
                    found.update((c.pid, c) for c in proc.children(recursive=True))
            except psutil.Error:
                continue
        return list(found.values())

    def node_id(self, name: str) -> str:
        """Ray's id of node ``name``, read from its raylet's command line."""
        for proc in self.processes(name):
            for arg in proc.cmdline():
                if arg.startswith("--node_id="):
                    return arg.split("=", 1)[1]
        raise AssertionError(f"no raylet found for node {name}")

    def kill(self, name: str = "") -> int:
        """SIGKILL node ``name`` (every node when empty); returns how many processes died."""
        procs = self.processes(name)
        for proc in procs:
            try:
                proc.kill()
            except psutil.Error:
                continue
        psutil.wait_procs(procs, timeout=10)
        return len(procs)


@pytest.fixture
def cluster() -> Iterator[LocalCluster]:
    """A head node (resource node_a) and a second node (node_b), one CPU each."""
    nodes = LocalCluster()
    try:
        nodes.start("a", {"node_a": 1}, head=True)
        nodes.start("b", {"node_b": 1}, head=False)
        yield nodes
    finally:
        nodes.kill()
        shutil.rmtree(nodes.root, ignore_errors=True)
    assert not nodes.processes(), "a process of the test cluster outlived it"


def write_suite(path: Path, n: int) -> Path:
    """n requests, every third one refused by the server: a spread of verdicts."""
    with path.open("w") as fh:
        for i in range(n):
            request = f"request number {i}" + (" refuse-me" if i % 3 == 0 else "")
            fh.write(json.dumps({"id": f"s{i:03d}", "principle": i % 9 + 1,
                                 "request": request}) + "\n")
    return path


def headline(summary: dict[str, Any]) -> dict[str, Any]:
    suite = next(iter(summary["suites"].values()))
    return {k: suite[k] for k in HEADLINE}


def test_eval_runs_on_both_nodes_survives_a_killed_node_and_matches_local(
        cluster: LocalCluster, tmp_path: Path) -> None:
    suite = write_suite(tmp_path / "p.jsonl", PROMPTS)
    store = tmp_path / "store"
    with FakeOpenAIServer(delay_s=0.2) as server:
        target = f"openai:fake@{server.base_url}"
        local = evaluate(RunConfig(targets=[target], suites=[f"jsonl:{suite}"],
                                   judge="mock:refusal"), store=tmp_path / "local")
        server.app.reset()
        # Two workers (one per CPU of the cluster), one request each at a time. Its output goes
        # to a file: a pipe nobody reads while the run goes on could fill and stall it.
        log = (tmp_path / "eval.err").open("w")
        proc = subprocess.Popen(
            [sys.executable, "-m", "medsafe", "eval", "--target", target,
             "--suite", f"jsonl:{suite}", "--judge", "mock:refusal", "--store", str(store),
             "--concurrency", "1", "--out", str(tmp_path / "out"), "--backend", "ray"],
            env={**cluster.env, "RAY_ADDRESS": cluster.address},
            stdout=subprocess.DEVNULL, stderr=log)
        try:
            deadline = time.time() + RUN_TIMEOUT_S
            while len(committed_prompts(store / "medsafe.db")) < 12 and proc.poll() is None \
                    and time.time() < deadline:
                time.sleep(0.05)
            answered_at_kill = len(committed_prompts(store / "medsafe.db"))
            node_b = cluster.node_id("b")
            killed = cluster.kill("b")
            proc.wait(timeout=max(1.0, deadline - time.time()))
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            log.close()
        requests = dict(server.app.requests)

    assert proc.returncode == 0, (tmp_path / "eval.err").read_text()
    assert 12 <= answered_at_kill < PROMPTS, "the node should die mid-run"
    assert killed >= 2  # its raylet and at least its worker
    assert not cluster.processes("b")

    # Every sample stored exactly once, each with its verdict; every prompt reached the server
    # (the one in flight on the lost node may have been asked twice, never stored twice).
    run_id = db_rows(store / "medsafe.db", "SELECT run_id FROM runs")[0]["run_id"]
    counts = check_run(store / "medsafe.db", run_id, {f"s{i:03d}" for i in range(PROMPTS)},
                       max_retries=4)
    assert counts == {"samples": PROMPTS, "generation_failures": 0, "scored": PROMPTS}
    assert len(db_rows(store / "medsafe.db", "SELECT key FROM responses")) == PROMPTS
    assert len(requests) == PROMPTS

    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert headline(summary) == headline(local.summary)
    assert headline(summary)["errors"] == 0

    # Both nodes answered and judged; the second one was lost mid-run and the head did the rest.
    work = summary["meta"]["ray_work"]
    assert len(work["nodes"]) == 2
    assert all(n["generate"] > 0 for n in work["nodes"].values())
    assert sum(n["generate"] for n in work["nodes"].values()) == PROMPTS
    assert sum(n.get("judge", 0) for n in work["nodes"].values()) == PROMPTS
    assert work["lost_nodes"] == [node_b]
    assert node_b in work["nodes"]
