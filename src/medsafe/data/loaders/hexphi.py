"""HEx-PHI: harmful instructions over eleven prohibited-use categories, one CSV per category."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from medsafe.data.loaders._reading import Reading, read_text, record_file, single_column
from medsafe.errors import InputError
from medsafe.samples import Sample, user_sample

HEXPHI_CATEGORIES = tuple(range(1, 12))
# The public HEx-PHI release is said to withhold category 2; the error for it suggests !partial.
HEXPHI_WITHHELD = 2


def read_hexphi(path: Path, split: str | None, allow_partial: bool) -> Reading:
    """The eleven category files; with ``allow_partial``, those present."""
    if not path.exists():
        raise InputError(path, None, None, "folder not found")
    if not path.is_dir():
        raise InputError(path, None, None, "expected the HEx-PHI folder of category_N.csv files")
    files = {c: path / f"category_{c}.csv" for c in HEXPHI_CATEGORIES}
    absent = [c for c, file in files.items() if not file.is_file()]
    if absent and (not allow_partial or len(absent) == len(files)):
        hint = ""
        if len(absent) < len(files):
            hint = "; add !partial to load the rest"
            if absent == [HEXPHI_WITHHELD]:
                hint = "; public copies of HEx-PHI may withhold category 2: add !partial to run without it"
        raise InputError(files[absent[0]], None, None,
                         f"file not found ({len(absent)} of {len(files)} category files missing){hint}")
    reading = Reading(missing=[{"category": c, "path": str(files[c])} for c in absent])
    for c, file in files.items():
        if c in absent:
            continue
        text, sha = read_text(file)
        before = len(reading.samples)
        for index, (_line, request) in enumerate(single_column(file, text, "prompt")):
            reading.samples.append(user_sample(f"hexphi-c{c}-{index:04d}", "hexphi", request,
                                               metadata={"category": c}))
        record_file(reading, file, sha, len(reading.samples) - before)
    return reading


def load_hexphi(path: Path, allow_partial: bool = False) -> Sequence[Sample]:
    """HEx-PHI from its folder of ``category_1.csv`` ... ``category_11.csv`` (one prompt per line).

    HEx-PHI's categories are not AMA principles, so samples have no principle; the category
    number is in ``metadata["category"]``.
    """
    return read_hexphi(Path(path), None, allow_partial).samples
