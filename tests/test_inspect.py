"""Inspect interoperability (the ``inspect`` extra): medsafe's suites run as Inspect tasks from
Inspect's own CLI, scored by a medsafe judge, and ``medsafe import-inspect`` turns the log into a
run with the same figures as a medsafe run of the same answers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from conftest import run_cli
from medsafe.testing import FakeOpenAIServer
from test_cli_errors import assert_one_line_error

pytest.importorskip("inspect_ai")

SAME = ("n", "scored", "errors", "mean_score", "sem", "ci95", "harmful_rate", "harmful_rate_ci95",
        "refusal_rate", "refusals", "score_distribution", "by_principle", "accuracy",
        "accuracy_ci95", "invalid_rate")


def reply(prompt: str) -> str:
    """Refuse about a third of the requests, comply with the rest (fixed by the prompt)."""
    return "I can't help with that." if len(prompt) % 3 == 0 else "Sure, here is how to do it."


def inspect_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Inspect's own command line, in a fresh interpreter."""
    env = {**os.environ, "OPENAI_API_KEY": "test-key", "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "inspect_ai", *args], capture_output=True,
                          text=True, cwd=cwd, env=env, timeout=600)


def figures(summary: dict[str, Any], suite: str) -> dict[str, Any]:
    block = summary["suites"][suite]
    return {k: block[k] for k in SAME if k in block}


def answers(out: Path) -> dict[str, tuple[str, int | None, bool | None]]:
    rows = [json.loads(line) for line in (out / "samples.jsonl").open()]
    return {r["sample_id"]: (r["response"], r["score"], r["refusal"]) for r in rows}


def test_inspects_cli_runs_a_medsafe_task_and_its_log_imports_with_a_medsafe_runs_figures(
        tmp_path: Path) -> None:
    store = str(tmp_path / "store")
    with FakeOpenAIServer(reply=reply) as server:
        ours = run_cli("eval", "--target", f"openai:fake@{server.base_url}", "--suite", "harm",
                       "--limit", "9", "--judge", "classifier", "--store", store,
                       "--out", str(tmp_path / "medsafe"))
        assert ours.returncode == 0, ours.stderr
        # responses_api=false: a plain OpenAI-compatible server has chat completions only
        theirs = inspect_cli("eval", "medsafe/harm", "--model", "openai/fake", "-M",
                             "responses_api=false", "--model-base-url", server.base_url,
                             "-T", "limit=9", "-T", "judge=classifier", "--log-dir", "logs",
                             "--display", "plain", cwd=tmp_path)
        assert theirs.returncode == 0, theirs.stdout[-3000:] + theirs.stderr[-3000:]
        asked = dict(server.app.requests)
    assert len(asked) == 9 and set(asked.values()) == {2}  # the same 9 prompts, asked by both
    assert "medsafe_judge" in theirs.stdout and "harm_score" in theirs.stdout  # Inspect's metrics
    (log,) = (tmp_path / "logs").glob("*.eval")

    imported = run_cli("import-inspect", str(log), "--store", store, "--out", str(tmp_path / "imp"))
    assert imported.returncode == 0, imported.stderr
    assert "inspect:openai/fake" in imported.stdout  # the scorecard
    ours_summary = json.loads((tmp_path / "medsafe" / "summary.json").read_text())
    imported_summary = json.loads((tmp_path / "imp" / "summary.json").read_text())
    assert figures(imported_summary, "harm") == figures(ours_summary, "harm")
    assert 0 < ours_summary["suites"]["harm"]["refusals"] < 9  # a mixed run, not a trivial one
    assert answers(tmp_path / "imp") == answers(tmp_path / "medsafe")
    assert imported_summary["targets"] == ["inspect:openai/fake"]
    assert imported_summary["meta"]["inspect"]["task"] == "medsafe/harm"
    assert imported_summary["meta"]["judge"]["spec"] == "classifier"

    again = run_cli("import-inspect", str(log), "--store", store, "--out", str(tmp_path / "imp"))
    assert again.returncode == 0 and "was already imported as run" in again.stderr
    listed = run_cli("runs", "--store", store)
    assert listed.stdout.count("finished") == 2  # the medsafe run and one imported run

    # the imported run is a run like any other: compare it, label it
    compared = run_cli("compare", str(tmp_path / "medsafe"), str(tmp_path / "imp"), "--format",
                       "json", "--no-principles")
    assert compared.returncode == 0, compared.stderr
    ((comparison,),) = [json.loads(compared.stdout)]
    rows = comparison["rows"]
    assert rows and all(r["n"] == 9 and r["diff"] == 0 for r in rows)
    run_id = imported_summary["run_id"]
    drawn = run_cli("label", "sample", run_id, "--n", "5", "--store", store)
    assert drawn.returncode == 0 and "5 of 9 scored items of harm" in drawn.stderr


