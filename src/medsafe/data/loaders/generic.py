"""Generic harm requests: any JSONL, CSV or parquet file (or ``save_to_disk`` folder), with a
mapping that names the columns holding the request, id, principle and reference."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from medsafe.data.loaders._reading import (
    Reading,
    check_unique,
    csv_header,
    jsonl_rows,
    need_str,
    read_text,
    record_file,
    split_label,
)
from medsafe.data.loaders.arrow import arrow_rows
from medsafe.errors import InputError, MedsafeError
from medsafe.samples import Sample, user_sample

GENERIC_KEYS = ("request", "id", "principle", "reference")


def parse_column_mapping(text: str) -> dict[str, str]:
    """``request=col,id=col,...`` as a dict; ``request`` is required, unknown keys are refused."""
    mapping: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, eq, column = (s.strip() for s in part.partition("="))
        if not eq or not column:
            raise MedsafeError(f"bad column mapping {part!r}: write KEY=COLUMN, e.g. request=prompt")
        if key not in GENERIC_KEYS:
            raise MedsafeError(f"unknown mapping key {key!r} (use {', '.join(GENERIC_KEYS)})")
        if key in mapping:
            raise MedsafeError(f"mapping key {key!r} given twice")
        mapping[key] = column
    if "request" not in mapping:
        raise MedsafeError("the column mapping needs request=COLUMN")
    return mapping


def _principle(value: Any, path: Path, line: int, column: str) -> int | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        value = int(value.strip())
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 9:
        raise InputError(path, line, column, f"must be an integer 1-9, got {value!r}")
    return value


def read_generic(path: Path, split: str | None, allow_partial: bool,
                  mapping: dict[str, str] | None = None) -> Reading:
    """The requests of a file read through ``mapping`` (``request=request`` by default)."""
    mapping = mapping or {"request": "request"}
    suffix = path.suffix.lower()
    rows: Iterator[tuple[int, dict[str, Any]]]
    if path.is_dir() or suffix == ".parquet":
        # Data the user already has cached: a `save_to_disk` folder or a parquet file.
        rows, sha, split_name = arrow_rows(path, split)
        split = split or split_name
    elif suffix in (".jsonl", ".ndjson", ".json", ".csv"):
        split = split_label(split, path)
        text, sha = read_text(path)
        if suffix == ".csv":
            columns = tuple(dict.fromkeys(mapping.values()))
            _, rows = csv_header(path, text, columns, ",".join(columns))
        else:
            rows = jsonl_rows(path, text)
    else:
        raise InputError(path, None, None, "generic reads .jsonl, .csv, .parquet files or a "
                         "Hugging Face save_to_disk folder")
    reading = Reading(notes={"mapping": dict(mapping)})
    suite = f"generic:{path.name}"
    for line, row in rows:
        request = need_str(row, mapping["request"], path, line)
        sample_id = f"L{line}"
        if "id" in mapping:
            raw_id = row.get(mapping["id"])
            if raw_id is None:
                raise InputError(path, line, mapping["id"], "missing")
            if not isinstance(raw_id, str | int) or isinstance(raw_id, bool) or not str(raw_id).strip():
                raise InputError(path, line, mapping["id"], f"expected a non-empty id, got {raw_id!r}")
            sample_id = str(raw_id).strip()
        # Principle and reference are optional per row: absent, null or blank means none.
        principle = None
        if "principle" in mapping:
            principle = _principle(row.get(mapping["principle"]), path, line, mapping["principle"])
        reference = None
        if "reference" in mapping:
            value = row.get(mapping["reference"])
            if value is not None and not isinstance(value, str):
                raise InputError(path, line, mapping["reference"],
                                 f"expected str, got {type(value).__name__}")
            reference = (value or "").strip() or None
        reading.samples.append(user_sample(sample_id, suite, request, principle=principle, split=split,
                                           reference=reference))
    if not reading.samples:
        raise InputError(path, None, None, "no rows: the file is empty")
    check_unique(reading.samples, path)
    record_file(reading, path, sha, len(reading.samples))
    return reading


def load_generic(path: Path, mapping: dict[str, str] | None = None,
                 split: str | None = None) -> Sequence[Sample]:
    """Harm requests from any JSONL or CSV file, with columns named by ``mapping``.

    ``mapping`` maps ``request`` (required), ``id``, ``principle`` (1-9) and ``reference`` to
    column names; without one the request is read from a ``request`` column.
    """
    return read_generic(Path(path), split, False, mapping).samples


def split_generic_path(path: Path) -> tuple[Path, dict[str, str] | None]:
    """``PATH#request=col,...`` into the path and its mapping; a file really named with '#' wins."""
    text = str(path)
    if "#" not in text or path.exists():
        return path, None
    file, _, mapping = text.rpartition("#")
    return Path(file), parse_column_mapping(mapping)
