"""The run pipeline: plan items, generate, judge, each result committed as it arrives.

``run_items`` is the one function to read: for every pending item it fetches a response (from
the cache or the target, with retries) and a verdict (from the cache or the judge). Failures are
recorded and counted, never scored; a resumed run skips everything already stored.
"""

from __future__ import annotations

import asyncio
import gc
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from medsafe.engine.grading import GRADERS
from medsafe.engine.keys import cache_key
from medsafe.engine.store import RunStore
from medsafe.engine.verdicts import CachedJudge
from medsafe.judges import Judge
from medsafe.samples import Message, Sample
from medsafe.suites import Suite
from medsafe.targets import Completion, GenerationParams, Target, TargetError, generate_with_retries

ProgressHook = Callable[[str, bool], None]  # (target spec, succeeded)


class ItemProcessor(Protocol):
    """Brings the items of one suite kind to their final state in its own way (a red-team
    conversation is many calls, not one response and one verdict)."""

    async def process(self, pipeline: Pipeline, item: dict[str, Any], sample: Sample) -> bool:
        """Process one item; True when it ended with a verdict, False when it failed."""
        ...


def judge_request(sample: Sample) -> str:
    """What the judge sees as the request: the original one when an attack rewrote it."""
    return str(sample.metadata.get("judge_request") or sample.request)


def plan_items(suites: list[Suite], targets: list[str]) -> Iterator[dict[str, Any]]:
    """One item per (target, suite, sample), with the sample stored verbatim, made as they are
    consumed (a plan is written to the store, never held whole)."""
    for spec in targets:
        for suite in suites:
            for position, sample in enumerate(suite.samples):
                yield {"target": spec, "suite": suite.name, "sample_id": sample.id,
                       "position": position, "principle": sample.principle,
                       "sample": sample.model_dump_json()}


