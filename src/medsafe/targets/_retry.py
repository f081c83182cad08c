"""Retries with exponential backoff and jitter that honour a server's Retry-After."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt

from medsafe.samples import Message
from medsafe.targets._base import Completion, GenerationParams, Target, TargetError

AttemptHook = Callable[[int, TargetError], None]


def _is_retryable(exc: BaseException) -> bool:
    return isinstance(exc, TargetError) and exc.retryable


def backoff_delay(attempt: int, exc: BaseException | None, base_s: float, max_s: float,
                  rng: random.Random) -> float:
    """Seconds to wait after failed attempt number ``attempt`` (1-based): full-jitter
    exponential backoff, with the server's Retry-After as the floor."""
    delay = rng.uniform(0, min(max_s, base_s * 2 ** (attempt - 1)))
    if isinstance(exc, TargetError) and exc.retry_after_s is not None:
        delay = max(delay, min(exc.retry_after_s, max_s))
    return delay


def backoff_wait(base_s: float, max_s: float, rng: random.Random,
                 offset: int = 0) -> Callable[[RetryCallState], float]:
    """:func:`backoff_delay` as a tenacity wait; ``offset`` attempts were made before tenacity's
    first one."""

    def wait(state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        return backoff_delay(state.attempt_number + offset, exc, base_s, max_s, rng)

    return wait


async def generate_with_retries(
    target: Target,
    messages: tuple[Message, ...],
    params: GenerationParams,
    on_error: AttemptHook | None = None,
) -> Completion:
    """Call ``target.generate``, retrying retryable failures; every failed attempt is reported.

    Raises the last :class:`TargetError` when retries are exhausted or the failure is final.
    The first attempt is made directly: most calls succeed, and building the retry machinery
    for each of them cost more CPU than the HTTP client itself at high concurrency.
    """
    start = time.perf_counter()
    try:
        completion = await target.generate(messages, params)
        attempts = 1
    except TargetError as exc:
        if on_error is not None:
            on_error(1, exc)
        if not exc.retryable or target.options.max_retries == 0:
            raise
        completion, attempts = await _retry(target, messages, params, on_error, exc)
    return completion.model_copy(update={"attempts": attempts,
                                         "latency_s": time.perf_counter() - start})


async def _retry(target: Target, messages: tuple[Message, ...], params: GenerationParams,
                 on_error: AttemptHook | None, first: TargetError) -> tuple[Completion, int]:
    """Attempts 2 to ``max_retries + 1`` after a retryable first failure, with backoff."""
    opts = target.options
    rng = random.Random()
    await asyncio.sleep(backoff_delay(1, first, opts.backoff_base_s, opts.backoff_max_s, rng))
    retrying = AsyncRetrying(
        retry=retry_if_exception(_is_retryable),
        stop=stop_after_attempt(opts.max_retries),
        wait=backoff_wait(opts.backoff_base_s, opts.backoff_max_s, rng, offset=1),
        reraise=True,
    )
    async for attempt in retrying:
        with attempt:
            try:
                completion = await target.generate(messages, params)
            except TargetError as exc:
                if on_error is not None:
                    on_error(attempt.retry_state.attempt_number + 1, exc)
                raise
    return completion, attempt.retry_state.attempt_number + 1
