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
