"""How far the run's judge can be trusted, from what the run holds: the verdicts of each jury
member (agreement between two judges), gold labels carried by the samples (``gold_score`` in
their metadata), and judge meta-evaluations attached to the summary (``medsafe judge-eval --out``
files, under ``summary["judge_reliability"]``).
"""

from __future__ import annotations

import json
from itertools import combinations
from typing import Any

MAX_PAIRS = 3  # jury member pairs shown; a jury of more than three judges has many


def jury_members(judge: str | None, raw: str | None) -> dict[str, dict[str, Any]] | None:
    """Each member's verdict of a jury judgement, from the judgement's stored raw text (JSON)."""
    if not judge or not judge.startswith("jury:") or not raw:
        return None
    try:
        members = json.loads(raw)
    except (ValueError, RecursionError):  # ValueError covers JSONDecodeError
        return None
    return members if isinstance(members, dict) else None


def _scored_pairs(rows: list[dict[str, Any]], first: str, second: str) -> tuple[list[int], list[int]]:
    a, b = [], []
    for row in rows:
        members = row.get("judge_members") or {}
        x, y = (members.get(first) or {}).get("score"), (members.get(second) or {}).get("score")
        if isinstance(x, int) and isinstance(y, int):
            a.append(x)
            b.append(y)
    return a, b


def reliability_reports(summary: dict[str, Any], rows: list[dict[str, Any]],
                        n_boot: int = 500) -> list[dict[str, Any]]:
    """Agreement reports (statistics, 95% intervals, confusion matrix) the run supports."""
    reports: list[dict[str, Any]] = []
    attached = summary.get("judge_reliability") or []
    reports += [dict(r, source="judge-eval") for r in
                (attached if isinstance(attached, list) else [attached]) if isinstance(r, dict)]
    # One pass over the rows for both questions: a large run's rows may be made as they are read.
    gold: list[tuple[int, int]] = []
    names: dict[str, None] = {}
    for r in rows:
        meta = r.get("metadata")
        if isinstance(meta, dict) and isinstance(meta.get("gold_score"), int) \
                and r.get("score") is not None:
            gold.append((meta["gold_score"], r["score"]))
        for name in r.get("judge_members") or {}:
            names.setdefault(name)
    if gold:
        from medsafe.judges.agreement import agreement  # numpy: only when there is agreement

        report = agreement([g for g, _ in gold], [p for _, p in gold], n_boot=n_boot)
        reports.append({"judge": summary.get("judge"), "reference": "gold_score in the samples",
                        "source": "samples", **report})
    for first, second in list(combinations(names, 2))[:MAX_PAIRS]:
        a, b = _scored_pairs(rows, first, second)
        if a:
            from medsafe.judges.agreement import agreement

            reports.append({"judge": second, "reference": first, "source": "jury members",
                            **agreement(a, b, n_boot=n_boot)})
    return reports
