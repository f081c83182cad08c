"""Alpaca-style instruction data: a JSON list (or JSON Lines) of ``{instruction, input, output}``.

This is the format of MedSafetyBench's fine-tuning splits
(``datasets/train-splits-used-for-ft/*/ft_safety_*_nN.json``) and of many safety-demonstration
sets. The request is the instruction, followed by the input when there is one; the output, when
present, is the reference answer (the demonstration a fine-tuning learns).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from medsafe.data.loaders._reading import (
    Reading,
    check_unique,
    jsonl_rows,
    need_str,
    read_text,
    record_file,
    split_label,
)
from medsafe.errors import InputError
from medsafe.samples import Sample, user_sample


def _json_error(exc: Exception) -> str:
    return exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc) or type(exc).__name__


def json_list_rows(path: Path, text: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield (line where the element starts, element) for each element of a top-level JSON list.

    The elements are decoded one at a time so that a problem names the line of the element it is
    in, as JSON Lines errors do.
    """
    decoder = json.JSONDecoder()
    ws = " \t\r\n"

    def line_of(pos: int) -> int:
        return text.count("\n", 0, pos) + 1

    pos = len(text) - len(text.lstrip(ws))
    if not text.startswith("[", pos):
        raise InputError(path, line_of(pos), None, "expected a JSON list of objects (or JSON Lines)")
    pos += 1
    first = True
    while True:
        while pos < len(text) and text[pos] in ws:
            pos += 1
        if pos >= len(text):
            raise InputError(path, line_of(pos), None, "invalid JSON: the list is not closed")
        if text[pos] == "]":
            rest = text[pos + 1:].strip(ws)
            if rest:
                raise InputError(path, line_of(pos + 1 + text[pos + 1:].index(rest[0])), None,
                                 "invalid JSON: extra data after the list")
            return
        if not first:
            if text[pos] != ",":
                raise InputError(path, line_of(pos), None, "invalid JSON: expected ',' or ']'")
            pos += 1
            while pos < len(text) and text[pos] in ws:
                pos += 1
        start = pos
        try:
            obj, pos = decoder.raw_decode(text, pos)
        except (ValueError, RecursionError) as exc:
            where = exc.pos if isinstance(exc, json.JSONDecodeError) else start
            raise InputError(path, line_of(where), None, f"invalid JSON: {_json_error(exc)}") from exc
        if not isinstance(obj, dict):
            raise InputError(path, line_of(start), None, "each list element must be a JSON object")
        first = False
        yield line_of(start), obj


def _optional_str(row: dict[str, Any], key: str, path: Path, line: int) -> str:
    value = row.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InputError(path, line, key, f"expected str, got {type(value).__name__}")
    return value.strip()


def read_alpaca(path: Path, split: str | None, allow_partial: bool) -> Reading:
    """The instructions of an Alpaca-style file, with their outputs as references."""
    split = split_label(split, path)
    text, sha = read_text(path)
    is_list = text.lstrip(" \t\r\n\ufeff").startswith("[")
    rows = json_list_rows(path, text) if is_list else jsonl_rows(path, text)
    reading = Reading(notes={"layout": "json list" if is_list else "json lines"})
    stem = path.stem
    for index, (line, row) in enumerate(rows):
        instruction = need_str(row, "instruction", path, line)
        extra = _optional_str(row, "input", path, line)
        output = _optional_str(row, "output", path, line)
        request = f"{instruction}\n\n{extra}" if extra else instruction
        sample_id = row.get("id", f"{stem}-{index:04d}")
        if not isinstance(sample_id, str | int) or isinstance(sample_id, bool):
            raise InputError(path, line, "id", f"expected str or int, got {type(sample_id).__name__}")
        reading.samples.append(user_sample(
            str(sample_id), "alpaca", request, split=split, reference=output or None,
            metadata={"line": line},
        ))
    if not reading.samples:
        raise InputError(path, None, None, "no rows: the list is empty")
    check_unique(reading.samples, path)
    record_file(reading, path, sha, len(reading.samples))
    return reading


def load_alpaca(path: Path, split: str | None = None) -> Sequence[Sample]:
    """Alpaca-style ``{instruction, input, output}`` rows from a JSON list or JSON Lines file."""
    return read_alpaca(Path(path), split, False).samples
