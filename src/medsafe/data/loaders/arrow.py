"""Rows of data the user already has in Arrow form: a parquet file or a Hugging Face
``save_to_disk`` folder (needs the hf-data extra, imported only when such data is read)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from medsafe.errors import InputError, MedsafeError


def arrow_rows(path: Path, split: str | None) -> tuple[Iterator[tuple[int, dict[str, Any]]], str,
                                                     str | None]:
    """Rows of a parquet file or a Hugging Face ``save_to_disk`` folder (needs the hf-data extra).

    Rows are numbered from 1 in place of line numbers; the hash covers the data files.
    """
    if not path.exists():
        raise InputError(path, None, None, "not found")
    digest = hashlib.sha256()
    if path.is_dir():
        try:
            import datasets
        except ImportError as exc:
            raise MedsafeError("reading a Hugging Face datasets folder needs "
                               "pip install 'medsafe[hf-data]'") from exc
        try:
            loaded = datasets.load_from_disk(str(path))
        except (FileNotFoundError, ValueError) as exc:
            raise InputError(path, None, None, f"not a save_to_disk folder: {exc}") from exc
        if isinstance(loaded, datasets.DatasetDict):
            if split is None or split not in loaded:
                raise InputError(path, None, None, f"a dataset with splits {sorted(loaded)}: "
                                 "name one with @SPLIT")
            loaded = loaded[split]
        for f in sorted(path.rglob("*.arrow")):
            digest.update(f.read_bytes())
        records = loaded.to_list()
    else:
        try:
            import pyarrow.parquet as pq
        except ImportError as exc:
            raise MedsafeError("reading parquet needs pip install 'medsafe[hf-data]'") from exc
        digest.update(path.read_bytes())
        try:
            records = pq.read_table(path).to_pylist()
        except Exception as exc:  # pyarrow raises its own error types for corrupt files
            raise InputError(path, None, None, f"unreadable parquet: {exc}") from exc
    return iter(enumerate(records, start=1)), digest.hexdigest(), split
