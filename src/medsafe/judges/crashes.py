"""A crashed judge costs one verdict: the rule every caller of a judge applies.

A judge that raises (a bug, a model that fails in an unforeseen way) must not sink a run, a file
of pairs, a batch of other pairs or the guard's server. Its exception becomes an unscored
verdict of the pair that caused it, naming the crash; unscored verdicts are left out of the
metrics and counted (DESIGN.md). A :class:`~medsafe.errors.MedsafeError` is a setup problem the
user must fix (a missing model, a bad spec), so it still stops a run, unless the caller is a
server that has to answer every request.
"""

from __future__ import annotations

from medsafe.errors import MedsafeError
from medsafe.judges._base import Judge, Judgement

Fatal = tuple[type[BaseException], ...]
SETUP_ERRORS: Fatal = (MedsafeError,)


def crashed(judge: Judge, exc: BaseException) -> Judgement:
    """The unscored verdict that stands for a judge's crash."""
    return Judgement(judge=judge.spec, error=f"judge crashed: {exc!r}")


async def safe_verdict(judge: Judge, request: str, response: str, *,
                       fatal: Fatal = SETUP_ERRORS) -> Judgement:
    """The judge's verdict on one pair, or :func:`crashed` when it raises; exceptions of the
    ``fatal`` kinds are raised."""
    try:
        return await judge.judge(request, response)
    except fatal:
        raise
    except Exception as exc:
        return crashed(judge, exc)


async def safe_verdicts(judge: Judge, pairs: list[tuple[str, str]], *,
                        fatal: Fatal = SETUP_ERRORS) -> list[Judgement]:
    """``judge.judge_many(pairs)``; when the batch raises, each pair alone through
    :func:`safe_verdict`, so only the pair that crashes the judge loses its verdict."""
    try:
        return list(await judge.judge_many(pairs))
    except fatal:
        raise
    except Exception:
        return [await safe_verdict(judge, request, response, fatal=fatal)
                for request, response in pairs]
