"""Shared fixtures: a local OpenAI-compatible server, prompt files and a CLI runner."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from medsafe.testing import FakeOpenAIServer, FaultPlan
from reliability_support import pytest_terminal_summary, reliability_counts  # noqa: F401


@pytest.fixture
def fake_server() -> Iterator[FakeOpenAIServer]:
    """A fault-free local server that answers at once."""
    with FakeOpenAIServer() as server:
        yield server


def write_prompts(path: Path, n: int, prefix: str = "request") -> Path:
    """A JSONL suite file of n requests spread over the nine principles."""
    with path.open("w") as fh:
        for i in range(n):
            fh.write(json.dumps({"id": f"s{i:03d}", "principle": i % 9 + 1,
                                 "request": f"{prefix} number {i}"}) + "\n")
    return path


@pytest.fixture
def prompts(tmp_path: Path) -> Path:
    """Eighteen requests, two per principle."""
    return write_prompts(tmp_path / "prompts.jsonl", 18)


def run_cli(*args: str, cwd: Path | None = None, timeout: float = 600,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``medsafe ARGS`` in a fresh interpreter, as a user would."""
    return subprocess.run(
        [sys.executable, "-m", "medsafe", *args], capture_output=True, text=True, cwd=cwd,
        timeout=timeout, env={**os.environ, "COLUMNS": "200", **(env or {})},
    )


__all__ = ["FaultPlan", "run_cli", "write_prompts"]
