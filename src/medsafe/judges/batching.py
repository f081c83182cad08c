"""Micro-batching of judge calls: the pairs that arrive in one event-loop turn go together.

The pipeline asks for one verdict per item. A judge that scores a batch much faster than one
pair at a time (the classifier: one matrix product) gets them in batches instead, with the same
verdicts; so does a judge running on another machine, where each call has a fixed cost.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from medsafe.judges._base import Judge, Judgement
from medsafe.judges.crashes import safe_verdicts

Pairs = list[tuple[str, str]]
# Verdicts for a batch, in order; an exception raised by the send fails every pair of the batch.
SendBatch = Callable[[Pairs], Awaitable[list[Judgement]]]


def batches_natively(judge: Judge) -> bool:
    """Whether the judge overrides ``judge_many`` (so batching it pays)."""
    return type(judge).judge_many is not Judge.judge_many


def local_sender(judge: Judge) -> SendBatch:
    """``judge.judge_many``; a crash costs only the verdict of the pair that causes it, as when
    pairs are scored one by one."""

    async def send(pairs: Pairs) -> list[Judgement]:
        return await safe_verdicts(judge, pairs)

    return send


class BatchingJudge(Judge):
    """Stands in for a judge: calls made in the same event-loop turn are sent as one batch."""

    def __init__(self, spec: str, identity: dict[str, Any], send: SendBatch, *,
                 batch: int = 64, concurrency: int = 64) -> None:
        super().__init__(spec)
        self._identity = identity
        self._send = send
        self._batch = batch
        self._concurrency = concurrency
        self._pending: list[tuple[str, str, asyncio.Future[Judgement]]] = []
        self._flush_scheduled = False
        self._in_flight: set[asyncio.Task[None]] = set()

    @classmethod
    def around(cls, judge: Judge, batch: int = 64) -> BatchingJudge:
        """Batch the calls of a judge in this process."""
        return cls(judge.spec, judge.identity(), local_sender(judge), batch=batch,
                   concurrency=max(judge.concurrency, batch))

    @property
    def concurrency(self) -> int:
        """Enough pairs in flight to fill batches."""
        return self._concurrency

    def identity(self) -> dict[str, Any]:
        """The wrapped judge's identity: batched and single verdicts share the cache."""
        return self._identity

    async def judge(self, request: str, response: str) -> Judgement:
        """Queue the pair; it leaves with the others queued in this event-loop turn."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Judgement] = loop.create_future()
        self._pending.append((request, response, future))
        if len(self._pending) >= self._batch:
            self._flush()
        elif not self._flush_scheduled:
            self._flush_scheduled = True
            loop.call_soon(self._flush)
        return await future

    def _flush(self) -> None:
        self._flush_scheduled = False
        batch, self._pending = self._pending, []
        if batch:
            task = asyncio.ensure_future(self._deliver(batch))
            self._in_flight.add(task)  # keep a reference until it is done
            task.add_done_callback(self._in_flight.discard)

    async def _deliver(self, batch: list[tuple[str, str, asyncio.Future[Judgement]]]) -> None:
        try:
            results = await self._send([(q, r) for q, r, _ in batch])
        except BaseException as exc:
            for _, _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        for (_, _, future), result in zip(batch, results, strict=True):
            if not future.done():
                future.set_result(result)
