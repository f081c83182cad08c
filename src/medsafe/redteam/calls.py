"""The calls of one conversation, through the run store: each stored as it arrives, none made twice.

Every attacker call, target turn and verdict is keyed by its content (model identity, parameters,
messages; judge identity, request, conversation) and committed to the store's cache as it
arrives, together with a numbered step of the item's conversation. A strategy is a deterministic
function of what its calls return, so a resumed conversation replays the same calls in the same
order: those already stored are read back instead of being made again, and the conversation
continues from where it was killed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from medsafe.engine.keys import cache_key
from medsafe.engine.store import RunStore
from medsafe.engine.verdicts import CachedJudge
from medsafe.judges import Judgement
from medsafe.samples import Message, messages_digest
from medsafe.targets import Completion, GenerationParams, Target, TargetError, generate_with_retries

ItemKey = tuple[str, str, str]  # (target, suite, sample id)


@dataclass(frozen=True)
class Call:
    """A model's answer with its cache key, and whether it came from the store."""

    key: str
    completion: Completion
    cached: bool


@dataclass(frozen=True)
class Model:
    """A model the conversation calls, with what keys its answers and bounds its calls."""

    target: Target
    params: GenerationParams
    limit: asyncio.Semaphore
    role: str  # "attacker" or "target": the step kind, and the stage of failed attempts
    identity: dict[str, Any]

    @classmethod
    def of(cls, target: Target, params: GenerationParams, limit: asyncio.Semaphore,
           role: str) -> Model:
        """A model with its identity read once."""
        return cls(target, params, limit, role, target.identity())

    def key(self, messages: Sequence[Message]) -> str:
        """The cache key of this model's answer to ``messages`` (as the run's items key theirs)."""
        return cache_key(self.identity, self.params.model_dump(), [m.model_dump() for m in messages])


class StoredCalls:
    """Makes the calls of one item's conversation, reading stored ones back and storing new ones."""

    def __init__(self, store: RunStore, run_id: str, item: ItemKey, verdicts: CachedJudge) -> None:
        self.store = store
        self.run_id = run_id
        self.item = item
        self.verdicts = verdicts
        self.steps = 0

    def step(self, kind: str, key: str | None, detail: dict[str, Any]) -> None:
        """Record the conversation's next step."""
        self.steps += 1
        self.store.record_step(self.run_id, self.item, self.steps, kind, key, detail)

    async def complete(self, model: Model, messages: tuple[Message, ...]) -> Call:
        """The model's answer: stored, or asked now (with retries) and stored. Raises the
        model's :class:`TargetError` when it fails; the failure is logged and stepped."""
        key = model.key(messages)
        sent = {"sent": messages[-1].content if messages else "", "digest": messages_digest(messages)}
        cached = self.store.cached_response(key)
        if cached is None:
            async with model.limit:
                cached = self.store.cached_response(key)  # another item may have asked it
                if cached is None:
                    try:
                        completion = await generate_with_retries(model.target, messages,
                                                                 model.params, self._log(model))
                    except TargetError as exc:
                        self.step(model.role, None, {**sent, "error": str(exc)})
                        raise
                    self.store.store_call(key, model.target.spec, completion)
                    self.step(model.role, key, sent)
                    return Call(key, completion, cached=False)
        self.step(model.role, key, {**sent, "cached": True})
        return Call(key, cached, cached=True)

    def _log(self, model: Model) -> Any:
        def log(attempt: int, exc: TargetError) -> None:
            stage = "generate" if model.role == "target" else model.role
            self.store.log_attempt(self.run_id, self.item, stage, attempt, str(exc), exc.retryable)

        return log

    async def verdict(self, request: str, conversation: tuple[Message, ...]) -> tuple[str, Judgement]:
        """The verdict on the conversation's last turn, stored (when it is a verdict) and stepped."""
        found = await self.verdicts.conversation_verdict(request, conversation)
        if not found.cached:
            self.store.store_verdict(found.key, found.judgement)
        judgement = found.judgement
        self.step("judge", found.key if judgement.ok else None,
                  {"digest": messages_digest(conversation), "score": judgement.score,
                   "refusal": judgement.refusal, "error": judgement.error, "cached": found.cached})
        return found.key, judgement
