"""Counts and length distributions of a dataset, for `medsafe data stats`."""

from __future__ import annotations

import statistics
from collections import Counter
from typing import Any

STAT_FIELDS = ("principle", "style", "split", "severity", "requester", "topic", "specialty",
               "difficulty", "kind", "score", "source")


def text_of(row: dict[str, Any]) -> str:
    """The prompt text of a row, whatever the dataset calls it."""
    for key in ("request", "question", "prompt", "lay", "text"):
        if isinstance(row.get(key), str):
            return row[key]
    return ""


def dataset_stats(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Row count, counts by every categorical field present, and prompt length in characters."""
    counts = {}
    for field in STAT_FIELDS:
        values = [row[field] for row in rows if row.get(field) is not None]
        if values:
            counts[field] = dict(sorted(Counter(str(v) for v in values).items()))
    lengths = sorted(len(text_of(r)) for r in rows)
    quartiles = statistics.quantiles(lengths, n=4) if len(lengths) >= 2 else lengths * 3
    return {
        "rows": len(rows),
        "counts": counts,
        "length_chars": {"min": lengths[0], "q1": quartiles[0], "median": quartiles[1],
                         "q3": quartiles[2], "max": lengths[-1],
                         "mean": round(statistics.fmean(lengths), 1)} if lengths else {},
    }


def sample_rows(samples: list[Any]) -> list[dict[str, Any]]:
    """Flatten loaded Samples into export rows."""
    return [
        {"id": s.id, "principle": s.principle, "split": s.split, "request": s.request,
         "messages": [m.model_dump() for m in s.messages], "reference": s.reference,
         **{k: v for k, v in s.metadata.items() if k not in ("id", "request", "messages")}}
        for s in samples
    ]
