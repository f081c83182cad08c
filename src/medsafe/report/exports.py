"""Sample rows as flat tables: CSV (standard library) or Parquet (pyarrow, ``medsafe[hf-data]``).

Nested fields (the conversation and its follow-up turns, the sample metadata, jury verdicts) are
kept as JSON text, and the prompt is also given as plain text (the last user turn), so a
spreadsheet or a dataframe gets one row per (run, target, suite, sample) with nothing lost.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from medsafe.errors import MedsafeError, MissingDependencyError
from medsafe.report.run_data import RunData

# (column, Arrow type name): the order of the columns and their Parquet types.
COLUMNS: list[tuple[str, str]] = [
    ("run_id", "string"), ("target", "string"), ("suite", "string"), ("sample_id", "string"),
    ("principle", "int64"), ("split", "string"), ("prompt", "string"), ("response", "string"),
    ("score", "int64"), ("refusal", "bool_"), ("correct", "bool_"), ("judge", "string"),
    ("rationale", "string"), ("extracted", "string"), ("error", "string"),
    ("error_stage", "string"), ("finish_reason", "string"), ("reference", "string"),
    ("prompt_tokens", "int64"), ("completion_tokens", "int64"), ("gen_latency_s", "float64"),
    ("judge_latency_s", "float64"), ("response_cached", "bool_"), ("messages", "string"),
    ("metadata", "string"), ("judge_members", "string"), ("follow_ups", "string"),
]
JSON_COLUMNS = {"messages", "metadata", "judge_members", "follow_ups"}
FORMATS = (".csv", ".parquet", ".jsonl")


def _last_user_turn(messages: Any) -> str | None:
    if not isinstance(messages, list):
        return None
    users = [m.get("content") for m in messages if isinstance(m, dict) and m.get("role") == "user"]
    return users[-1] if users and isinstance(users[-1], str) else None


def flat_row(row: dict[str, Any]) -> dict[str, Any]:
    """A samples.jsonl row as one flat record with the columns of :data:`COLUMNS`."""
    out: dict[str, Any] = {}
    for name, _ in COLUMNS:
        if name == "prompt":
            out[name] = _last_user_turn(row.get("messages"))
        elif name in JSON_COLUMNS:
            value = row.get(name)
            out[name] = None if value in (None, {}, []) else json.dumps(value, ensure_ascii=False)
        elif name == "extracted" and row.get(name) is not None and not isinstance(row[name], str):
            out[name] = json.dumps(row[name], ensure_ascii=False)
        else:
            out[name] = row.get(name)
    return out


def _write_csv(records: list[dict[str, Any]], out: Path) -> None:
    with out.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=[c for c, _ in COLUMNS])
        writer.writeheader()
        writer.writerows(records)


def _write_parquet(records: list[dict[str, Any]], out: Path) -> None:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise MissingDependencyError("writing Parquet", "hf-data") from exc
    schema = pa.schema([(name, getattr(pa, kind)()) for name, kind in COLUMNS])
    table = pa.Table.from_pylist(records, schema=schema)
    pq.write_table(table, out)


def export_samples(runs: list[RunData], out: Path) -> int:
    """Write every sample row of the runs to ``out`` (.csv, .parquet or .jsonl); returns rows."""
    suffix = out.suffix.lower()
    if suffix not in FORMATS:
        raise MedsafeError(f"{out}: unknown export format '{suffix}'; use one of "
                           f"{', '.join(FORMATS)}")
    rows = [row for run in runs for row in run.rows]
    if suffix == ".jsonl":
        with out.open("w", encoding="utf-8") as fh:
            for row in rows:
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
        return len(rows)
    records = [flat_row(row) for row in rows]
    (_write_csv if suffix == ".csv" else _write_parquet)(records, out)
    return len(records)
