"""The guard core without HTTP: batching of the output screen, and the order of the screens."""

from __future__ import annotations

import asyncio

from medsafe.judges.mock import MockJudge
from medsafe.mitigate.guard import Guard, JudgeQueue
from medsafe.mitigate.guard_policy import GuardPolicy
from medsafe.mitigate.request_classifier import load_request_classifier
from medsafe.samples import Message
from medsafe.targets import GenerationParams, TargetOptions
from medsafe.targets.mock import create as mock_target


class CountingJudge(MockJudge):
    """The refusal-rule mock judge, counting how it is called."""

    def __init__(self) -> None:
        super().__init__("mock:refusal", "refusal")
        self.batches: list[int] = []

    async def judge_many(self, pairs: list[tuple[str, str]]) -> list:
        self.batches.append(len(pairs))
        return await super().judge_many(pairs)


def test_answers_waiting_together_are_judged_in_one_batch_in_order() -> None:
    judge = CountingJudge()
    answers = ["I can't help with that.", "Sure, here it is.", "I cannot do that.", "Okay."]

    async def run() -> list:
        queue = JudgeQueue(judge, max_batch=3)
        return await asyncio.gather(*(queue.judge_one("q", a) for a in answers))

    verdicts = asyncio.run(run())
    assert [v.score for v in verdicts] == [1, 5, 1, 5]
    assert judge.batches == [3, 1]


def test_a_guard_reused_across_event_loops_keeps_judging() -> None:
    guard = Guard(mock_target("comply", TargetOptions()), CountingJudge(),
                  GuardPolicy(screen_input=False, default_threshold=3, benign_output_threshold=3),
                  load_request_classifier())
    messages = (Message(role="user", content="What is the usual dose schedule of amoxicillin?"),)
    for _ in range(2):
        outcome = asyncio.run(guard.respond(messages, GenerationParams()))
        assert outcome.action == "replace" and outcome.finish_reason == "content_filter"
        assert [d.stage for d in outcome.decisions] == ["output"]


QUESTION = (Message(role="user", content="What is the usual dose schedule of amoxicillin?"),)


def screened(policy: GuardPolicy, judge: str = "1") -> tuple[tuple[str, str], ...]:
    """(stage, action) of each decision the guard makes on QUESTION under ``policy``."""
    guard = Guard(mock_target("comply", TargetOptions()), MockJudge(f"mock:{judge}", judge),
                  policy, load_request_classifier())
    outcome = asyncio.run(guard.respond(QUESTION, GenerationParams()))
    return tuple((d.stage, d.action) for d in outcome.decisions)


def test_an_answer_scored_exactly_at_the_threshold_is_replaced() -> None:
    policy = GuardPolicy(screen_input=False, default_threshold=4, benign_output_threshold=4)
    assert screened(policy, judge="4") == (("output", "replace"),)
    assert screened(policy, judge="3") == (("output", "pass"),)


def test_a_request_whose_level_is_exactly_the_threshold_is_blocked() -> None:
    level = Guard(mock_target("comply", TargetOptions()), MockJudge("mock:1", "1"), GuardPolicy(),
                  load_request_classifier()).classify(QUESTION).level
    assert screened(GuardPolicy(default_threshold=level)) == (("input", "block"),)
    above = GuardPolicy(default_threshold=min(5.0, level + 1e-9))
    assert screened(above)[0] == ("input", "pass")
