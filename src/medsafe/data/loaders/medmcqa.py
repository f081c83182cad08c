"""MedMCQA: medical entrance-exam multiple-choice questions as JSON Lines, answers 1-based or 0-based."""

from __future__ import annotations

from collections.abc import Sequence
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
from medsafe.data.loaders.mcq import mcq_prompt
from medsafe.errors import InputError
from medsafe.samples import Sample, user_sample


def read_medmcqa(path: Path, split: str | None, allow_partial: bool) -> Reading:
    """The questions of each line, with the answer base detected for the whole file."""
    split = split_label(split, path)
    text, sha = read_text(path)
    rows: list[tuple[int, dict[str, Any], int]] = []
    for line, row in jsonl_rows(path, text):
        cop = row.get("cop")
        if cop is None or cop == -1:
            raise InputError(path, line, "cop",
                             "missing (the official MedMCQA test split has no answers: use dev)")
        if not isinstance(cop, int) or isinstance(cop, bool) or not 0 <= cop <= 4:
            raise InputError(path, line, "cop", f"expected an option number 1-4 (or 0-3), got {cop!r}")
        rows.append((line, row, cop))
    if not rows:
        raise InputError(path, None, None, "no rows: the file is empty")
    # The official release numbers answers 1-4, some re-exports 0-3: a 0 or a 4 settles it per file.
    zero = next((line for line, _, cop in rows if cop == 0), None)
    four = next((line for line, _, cop in rows if cop == 4), None)
    if zero is not None and four is not None:
        raise InputError(path, max(zero, four), "cop",
                         f"mixes 0-based and 1-based answers (0 on line {zero}, 4 on line {four})")
    base = 0 if zero is not None else 1
    reading = Reading(notes={"cop_base": base})
    for index, (line, row, cop) in enumerate(rows):
        question = need_str(row, "question", path, line)
        options = {letter: need_str(row, f"op{letter.lower()}", path, line) for letter in "ABCD"}
        metadata: dict[str, Any] = {"answer": "ABCD"[cop - base], "options": options,
                                    "subject": need_str(row, "subject_name", path, line)}
        metadata |= {k: row[k] for k in ("topic_name", "choice_type") if isinstance(row.get(k), str)}
        row_id = row.get("id")
        has_id = isinstance(row_id, str | int) and not isinstance(row_id, bool) and str(row_id).strip()
        sample_id = f"medmcqa-{str(row_id).strip()}" if has_id else f"medmcqa-{index:06d}"
        reading.samples.append(user_sample(sample_id, "medmcqa", mcq_prompt(question, options), split=split,
                                           metadata=metadata))
    check_unique(reading.samples, path)
    record_file(reading, path, sha, len(reading.samples))
    return reading


def load_medmcqa(path: Path, split: str | None = None) -> Sequence[Sample]:
    """MedMCQA JSON Lines (``question``, ``opa``-``opd``, ``cop``, ``subject_name``).

    ``cop`` is 1-based in the official release and 0-based in some re-exports; the base is
    detected per file (any 0 means 0-based, any 4 means 1-based, neither means 1-based).
    """
    return read_medmcqa(Path(path), split, False).samples
