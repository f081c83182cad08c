"""The guard: screen each request before it reaches a model, and each answer before it leaves.

One :class:`Guard` serves both the HTTP server (``medsafe guard serve``) and the ``guard:SPEC``
target. A request whose harm level reaches its principle's threshold is blocked (the model is
never asked); an answer the judge scores at or above that threshold is replaced; both get the
policy's safe reply for the principle. Everything else passes unchanged. Every decision is
handed to a log (the run store's ``guard_decisions`` table) as it is made.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Literal

from medsafe.judges import Judge, Judgement
from medsafe.judges.crashes import safe_verdicts
from medsafe.mitigate.guard_policy import GuardPolicy
from medsafe.mitigate.request_classifier import RequestClassifier, RequestVerdict
from medsafe.samples import Message, messages_digest
from medsafe.targets import (
    Completion,
    GenerationParams,
    Target,
    TargetError,
    generate_with_retries,
)

Stage = Literal["input", "output", "upstream"]
Action = Literal["pass", "block", "replace", "error"]
FILTERED = "content_filter"  # OpenAI's finish_reason for an answer a filter stopped
EXCERPT_CHARS = 200
LONE_TURN_WORDS = 6  # a shorter last turn of a conversation is read only in context


@dataclass(frozen=True)
class Decision:
    """One screening step: what was decided, why, and how sure."""

    stage: Stage
    action: Action
    principle: int | None
    score: float | None  # the harm level compared with the threshold (1-5)
    probability: float | None  # input: harm probability; output: the judge's P(score >= 3)
    threshold: float | None
    reason: str
    latency_s: float


@dataclass(frozen=True)
class GuardOutcome:
    """What the guard answers, with the decisions that led there."""

    text: str
    finish_reason: str | None
    decisions: tuple[Decision, ...]
    completion: Completion | None  # the upstream's answer; None when the request was blocked

    @property
    def action(self) -> Action:
        """``block`` or ``replace`` when a screen stopped something, else ``pass``."""
        stopped = [d.action for d in self.decisions if d.action in ("block", "replace")]
        return stopped[0] if stopped else "pass"

    @property
    def principle(self) -> int | None:
        """The principle the request was screened under."""
        return next((d.principle for d in self.decisions if d.principle is not None), None)


DecisionLog = Callable[[dict[str, Any]], None]


def last_user_turn(messages: tuple[Message, ...]) -> str:
    """The request a judge reads: the last user message."""
    return next((m.content for m in reversed(messages) if m.role == "user"), "")


def request_views(messages: tuple[Message, ...]) -> list[str]:
    """What the request classifier reads: the last user turn, and, in a longer conversation,
    every system and user turn together (a harmful aim can be spread over several turns).

    In a conversation, a last turn shorter than :data:`LONE_TURN_WORDS` words ("Please
    continue.", "How do I do that?") is read only with the turns before it: alone it has no
    meaning to judge, and the screen's models, trained on whole requests, misread some such
    fragments as harmful."""
    last = last_user_turn(messages)
    spoken = [m.content for m in messages if m.role in ("system", "user") and m.content.strip()]
    conversation = len(spoken) > 1
    views = [last] if last.strip() and (not conversation or len(last.split()) >= LONE_TURN_WORDS
                                        ) else []
    if conversation or not views:
        views.append("\n".join(spoken))
    return views


def harmful_probability(judgement: Judgement) -> float | None:
    """The judge's probability that the answer scores 3 or more, when it gives probabilities."""
    probs = judgement.probabilities or {}
    levels = [probs.get(f"score_{k}") for k in (3, 4, 5)]
    if any(p is None for p in levels):
        return None
    return round(float(sum(levels)), 4)  # type: ignore[arg-type]


class JudgeQueue:
    """Scores the answers waiting for the judge at the same moment in one ``judge_many`` call.

    Under load many requests reach the output screen together, and the classifier judge scores
    a batch several times faster per pair than pairs one by one. A lone answer waits one turn of
    the event loop, no more.
    """

    def __init__(self, judge: Judge, max_batch: int = 32) -> None:
        """Make the queue inside the event loop that will use it."""
        self.judge = judge
        self.max_batch = max_batch
        self.loop = asyncio.get_running_loop()
        self._waiting: list[tuple[str, str, asyncio.Future[Judgement]]] = []
        self._drainer: asyncio.Task[None] | None = None

    async def judge_one(self, request: str, response: str) -> Judgement:
        """The verdict on one pair, scored in a batch with whatever else is waiting."""
        future: asyncio.Future[Judgement] = asyncio.get_running_loop().create_future()
        self._waiting.append((request, response, future))
        if self._drainer is None or self._drainer.done():
            self._drainer = asyncio.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        await asyncio.sleep(0)  # one loop turn: answers that are ready now join this batch
        while self._waiting:
            batch = self._waiting[: self.max_batch]
            del self._waiting[: self.max_batch]
            # A server answers every request: no exception is fatal here.
            verdicts = await safe_verdicts(self.judge, [(q, r) for q, r, _ in batch], fatal=())
            for (_, _, future), verdict in zip(batch, verdicts, strict=True):
                if not future.done():  # its request may have timed out meanwhile
                    future.set_result(verdict)


class Guard:
    """Screens one conversation at a time around an upstream target."""

    def __init__(self, upstream: Target, judge: Judge, policy: GuardPolicy,
                 classifier: RequestClassifier, *, log: DecisionLog | None = None,
                 retries: bool = False) -> None:
        self.upstream = upstream
        self.judge = judge
        self.policy = policy
        self.classifier = classifier
        self.log = log
        self.retries = retries
        self.name = f"guard:{upstream.spec}"
        self._judge_queue: JudgeQueue | None = None  # made in the event loop that uses it

    def identity(self) -> dict[str, Any]:
        """What makes two guarded answers comparable: upstream, judge, policy and classifier."""
        return {"upstream": self.upstream.identity(), "judge": self.judge.identity(),
                "policy": self.policy.model_dump(mode="json"),
                "request_classifier": self.classifier.info}

    def classify(self, messages: tuple[Message, ...]) -> RequestVerdict:
        """The most harmful reading of the conversation's request views."""
        verdicts = self.classifier.predict(request_views(messages))
        return max(verdicts, key=lambda v: v.harm_probability)

    def screen_request(self, messages: tuple[Message, ...]
                       ) -> tuple[Decision, RequestVerdict | None]:
        """Block the request when its harm level reaches its principle's threshold. When the
        classifier fails there is no verdict: the request is blocked (``fail_closed``, with
        input screening on) or passes, and its answer is judged against the default threshold."""
        start = time.perf_counter()
        try:
            verdict = self.classify(messages)
        except Exception as exc:  # a broken classifier must not take the server down
            block = self.policy.screen_input and self.policy.fail_closed
            reason = f"request classifier failed ({exc!r}); " + (
                "failing closed" if self.policy.fail_closed else "failing open")
            return Decision("input", "block" if block else "pass", None, None, None,
                            self.policy.threshold(None), reason,
                            time.perf_counter() - start), None
        threshold = self.policy.threshold(verdict.principle)
        block = self.policy.screen_input and verdict.level >= threshold
        reason = (f"request classifier: harm p={verdict.harm_probability:.2f} (level "
                  f"{verdict.level:.2f}), principle {verdict.principle} "
                  f"(p={verdict.principle_probability:.2f}), threshold {threshold:g}")
        if not self.policy.screen_input:
            reason = "input screening off; " + reason
        decision = Decision("input", "block" if block else "pass", verdict.principle,
                            round(verdict.level, 4), round(verdict.harm_probability, 4), threshold,
                            reason, time.perf_counter() - start)
        return decision, verdict

    async def screen_answer(self, messages: tuple[Message, ...], answer: str,
                            verdict: RequestVerdict | None) -> Decision:
        """Replace the answer when the judge scores it at or above the principle's threshold
        (the policy's higher one when the request looks clearly benign)."""
        start = time.perf_counter()
        principle = verdict.principle if verdict else None
        # Without a verdict the request cannot be called benign: no relaxed threshold.
        harm_probability = verdict.harm_probability if verdict else 1.0
        threshold = self.policy.output_threshold(principle, harm_probability)
        if self._judge_queue is None or self._judge_queue.loop is not asyncio.get_running_loop():
            self._judge_queue = JudgeQueue(self.judge)
        judgement = await self._judge_queue.judge_one(last_user_turn(messages), answer)
        if not judgement.ok or judgement.score is None:
            action: Action = "replace" if self.policy.fail_closed else "pass"
            reason = f"judge {self.judge.spec} gave no verdict ({judgement.error}); " + (
                "failing closed" if self.policy.fail_closed else "failing open")
            return Decision("output", action, principle, None, None, threshold, reason,
                            time.perf_counter() - start)
        replace = judgement.score >= threshold
        reason = f"judge {self.judge.spec}: score {judgement.score}, threshold {threshold:g}"
        if harm_probability < self.policy.benign_probability:
            reason += " (request looks benign)"
        if judgement.rationale:
            reason += f"; {judgement.rationale[:300]}"
        return Decision("output", "replace" if replace else "pass", principle,
                        float(judgement.score), harmful_probability(judgement), threshold, reason,
                        time.perf_counter() - start)

    def record(self, messages: tuple[Message, ...], decision: Decision) -> None:
        """Hand one decision to the log, with the request's hash and an excerpt."""
        if self.log is None:
            return
        row = asdict(decision)
        row.update(created_at=time.time(), guard=self.name,
                   request_sha256=messages_digest(messages),
                   request_excerpt=last_user_turn(messages)[:EXCERPT_CHARS])
        self.log(row)

    async def _generate(self, messages: tuple[Message, ...], params: GenerationParams) -> Completion:
        if self.retries:
            return await generate_with_retries(self.upstream, messages, params)
        return await self.upstream.generate(messages, params)

    async def respond(self, messages: tuple[Message, ...], params: GenerationParams) -> GuardOutcome:
        """Screen the request, ask the upstream, screen its answer; raise TargetError when the
        upstream fails (the failure is logged first)."""
        decision, verdict = self.screen_request(messages)
        principle = verdict.principle if verdict else None
        if self.policy.screen_input:
            self.record(messages, decision)
        if decision.action == "block":
            return GuardOutcome(self.policy.reply(principle), FILTERED, (decision,), None)
        start = time.perf_counter()
        try:
            completion = await self._generate(messages, params)
        except TargetError as exc:
            self.record(messages, Decision("upstream", "error", principle, None, None,
                                           None, f"upstream failed: {exc}",
                                           time.perf_counter() - start))
            raise
        decisions = (decision,) if self.policy.screen_input else ()
        if not self.policy.screen_output:
            return GuardOutcome(completion.text, completion.finish_reason, decisions, completion)
        answer = await self.screen_answer(messages, completion.text, verdict)
        self.record(messages, answer)
        decisions += (answer,)
        if answer.action == "replace":
            return GuardOutcome(self.policy.reply(principle), FILTERED, decisions,
                                completion)
        return GuardOutcome(completion.text, completion.finish_reason, decisions, completion)

