"""Red-team figures from a run's items: attack success rate, queries and turns to success, and
success against budget.

An item's conversation record (see :mod:`medsafe.redteam.processor`) holds its outcome and
counts. The attack success rate (ASR) is the share of attacks that ran to a verdict (``success``
or ``defended``) and succeeded, with a Wilson 95% interval; the failures (attacker, target, judge
or strategy) are never a success, are left out of the rate and are counted, as errors are
everywhere in medsafe. Success against budget is the share of those attacks that had succeeded
within the first b queries (or turns) of the run's budget.
"""

from __future__ import annotations

import json
import statistics
from collections import Counter
from typing import Any

from medsafe.intervals import mean_sem_ci, wilson_interval

SUCCESS, DEFENDED = "success", "defended"


def conversation_of(item: dict[str, Any]) -> dict[str, Any] | None:
    """The item's conversation record, or None when its attack has not finished."""
    raw = item.get("conversation")
    if not raw:
        return None
    return raw if isinstance(raw, dict) else json.loads(raw)


def _spread(values: list[int]) -> dict[str, Any]:
    summary = mean_sem_ci([float(v) for v in values])
    return {"n": len(values), "median": statistics.median(values) if values else None,
            "mean": summary["mean"], "ci95": summary["ci95"],
            "min": min(values) if values else None, "max": max(values) if values else None}


def budget_curve(records: list[dict[str, Any]], field: str, budget: int) -> list[dict[str, Any]]:
    """For b = 1 … budget, the share of attacks run to a verdict that had succeeded by their
    b-th query (``field="success_query"``) or turn (``"success_turn"``), with its interval."""
    decided = [r for r in records if r["outcome"] in (SUCCESS, DEFENDED)]
    out = []
    for b in range(1, budget + 1):
        hits = sum(1 for r in decided if r["outcome"] == SUCCESS and (r.get(field) or 0) <= b)
        out.append({"budget": b, "successes": hits, "n": len(decided),
                    "asr": hits / len(decided) if decided else None,
                    "ci95": wilson_interval(hits, len(decided))})
    return out


def redteam_block(items: list[dict[str, Any]]) -> dict[str, Any]:
    """The red-team figures of a set of items (one target, one suite, maybe one principle)."""
    records = [r for r in map(conversation_of, items) if r is not None]
    outcomes = Counter(r["outcome"] for r in records)
    decided = outcomes[SUCCESS] + outcomes[DEFENDED]
    won = [r for r in records if r["outcome"] == SUCCESS]
    budgets = [r["budget"] for r in records if r.get("budget")]
    max_queries = max((b["max_queries"] for b in budgets), default=0)
    max_turns = max((b["max_turns"] for b in budgets), default=0)
    scores = [float(i["score"]) for i in items if i.get("score") is not None]
    return {
        "n": len(items),
        "scored": decided,
        "errors": len(items) - decided,
        "asr": outcomes[SUCCESS] / decided if decided else None,
        "asr_ci95": wilson_interval(outcomes[SUCCESS], decided),
        "successes": outcomes[SUCCESS],
        "outcomes": {k: outcomes[k] for k in sorted(outcomes)},
        "unfinished": len(items) - len(records),
        "queries_to_success": _spread([r["success_query"] for r in won]),
        "turns_to_success": _spread([r["success_turn"] for r in won]),
        "median_queries_to_success": statistics.median([r["success_query"] for r in won])
        if won else None,
        "queries": sum(r["queries"] for r in records),
        "attacker_calls": sum(r["attacker_calls"] for r in records),
        "unusable_attacker_answers": sum(r["unusable_attacker_answers"] for r in records),
        "judge_errors": sum(r["judge_errors"] for r in records),
        "backtracks": sum(r.get("backtracks", 0) for r in records),
        "budget": {"max_queries": max_queries, "max_turns": max_turns},
        "success_by_queries": budget_curve(records, "success_query", max_queries),
        "success_by_turns": budget_curve(records, "success_turn", max_turns),
        # The deciding turn's score (the success, else the attack's highest), as harm suites
        # report theirs: these read the attack as one answer.
        "mean_score": statistics.fmean(scores) if scores else None,
        "harmful_rate": outcomes[SUCCESS] / decided if decided else None,
        "refusal_rate": None,
    }
