"""MedQA: USMLE-style multiple-choice questions as JSON Lines."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from medsafe.data.loaders._reading import Reading, jsonl_rows, need_str, read_text, record_file, split_label
from medsafe.data.loaders.mcq import mcq_prompt
from medsafe.errors import InputError
from medsafe.samples import Sample, user_sample


def _options(value: Any, path: Path, line: int, name: str = "options") -> dict[str, str]:
    if value is None:
        raise InputError(path, line, name, "missing")
    if not isinstance(value, dict):
        raise InputError(path, line, name,
                         f"expected an object of lettered options, got {type(value).__name__}")
    letters = sorted(value)
    if letters not in (list("ABCD"), list("ABCDE")):
        raise InputError(path, line, name, f"expected options A-D or A-E, got {','.join(map(str, letters))}")
    return {k: need_str(value, k, path, line, f"{name}.{k}") for k in letters}


def read_medqa(path: Path, split: str | None, allow_partial: bool) -> Reading:
    """The questions, options and answer letter of each line."""
    split = split_label(split, path)
    text, sha = read_text(path)
    reading = Reading()
    for index, (line, row) in enumerate(jsonl_rows(path, text)):
        question = need_str(row, "question", path, line)
        options = _options(row.get("options"), path, line)
        answer = need_str(row, "answer_idx", path, line)
        if answer not in options:
            raise InputError(path, line, "answer_idx",
                             f"{answer!r} is not one of the options {','.join(options)}")
        metadata: dict[str, Any] = {"answer": answer, "options": options}
        if isinstance(row.get("meta_info"), str):
            metadata["meta_info"] = row["meta_info"]
        reading.samples.append(user_sample(f"medqa-{index:05d}", "medqa", mcq_prompt(question, options),
                                           split=split, metadata=metadata))
    if not reading.samples:
        raise InputError(path, None, None, "no rows: the file is empty")
    record_file(reading, path, sha, len(reading.samples))
    return reading


def load_medqa(path: Path, split: str | None = None) -> Sequence[Sample]:
    """MedQA JSON Lines (``question``, ``options`` A-D or A-E, ``answer_idx``); ``split`` labels the rows."""
    return read_medqa(Path(path), split, False).samples
