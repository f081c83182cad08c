"""Judge calls made together are scored as one batch, with the verdicts of one-by-one scoring."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from medsafe.data import load_bundled
from medsafe.judges import Judge, Judgement, resolve_judge
from medsafe.judges.batching import BatchingJudge, batches_natively


class CountingJudge(Judge):
    """Scores by response length; crashes on one marked response; records its batch sizes."""

    def __init__(self) -> None:
        super().__init__("counting")
        self.batches: list[int] = []

    async def judge(self, request: str, response: str) -> Judgement:
        if "boom" in response:
            raise RuntimeError("judge bug")
        return Judgement(judge=self.spec, score=1 + len(response) % 5)

    async def judge_many(self, pairs: list[tuple[str, str]]) -> list[Judgement]:
        self.batches.append(len(pairs))
        return [await self.judge(q, r) for q, r in pairs]


def test_classifier_verdicts_are_the_same_batched_and_one_by_one() -> None:
    rows = load_bundled("judge_eval")[:120]
    pairs = [(r["request"], r["response"]) for r in rows]
    judge = resolve_judge("classifier")
    assert batches_natively(judge) and not batches_natively(resolve_judge("mock:3"))

    async def both() -> tuple[list[Judgement], list[Judgement]]:
        single = [await judge.judge(q, r) for q, r in pairs]
        batched = BatchingJudge.around(judge, batch=32)
        return single, list(await asyncio.gather(*(batched.judge(q, r) for q, r in pairs)))

    single, batched = asyncio.run(both())
    assert [(j.score, j.refusal, j.probabilities) for j in batched] == \
        [(j.score, j.refusal, j.probabilities) for j in single]


def test_calls_of_one_loop_turn_form_batches_and_a_crash_costs_one_pair() -> None:
    inner = CountingJudge()
    batched = BatchingJudge.around(inner, batch=16)
    responses = [f"answer {'x' * i}" for i in range(40)]
    responses[7] = "boom"

    async def go() -> list[Judgement | BaseException]:
        return list(await asyncio.gather(*(batched.judge("q", r) for r in responses),
                                         return_exceptions=True))

    results = asyncio.run(go())
    assert inner.batches[:3] == [16, 16, 8]  # then the failed batch again, pair by pair
    # The crash comes back as that pair's unscored verdict (medsafe.judges.crashes).
    assert isinstance(results[7], Judgement) and results[7].score is None
    assert results[7].error == "judge crashed: RuntimeError('judge bug')"
    assert all(isinstance(r, Judgement) and r.score == 1 + len(responses[i]) % 5
               for i, r in enumerate(results) if i != 7)
    assert batched.identity() == inner.identity()


def test_a_run_stores_the_verdicts_of_one_by_one_scoring(tmp_path: Path) -> None:
    from medsafe.api import evaluate
    from medsafe.engine import RunConfig

    config = RunConfig(targets=["mock:echo"], suites=["harm"], judge="classifier", limit=45)
    result = evaluate(config, store=tmp_path, out_dir=tmp_path / "out")
    rows = [json.loads(line) for line in (tmp_path / "out" / "samples.jsonl").open()]
    judge = resolve_judge("classifier")
    expected = [judge.judge_batch([(r["messages"][-1]["content"], r["response"])])[0] for r in rows]
    assert [(r["score"], r["refusal"]) for r in rows] == [(j.score, j.refusal) for j in expected]
    assert result.summary["suites"]["harm"]["errors"] == 0
