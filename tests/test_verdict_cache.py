"""The verdict cache: a pair a judge has scored is not scored again, by a run or by
``judge_file``; a failed verdict is not cached. One piece of code (engine/verdicts.py) serves both."""

from __future__ import annotations

import ast
import json
from pathlib import Path

from import_graph import medsafe_modules
from medsafe.api import evaluate, judge_file
from medsafe.engine import RunConfig
from plugin_support import CRASH_WORD, calls, logged_judge_installed


def _pairs(path: Path, responses: list[str]) -> Path:
    path.write_text("".join(json.dumps({"request": "q", "response": r}) + "\n" for r in responses))
    return path


def test_judge_file_reuses_cached_verdicts_and_retries_failed_ones(tmp_path: Path) -> None:
    log = tmp_path / "judge.log"
    pairs = _pairs(tmp_path / "pairs.jsonl", ["fine", f"a {CRASH_WORD}", "also fine"])
    spec, store = f"logged:{log}", tmp_path / "store"
    with logged_judge_installed(tmp_path / "plugins"):
        first = judge_file(pairs, tmp_path / "a.jsonl", spec, store=store)
        assert calls(log) == ["judge"] * 3
        second = judge_file(pairs, tmp_path / "b.jsonl", spec, store=store)
    # The two scored pairs come from the cache; the crashed one is asked again (and crashes).
    assert calls(log) == ["judge"] * 4
    assert [r["score"] for r in second] == [r["score"] for r in first] == [1, None, 1]
    assert second[1]["error"] == first[1]["error"]


def test_a_verdict_a_run_stored_is_reused_by_judge_file(tmp_path: Path) -> None:
    log = tmp_path / "judge.log"
    suite = tmp_path / "prompts.jsonl"
    requests = [f"request number {i}" for i in range(4)]
    suite.write_text("".join(json.dumps({"id": f"s{i}", "principle": 1, "request": q}) + "\n"
                             for i, q in enumerate(requests)))
    spec, store = f"logged:{log}", tmp_path / "store"
    with logged_judge_installed(tmp_path / "plugins"):
        evaluate(RunConfig(targets=["mock:echo"], suites=[f"jsonl:{suite}"], judge=spec),
                 store=store, out_dir=tmp_path / "out")
        judged = [line for line in calls(log) if line == "judge"]
        assert len(judged) == 4
        pairs = tmp_path / "pairs.jsonl"  # the run's pairs: mock:echo answers with the request
        pairs.write_text("".join(json.dumps({"request": q, "response": q}) + "\n" for q in requests))
        rows = judge_file(pairs, tmp_path / "judged.jsonl", spec, store=store)
    assert [line for line in calls(log) if line == "judge"] == judged  # no new call
    assert [r["score"] for r in rows] == [1, 1, 1, 1]


def test_only_the_verdict_cache_reads_cached_verdicts() -> None:
    readers = {name for name, path in medsafe_modules().items()
               if any(isinstance(node, ast.Attribute) and node.attr == "cached_judgement"
                      for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))))}
    assert readers == {"medsafe.engine.verdicts"}
