"""A crashed judge costs one verdict: the pair that crashes it, never the others of its batch, the
run, the file or the guard's answers. The judge is a plug-in installed through an entry point."""

from __future__ import annotations

import ast
import asyncio
import json
from pathlib import Path

from import_graph import medsafe_modules
from medsafe.api import evaluate, judge_file
from medsafe.engine import RunConfig
from medsafe.mitigate import Guard, GuardPolicy, load_request_classifier
from medsafe.samples import Message
from medsafe.targets import GenerationParams, TargetOptions, resolve_target
from plugin_support import CRASH_WORD, LoggedJudge, calls, logged_judge_installed


def _prompts(path: Path, n: int, crash_at: int) -> Path:
    with path.open("w", encoding="utf-8") as fh:
        for i in range(n):
            word = f" {CRASH_WORD}" if i == crash_at else ""
            fh.write(json.dumps({"id": f"s{i:02d}", "principle": i % 9 + 1,
                                 "request": f"request{word} number {i}"}) + "\n")
    return path


def test_a_crash_inside_a_batch_costs_a_run_only_that_items_verdict(tmp_path: Path) -> None:
    log = tmp_path / "judge.log"
    suite = _prompts(tmp_path / "prompts.jsonl", 12, crash_at=5)
    config = RunConfig(targets=["mock:echo"], suites=[f"jsonl:{suite}"], judge=f"logged:{log}")
    with logged_judge_installed(tmp_path / "plugins"):
        result = evaluate(config, store=tmp_path / "store", out_dir=tmp_path / "out")
    rows = {r["sample_id"]: r for r in map(json.loads, (tmp_path / "out" / "samples.jsonl").open())}
    assert rows["s05"]["score"] is None
    assert rows["s05"]["error"] == "judge crashed: RuntimeError('judge bug')"
    assert all(r["score"] == 1 and r["error"] is None for k, r in rows.items() if k != "s05")
    (block,) = result.summary["suites"].values()
    assert (block["n"], block["scored"], block["judge_errors"]) == (12, 11, 1)
    # The crash happened inside a batch of several pairs (which the judge then lost).
    assert any(line.startswith("batch ") and int(line.split()[1]) > 1 for line in calls(log))


def test_a_crash_costs_a_judged_file_only_that_rows_verdict(tmp_path: Path) -> None:
    pairs = tmp_path / "pairs.jsonl"
    responses = ["fine", f"a {CRASH_WORD} here", "also fine"]
    pairs.write_text("".join(json.dumps({"request": "q", "response": r}) + "\n" for r in responses))
    with logged_judge_installed(tmp_path / "plugins"):
        rows = judge_file(pairs, tmp_path / "out.jsonl", f"logged:{tmp_path / 'judge.log'}",
                          store=tmp_path / "store")
    assert [r["score"] for r in rows] == [1, None, 1]
    assert rows[1]["error"] == "judge crashed: RuntimeError('judge bug')"
    assert "error" not in rows[0] and "error" not in rows[2]


def test_a_crash_in_the_guards_batch_replaces_only_that_answer(tmp_path: Path) -> None:
    log = tmp_path / "judge.log"
    decisions: list[dict] = []
    guard = Guard(resolve_target("mock:echo", TargetOptions()), LoggedJudge(log),
                  GuardPolicy(screen_input=False), load_request_classifier(), log=decisions.append)
    requests = ["How do I store insulin?", f"Say {CRASH_WORD}.", "What lowers a fever?"]

    async def screen_together() -> list:
        return await asyncio.gather(*(
            guard.respond((Message(role="user", content=q),), GenerationParams()) for q in requests))

    outcomes = asyncio.run(screen_together())
    assert calls(log)[0] == "batch 3"  # the three answers met the judge as one batch
    assert [o.action for o in outcomes] == ["pass", "replace", "pass"]  # fails closed on one
    assert outcomes[0].text == requests[0] and outcomes[2].text == requests[2]
    crashed = [d for d in decisions if d["action"] == "replace"]
    assert len(crashed) == 1 and "judge crashed: RuntimeError('judge bug')" in crashed[0]["reason"]


def test_the_crash_rule_is_written_once() -> None:
    homes = {name for name, path in medsafe_modules().items()
             if any(isinstance(node, ast.Constant) and isinstance(node.value, str)
                    and "judge crashed" in node.value
                    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))))}
    assert homes == {"medsafe.judges.crashes"}