@dataclass
class Pipeline:
    """The parts one run needs while it executes."""

    store: RunStore
    run_id: str
    targets: dict[str, Target]
    judge: Judge
    params: GenerationParams
    kinds: dict[str, str]  # suite name -> scoring kind
    on_item: ProgressHook | None = None
    # Suite kinds whose items are processed in their own way, by kind.
    processors: dict[str, ItemProcessor] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._gen_limits = {s: asyncio.Semaphore(t.concurrency) for s, t in self.targets.items()}
        self._verdicts = CachedJudge(self.judge, self.store)
        self._target_ids = {s: t.identity() for s, t in self.targets.items()}
        self._params = self.params.model_dump()  # part of every response key
        # One lock per response key: items that send the same conversation (a question as asked
        # and the first turn of its follow-ups) wait for one answer instead of each asking.
        self._asking: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)

    @property
    def verdicts(self) -> CachedJudge:
        """The run's judge behind the verdict cache."""
        return self._verdicts

    def generation_limit(self, spec: str) -> asyncio.Semaphore:
        """The semaphore that bounds the calls in flight to one of the run's targets."""
        return self._gen_limits[spec]

    def response_key(self, target: str, messages: tuple[Message, ...]) -> str:
        """The cache key of a target's answer to a conversation under the run's parameters."""
        return cache_key(self._target_ids[target], self._params, [m.model_dump() for m in messages])

    def _link_cached(self, item: dict[str, Any], key: str) -> Completion | None:
        cached = self.store.cached_response(key)
        if cached is not None and item.get("response_key") != key:
            key_item = (item["target"], item["suite"], item["sample_id"])
            self.store.record_response(self.run_id, key_item, key, cached, cached=True)
        return cached

    async def _answer(self, item: dict[str, Any], messages: tuple[Message, ...],
                      link: bool) -> Completion | None:
        """The answer to a conversation: cached, or generated now and committed at once (None
        on failure). ``link`` makes it the item's response; an earlier turn is only cached."""
        key_item = (item["target"], item["suite"], item["sample_id"])
        key = self.response_key(item["target"], messages)

        def cached() -> Completion | None:
            return self._link_cached(item, key) if link else self.store.cached_response(key)

        found = cached()
        if found is not None:
            return found
        target = self.targets[item["target"]]

        def log(attempt: int, exc: TargetError) -> None:
            self.store.log_attempt(self.run_id, key_item, "generate", attempt, str(exc),
                                   exc.retryable)

        try:
            async with self._asking[key], self._gen_limits[item["target"]]:
                # Another item, or another run on this store, may have answered it meanwhile.
                found = cached()
                if found is not None:
                    return found
                try:
                    completion = await generate_with_retries(target, messages, self.params, log)
                except TargetError as exc:
                    self.store.mark_generation_failed(self.run_id, key_item, str(exc))
                    return None
                if link:
                    self.store.record_response(self.run_id, key_item, key, completion,
                                               cached=False)
                    return completion
                self.store.cache_response(key, item["target"], completion)
        finally:
            # Forget a lock nobody holds: a waiter woken just now finds the answer cached.
            if key in self._asking and not self._asking[key].locked():
                del self._asking[key]
        # An earlier turn continues from the stored answer: another process's if it came first.
        return self.store.cached_response(key) or completion

    async def conversation_for(self, item: dict[str, Any],
                               sample: Sample) -> tuple[Message, ...] | None:
        """The conversation whose answer is the item's response: the sample's messages, then
        for each follow-up the model's answer so far and that turn (None when an earlier answer
        failed). Earlier answers are cached as they arrive, so a resumed run asks none again."""
        messages = sample.messages
        for turn in sample.follow_ups:
            earlier = await self._answer(item, messages, link=False)
            if earlier is None:
                return None
            messages = (*messages, Message(role="assistant", content=earlier.text),
                        Message(role="user", content=turn))
        return messages

    async def response_for(self, item: dict[str, Any], sample: Sample) -> Completion | None:
        """The item's response: already linked, cached, or generated now (None on failure).
        ``sample`` has no follow-ups left (see :meth:`conversation_for`)."""
        return await self._answer(item, sample.messages, link=True)

    async def judgement_for(self, item: dict[str, Any], sample: Sample, response: str) -> bool:
        """Link a verdict to the item (cached or new); False when the judge could not score.

        Suites with a rule-based grader (multiple choice, fairness, privacy, hallucination) are
        graded against the sample; every other suite goes to the judge.
        """
        key_item = (item["target"], item["suite"], item["sample_id"])
        grader = GRADERS.get(self.kinds.get(item["suite"], ""))
        if grader is not None:
            verdict = grader.grade(sample, response)
            conversation = [m.model_dump() for m in sample.messages] if grader.reads_conversation else []
            key = cache_key(grader.name, sample.id, sample.metadata, response, *conversation)
            self.store.record_judgement(self.run_id, key_item, key, verdict, cached=False)
            return True
        verdict = await self._verdicts.verdict(judge_request(sample), response)
        self.store.record_judgement(self.run_id, key_item, verdict.key, verdict.judgement,
                                    cached=verdict.cached)
        return verdict.judgement.ok

    async def process(self, item: dict[str, Any]) -> None:
        """Bring one item to its final state: responded and judged, or failed and recorded."""
        planned = Sample.model_validate_json(item["sample"])
        processor = self.processors.get(self.kinds.get(item["suite"], ""))
        if processor is not None:
            ok = await processor.process(self, item, planned)
        else:
            # Graded and judged as the conversation the model actually answered.
            conversation = await self.conversation_for(item, planned)
            ok = False
            if conversation is not None:
                sample = planned.model_copy(update={"messages": conversation, "follow_ups": ()}) \
                    if planned.follow_ups else planned
                completion = await self.response_for(item, sample)
                ok = completion is not None and await self.judgement_for(item, sample,
                                                                         completion.text)
        if self.on_item is not None:
            self.on_item(item["target"], ok)


async def run_items(pipeline: Pipeline) -> None:
    """Process every item of the run that has no verdict yet, concurrently.

    Each target's pending items are read from the store a page at a time as its workers take
    them, so a run of any size holds only the items in flight.
    """
    store, run_id = pipeline.store, pipeline.run_id
    queues = {target: (store.pending_items(run_id, target), n)
              for target, n in store.pending_counts(run_id).items()}
    # Everything alive now (modules, models, the run's parts) outlives the run: leaving it out
    # of the garbage collector's scans saves about a tenth of the CPU per request at high
    # concurrency.
    gc.freeze()
    try:
        await asyncio.gather(*(
            _drain(pipeline, queue, min(n, IN_FLIGHT_PER_SLOT * pipeline.targets[target].concurrency))
            for target, (queue, n) in queues.items()))
    finally:
        gc.unfreeze()


# Items in flight per generation slot of a target: enough that a slot never waits for an item
# to start and the judge's batches fill, few enough that a 100,000-item run does not hold
# 100,000 coroutines at once (they cost about as much memory as the plan itself).
IN_FLIGHT_PER_SLOT = 4


async def _drain(pipeline: Pipeline, queue: Iterable[dict[str, Any]], width: int) -> None:
    """Process one target's items with at most ``width`` of them in flight; each target has its
    own workers so that targets progress side by side whatever the order of the plan."""
    pending = iter(queue)

    async def worker() -> None:
        for item in pending:
            await pipeline.process(item)

    await asyncio.gather(*(worker() for _ in range(max(1, width))))
