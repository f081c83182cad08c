"""What every format reader shares: the record of one load, and strict reading of text, CSV and
JSON Lines in which every problem is an ``InputError`` naming the file, the line and the field.

Each format module has a ``read_<format>(path, split, allow_partial) -> Reading``; the registry
turns a ``Reading`` into samples and a reproducibility record.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medsafe.errors import InputError, MedsafeError
from medsafe.samples import PackedSamples, Sample


@dataclass
class Reading:
    """What one load produced: the samples, the files behind them and any gaps."""

    # Packed as each loader appends (see PackedSamples): never all held as models.
    samples: PackedSamples = field(default_factory=PackedSamples)
    files: list[dict[str, Any]] = field(default_factory=list)
    missing: list[dict[str, Any]] = field(default_factory=list)
    notes: dict[str, Any] = field(default_factory=dict)


def read_text(path: Path) -> tuple[str, str]:
    """The file's text and the SHA-256 of the exact bytes parsed; fails on absence, bad UTF-8, emptiness."""
    if not path.exists():
        raise InputError(path, None, None, "file not found")
    if not path.is_file():
        raise InputError(path, None, None, "expected a file, found a folder")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(path, None, None, f"cannot read: {exc.strerror or exc}") from exc
    sha = hashlib.sha256(raw).hexdigest()
    # Spreadsheet exports often start with a byte-order mark; it is not part of the first field.
    data = raw[len(codecs.BOM_UTF8):] if raw.startswith(codecs.BOM_UTF8) else raw
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise InputError(path, line, None, f"not valid UTF-8 ({exc.reason})") from exc
    if not text.strip():
        raise InputError(path, None, None, "no rows: the file is empty")
    return text, sha


def csv_rows(path: Path, text: str) -> Iterator[tuple[int, list[str]]]:
    """Yield (first line of the record, fields) for each non-blank CSV record."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    previous = 0
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise InputError(path, max(reader.line_num, 1), None, f"malformed CSV: {exc}") from exc
        # A quoted field may span lines, so the record starts just after the previous one ended.
        start, previous = previous + 1, reader.line_num
        if not row or (len(row) == 1 and not row[0].strip()):
            continue
        yield start, row


def csv_header(path: Path, text: str, required: tuple[str, ...],
                expected: str) -> tuple[list[str], Iterator[tuple[int, dict[str, str]]]]:
    """Check the header names the required columns, then yield (line, row as a dict) per record."""
    rows = csv_rows(path, text)
    first = next(rows, None)
    if first is None:
        raise InputError(path, None, None, "no rows: the file is empty")
    header_line, header = first
    header = [h.strip() for h in header]
    for name in required:
        if name not in header:
            got = ",".join(header)
            raise InputError(path, header_line, name,
                             f"wrong header: column missing (got {got!r}, expected {expected!r})")
    named = [h for h in header if h]
    if len(set(named)) != len(named):
        dup = next(h for h in named if named.count(h) > 1)
        raise InputError(path, header_line, dup, "wrong header: column named twice")

    def records() -> Iterator[tuple[int, dict[str, str]]]:
        count = 0
        for line, row in rows:
            count += 1
            if len(row) < len(header):
                raise InputError(path, line, header[len(row)] or f"column {len(row) + 1}", "missing")
            if len(row) > len(header):
                raise InputError(path, line, None,
                                 f"{len(row)} fields but the header has {len(header)} (unquoted comma?)")
            yield line, dict(zip(header, row, strict=True))
        if not count:
            raise InputError(path, None, None, "no rows after the header: the file is empty")

    return header, records()


def single_column(path: Path, text: str, name: str) -> Iterator[tuple[int, str]]:
    """Yield (line, text) for a header-less file holding one (possibly quoted) value per line."""
    count = 0
    for line, row in csv_rows(path, text):
        if len(row) != 1:
            raise InputError(path, line, None,
                             f"expected one {name} per line, found {len(row)} fields (unquoted comma?)")
        count += 1
        yield line, nonblank(row[0], path, line, name)
    if not count:
        raise InputError(path, None, None, "no rows: the file has only blank lines")


def nonblank(value: str, path: Path, line: int | None, name: str) -> str:
    """The value stripped, failing when it is blank: a blank request is a missing one."""
    value = value.strip()
    if not value:
        raise InputError(path, line, name, "empty")
    return value


def jsonl_rows(path: Path, text: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield (line, object) per non-blank line of JSON Lines text."""
    # Split on "\n" only: str.splitlines would also break on U+2028 and friends inside strings.
    for lineno, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        # ValueError also covers integers too long to convert; RecursionError, absurd nesting.
        except (ValueError, RecursionError) as exc:
            msg = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc) or type(exc).__name__
            raise InputError(path, lineno, None, f"invalid JSON: {msg}") from exc
        if not isinstance(obj, dict):
            raise InputError(path, lineno, None, "each line must be a JSON object")
        yield lineno, obj


def need_str(obj: dict[str, Any], key: str, path: Path, line: int | None,
              label: str | None = None) -> str:
    """``obj[key]`` as non-blank text, failing with file, line and field otherwise."""
    name = label or key
    if key not in obj or obj[key] is None:
        raise InputError(path, line, name, "missing")
    value = obj[key]
    if not isinstance(value, str):
        raise InputError(path, line, name, f"expected str, got {type(value).__name__}")
    return nonblank(value, path, line, name)


def record_file(reading: Reading, path: Path, sha: str, rows: int) -> None:
    """Note one file read: its path, the SHA-256 of its bytes and the rows it gave."""
    reading.files.append({"path": str(path), "sha256": sha, "rows": rows})


def check_unique(samples: Sequence[Sample], path: Path) -> None:
    """Fail on the first id given twice: results are keyed by sample id."""
    seen: set[str] = set()
    for sample in samples:
        if sample.id in seen:
            raise InputError(path, None, "id", f"duplicate id {sample.id!r}")
        seen.add(sample.id)


def split_label(split: str | None, path: Path) -> str | None:
    """A split for a single-file set only labels its samples; it has to be a plain word."""
    if split is not None and (not split or any(c in split for c in "/\\:@#!")):
        raise MedsafeError(f"invalid split {split!r} for {path}: use a plain name such as test or dev")
    return split