def in_process_log(tmp_path: Path, server: FakeOpenAIServer, spec: str, limit: int,
                   judge: str = "classifier", task: Any = None) -> Path:
    """An Inspect log of a medsafe task (or of ``task``) answered through the local server.

    (Not Inspect's mockllm: it counts tokens with a tokenizer it downloads.)"""
    from inspect_ai import eval as inspect_eval

    from medsafe.interop.inspect_tasks import medsafe_task

    (log,) = inspect_eval(task or medsafe_task(spec, limit=limit, judge_spec=judge),
                          model="openai/fake", model_base_url=server.base_url,
                          model_args={"responses_api": False, "api_key": "test-key"},
                          log_dir=str(tmp_path / "logs"), display="none")
    return Path(log.location)


def test_a_rule_graded_suite_imports_with_the_figures_of_a_medsafe_run(tmp_path: Path) -> None:
    with FakeOpenAIServer(reply=lambda prompt: "The answer is C.") as server:
        log = in_process_log(tmp_path, server, "mcq", limit=6)
        ours = run_cli("eval", "--target", f"openai:fake@{server.base_url}", "--suite", "mcq",
                       "--limit", "6", "--store", str(tmp_path / "s"),
                       "--out", str(tmp_path / "medsafe"))
    assert ours.returncode == 0, ours.stderr
    imported = run_cli("import-inspect", str(log), "--store", str(tmp_path / "s"),
                       "--out", str(tmp_path / "imp"))
    assert imported.returncode == 0, imported.stderr
    mine = json.loads((tmp_path / "medsafe" / "summary.json").read_text())
    theirs = json.loads((tmp_path / "imp" / "summary.json").read_text())
    assert figures(theirs, "mcq") == figures(mine, "mcq")
    assert (theirs["suites"]["mcq"]["n"], theirs["suites"]["mcq"]["errors"]) == (6, 0)
    assert answers(tmp_path / "imp") == answers(tmp_path / "medsafe")


def test_a_verdict_the_judge_could_not_give_imports_as_an_error_not_a_score(tmp_path: Path) -> None:
    with FakeOpenAIServer() as server:
        log = in_process_log(tmp_path, server, "harm", limit=3, judge="mock:error")
    imported = run_cli("import-inspect", str(log), "--store", str(tmp_path / "s"),
                       "--out", str(tmp_path / "imp"))
    assert imported.returncode == 0, imported.stderr
    harm = json.loads((tmp_path / "imp" / "summary.json").read_text())["suites"]["harm"]
    assert (harm["n"], harm["scored"], harm["judge_errors"], harm["mean_score"]) == (3, 0, 3, None)


def test_a_file_that_is_not_a_log_of_a_medsafe_task_is_one_line(tmp_path: Path) -> None:
    from inspect_ai import Task
    from inspect_ai.dataset import Sample
    from inspect_ai.scorer import match

    not_a_log = tmp_path / "notes.json"
    not_a_log.write_text("{\"hello\": 1}")
    assert_one_line_error(run_cli("import-inspect", str(not_a_log), "--store", str(tmp_path)),
                          "notes.json: not an Inspect eval log")
    assert_one_line_error(run_cli("import-inspect", str(tmp_path / "absent.eval")),
                          "absent.eval: no such Inspect log")
    with FakeOpenAIServer() as server:
        other = in_process_log(tmp_path, server, "", 0, task=Task(
            dataset=[Sample(input="hi", target="x")], scorer=match()))
    result = run_cli("import-inspect", str(other), "--store", str(tmp_path))
    assert_one_line_error(result, "not of a medsafe task", "inspect eval medsafe/harm")
