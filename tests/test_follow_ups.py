"""Samples with follow-up turns: the engine asks, appends the model's answer and the next turn,
asks again, and commits every answer as it arrives, so a run that stopped between the two
turns goes on from the second without asking the first again."""

from __future__ import annotations

import json
from pathlib import Path

from medsafe.api import evaluate
from medsafe.engine import RunConfig
from medsafe.report.exports import flat_row
from medsafe.samples import Message, Sample
from medsafe.suites import Suite
from medsafe.testing import FakeOpenAIServer, FaultPlan
from plugin_support import installed_plugins

FOLLOW_UP = "Why do you say so?"


def create_two_turns(rest: str = "") -> Suite:
    """Three one-question conversations, each with one follow-up turn."""
    samples = [Sample(id=f"t{i}", suite="two_turns", follow_ups=(FOLLOW_UP,),
                      messages=(Message(role="user", content=f"question {i}"),)) for i in range(3)]
    return Suite(name="two_turns", kind="harm", samples=samples)


def converse(messages: list[dict[str, str]]) -> str:
    if messages[-1]["content"] == FOLLOW_UP:
        return f"because of {messages[-2]['content']}"
    return f"answer to {messages[-1]['content']}"


def test_a_follow_up_is_asked_after_the_models_own_answer_and_resumes_without_it(
        tmp_path: Path) -> None:
    plan = FaultPlan(script={FOLLOW_UP: ["500"] * 3})
    with installed_plugins(tmp_path / "plugins", "medsafe.suites",
                           {"two_turns": "test_follow_ups:create_two_turns"}), \
            FakeOpenAIServer(converse=converse, plan=plan) as server:
        config = RunConfig(targets=[f"openai:fake@{server.base_url}"], suites=["two_turns"],
                           judge="mock:1", target_options={"max_retries": 0})
        first = evaluate(config, store=tmp_path / "s", out_dir=tmp_path / "o1")
        assert first.summary["suites"]["two_turns"]["errors"] == 3  # every second turn failed
        asked = len(server.app.log)
        second = evaluate(config, store=tmp_path / "s", out_dir=tmp_path / "o2")
        again = [prompt for prompt, _ in server.app.log[asked:]]
    assert asked == 6 and again == [FOLLOW_UP] * 3  # the first answers were kept
    assert second.summary["suites"]["two_turns"]["errors"] == 0
    rows = [json.loads(line) for line in (tmp_path / "o2" / "samples.jsonl").open()]
    assert sorted(r["response"] for r in rows) == [f"because of answer to question {i}" for i in range(3)]
    assert all(r["follow_ups"] == [FOLLOW_UP] for r in rows)
    assert flat_row(rows[0])["follow_ups"] == json.dumps([FOLLOW_UP])  # kept in CSV and Parquet
