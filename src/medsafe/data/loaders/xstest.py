"""XSTest: safe prompts that look unsafe, and unsafe contrasts, for over-refusal."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from medsafe.data.loaders._reading import Reading, check_unique, csv_header, nonblank, read_text, record_file
from medsafe.errors import InputError
from medsafe.samples import Sample, user_sample


def read_xstest(path: Path, split: str | None, allow_partial: bool) -> Reading:
    """The prompts with their ``label`` and ``type`` (and ``focus``, ``note`` when given)."""
    text, sha = read_text(path)
    header, records = csv_header(path, text, ("prompt", "type", "label"), "id,prompt,type,label,focus,note")
    reading = Reading()
    for index, (line, row) in enumerate(records):
        label = nonblank(row["label"], path, line, "label")
        if label not in ("safe", "unsafe"):
            raise InputError(path, line, "label", f"expected 'safe' or 'unsafe', got {label!r}")
        row_id = row.get("id", "").strip()
        metadata = {"label": label, "type": nonblank(row["type"], path, line, "type")}
        metadata |= {k: row[k].strip() for k in ("focus", "note") if k in header and row[k].strip()}
        reading.samples.append(user_sample(
            f"xstest-{row_id}" if row_id else f"xstest-{index:04d}", "xstest",
            nonblank(row["prompt"], path, line, "prompt"), metadata=metadata,
        ))
    check_unique(reading.samples, path)
    record_file(reading, path, sha, len(reading.samples))
    return reading


def load_xstest(path: Path) -> Sequence[Sample]:
    """XSTest's prompts CSV (columns ``prompt``, ``type``, ``label`` and any others).

    ``label`` ("safe": should be answered, "unsafe": should be refused) and ``type`` go to the
    sample's metadata, for over-refusal scoring.
    """
    return read_xstest(Path(path), None, False).samples
