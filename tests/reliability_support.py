"""The reliability suite's shared parts: store invariants, server-log checks and the counts
report (printed at the end of the test session and written as JSON under .pytest_cache)."""

from __future__ import annotations

import itertools
import json
import sqlite3
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

COUNTS = pytest.StashKey[Counter[str]]()

# What the client records for each injected fault (the first word of the attempt's error).
FAULT_ERRORS = {"429": "HTTP 429", "500": "HTTP 500", "503": "HTTP 503", "stall": "timed out",
                "drop": "connection error", "truncated": "malformed", "malformed": "malformed"}
ANSWERS = ("ok", "empty")  # actions that give the client an answer ("stall" times out first)


@pytest.fixture
def reliability_counts(request: pytest.FixtureRequest) -> Counter[str]:
    """Counters the reliability tests add to: faults injected, kills, samples, runs..."""
    return request.config.stash.setdefault(COUNTS, Counter())


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    """Print the reliability counts and write them to .pytest_cache/d/reliability/counts.json."""
    counts = config.stash.get(COUNTS, None)
    if not counts:
        return
    report = dict(sorted(counts.items()))
    cache = getattr(config, "cache", None)  # absent under -p no:cacheprovider
    if cache is not None:
        path = cache.mkdir("reliability") / "counts.json"
        path.write_text(json.dumps(report, indent=2))
        terminalreporter.write_line(f"reliability counts (also in {path}):")
    terminalreporter.write_line("  " + ", ".join(f"{k} {v}" for k, v in report.items()))


def error_kind(error: str) -> str:
    """The fault kind an attempt's error message names (its prefix)."""
    return next((kind for kind in set(FAULT_ERRORS.values()) if error.startswith(kind)), error)


def db_rows(db: Path, sql: str, *args: Any) -> list[dict[str, Any]]:
    """Rows of a query on a store, read through a connection of its own."""
    with sqlite3.connect(db) as conn:
        conn.row_factory = sqlite3.Row
        return [dict(r) for r in conn.execute(sql, args)]


def committed_prompts(db: Path) -> set[str]:
    """Last user turns whose response is committed (empty before the schema exists)."""
    if not db.exists():
        return set()
    try:
        rows = db_rows(db, "SELECT sample FROM run_items WHERE response_key IS NOT NULL")
    except sqlite3.OperationalError:
        return set()
    return {json.loads(r["sample"])["messages"][-1]["content"] for r in rows}


def check_run(db: Path, run_id: str, planned: set[str], max_retries: int) -> dict[str, int]:
    """The store invariants of one finished run; returns its counts.

    Every planned sample is present exactly once; every item ends scored or with a recorded
    error (never pending); every item that failed generation has all its attempts logged.
    """
    items = db_rows(db, "SELECT * FROM run_items WHERE run_id=?", run_id)
    ids = Counter(i["sample_id"] for i in items)
    assert set(ids) == planned, f"lost {planned - set(ids)}, unplanned {set(ids) - planned}"
    assert max(ids.values()) == 1, f"duplicated {[k for k, v in ids.items() if v > 1]}"
    pending = [i["sample_id"] for i in items
               if i["judgement_key"] is None and i["gen_error"] is None and i["judge_error"] is None]
    assert not pending, f"items left without a verdict or an error: {pending}"
    failed = [i for i in items if i["response_key"] is None]
    assert all(i["gen_error"] for i in failed)
    attempts = Counter(a["sample_id"] for a in db_rows(
        db, "SELECT sample_id FROM attempts WHERE run_id=? AND stage='generate'", run_id))
    for item in failed:
        assert attempts[item["sample_id"]] >= max_retries + 1, item["sample_id"]
    status = db_rows(db, "SELECT status FROM runs WHERE run_id=?", run_id)[0]["status"]
    assert status == "finished"
    return {"samples": len(items), "generation_failures": len(failed),
            "scored": sum(1 for i in items if i["judgement_key"] is not None)}


def by_prompt(log: list[tuple[str, str]]) -> dict[str, list[str]]:
    """The server log as each prompt's sequence of actions."""
    seq: dict[str, list[str]] = {}
    for prompt, action in log:
        seq.setdefault(prompt, []).append(action)
    return seq


def check_no_call_after_answer(log: list[tuple[str, str]]) -> None:
    """In an uninterrupted run, no prompt is asked again once it has been answered."""
    for prompt, actions in by_prompt(log).items():
        answered = [n for n, a in enumerate(actions) if a in ANSWERS]
        assert not answered or answered[0] == len(actions) - 1, f"{prompt!r} asked after {actions}"


def faults_of(log: list[tuple[str, str]]) -> Counter[str]:
    """Injected faults by kind (an empty answer is an answer, not a fault)."""
    return Counter(a for _, a in log if a in FAULT_ERRORS)


def each_log_segment(log: list[tuple[str, str]], marks: list[int]) -> Iterator[list[tuple[str, str]]]:
    """The log cut at the given positions."""
    bounds = [0, *marks, len(log)]
    for start, end in itertools.pairwise(bounds):
        yield log[start:end]
