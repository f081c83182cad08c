"""``jsonl:PATH``: your own prompts as a harm suite, one JSON object per line.

Each row needs ``request`` (or ``prompt``); ``id``, ``principle`` (1-9), ``reference`` and
``split`` are optional. Rows without an id are numbered by line.
"""

from __future__ import annotations

from pathlib import Path

from medsafe.data import iter_jsonl
from medsafe.data._jsonl import require
from medsafe.errors import InputError, MedsafeError
from medsafe.samples import PackedSamples, user_sample
from medsafe.suites._base import DatasetRef, Suite


def create(rest: str) -> Suite:
    """Load a JSONL file of requests."""
    if not rest:
        raise MedsafeError("suite jsonl needs a file: --suite jsonl:/path/to/prompts.jsonl")
    path = Path(rest).expanduser()
    # Packed as read: a million-line file never exists as a million pydantic models at once.
    samples = PackedSamples()
    seen: set[str] = set()
    for lineno, row in iter_jsonl(path):
        field = "prompt" if "prompt" in row and "request" not in row else "request"
        text = require(row, field, str, path, lineno)
        principle = row.get("principle")
        if principle is not None and (not isinstance(principle, int) or not 1 <= principle <= 9):
            raise InputError(path, lineno, "principle", f"must be an integer 1-9, got {principle!r}")
        sample_id = str(row.get("id", f"L{lineno}"))
        if sample_id in seen:
            raise InputError(path, lineno, "id", f"duplicate id {sample_id!r}")
        seen.add(sample_id)
        samples.append(user_sample(
            sample_id, f"jsonl:{path.name}", text, principle=principle,
            split=row.get("split"), reference=row.get("reference"),
        ))
    if not samples:
        raise InputError(path, None, None, "no rows: the file is empty")
    return Suite(name=f"jsonl:{path.name}", kind="harm", samples=samples,
                 datasets=[DatasetRef.of(path.name, path, len(samples))],
                 description=f"Requests from {path}.")
