"""Verdicts through the run store's cache: a pair this judge has scored before is not scored
again, whether a run or ``medsafe judge`` asks.

A verdict is keyed by the judge's identity, the request and the response. A new verdict comes
from the judge, at most ``judge.concurrency`` at a time, and a crash costs that verdict only
(:mod:`medsafe.judges.crashes`). Storing it is the caller's: a run links it to its item, a
judged file only caches it; failed verdicts are never cached.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

from medsafe.engine.keys import cache_key
from medsafe.engine.store import RunStore
from medsafe.errors import MedsafeError
from medsafe.judges import Judge, Judgement
from medsafe.judges.conversation import is_single_exchange, last_answer
from medsafe.judges.crashes import crashed, safe_verdict
from medsafe.samples import Message


@dataclass(frozen=True)
class Verdict:
    """A judgement with its cache key, and whether it came from the cache."""

    key: str
    judgement: Judgement
    cached: bool


class CachedJudge:
    """A judge behind the verdict cache of a run store."""

    def __init__(self, judge: Judge, store: RunStore) -> None:
        self.judge = judge
        self.store = store
        self._identity = judge.identity()
        self._conversation_identity = judge.conversation_identity()
        self._limit = asyncio.Semaphore(judge.concurrency)

    def key(self, request: str, response: str) -> str:
        """The cache key of a verdict on this pair by this judge."""
        return cache_key(self._identity, request, response)

    async def verdict(self, request: str, response: str) -> Verdict:
        """The stored verdict on the pair, or a new one from the judge (not stored here)."""
        key = self.key(request, response)
        cached = self.store.cached_judgement(key)
        if cached is not None:
            return Verdict(key, cached, cached=True)
        async with self._limit:
            judgement = await safe_verdict(self.judge, request, response)
        return Verdict(key, judgement, cached=False)

    def conversation_key(self, request: str, conversation: Sequence[Message]) -> str:
        """The cache key of a verdict on a conversation's last turn: a single exchange shares
        the key of the same pair."""
        if is_single_exchange(conversation):
            return self.key(request, last_answer(conversation))
        return cache_key(self._conversation_identity, "conversation", request,
                         [m.model_dump() for m in conversation])

    async def conversation_verdict(self, request: str, conversation: Sequence[Message]) -> Verdict:
        """The stored verdict on the conversation's last turn, or a new one (not stored here);
        a judge that crashes costs this verdict only."""
        if not conversation or conversation[-1].role != "assistant":
            return Verdict("", await self.judge.judge_conversation(request, conversation), False)
        key = self.conversation_key(request, conversation)
        cached = self.store.cached_judgement(key)
        if cached is not None:
            return Verdict(key, cached, cached=True)
        async with self._limit:
            try:
                judgement = await self.judge.judge_conversation(request, conversation)
            except MedsafeError:
                raise
            except Exception as exc:
                judgement = crashed(self.judge, exc)
        return Verdict(key, judgement, cached=False)
