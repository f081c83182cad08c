"""The supported formats by name, and ``load_external``, which reads one and records what was read."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from medsafe.data.loaders._reading import Reading
from medsafe.data.loaders.advbench import load_advbench, read_advbench
from medsafe.data.loaders.alpaca import load_alpaca, read_alpaca
from medsafe.data.loaders.generic import load_generic, read_generic, split_generic_path
from medsafe.data.loaders.hexphi import load_hexphi, read_hexphi
from medsafe.data.loaders.medmcqa import load_medmcqa, read_medmcqa
from medsafe.data.loaders.medqa import load_medqa, read_medqa
from medsafe.data.loaders.medsafetybench import load_medsafetybench, read_medsafetybench
from medsafe.data.loaders.mmlu import load_mmlu, read_mmlu
from medsafe.data.loaders.pubmedqa import load_pubmedqa, read_pubmedqa
from medsafe.data.loaders.xstest import load_xstest, read_xstest
from medsafe.errors import MedsafeError
from medsafe.samples import Sample

Task = Literal["harm", "mcq", "overrefusal"]


@dataclass(frozen=True)
class LoaderInfo:
    """One supported benchmark format: its loader and what its ``PATH`` and ``@SPLIT`` mean."""

    name: str
    load: Callable[..., Sequence[Sample]]
    task: Task
    path: str
    description: str
    # Accepted @SPLIT values; empty means the split is only a label copied onto the samples.
    splits: tuple[str, ...] = ()
    default_split: str | None = None
    # Whether the format is a folder of per-category files, so that !partial applies.
    partial: bool = False
    # Whether the format has splits at all; when False an @SPLIT is a mistake.
    has_splits: bool = True


LOADERS: dict[str, LoaderInfo] = {
    info.name: info
    for info in (
        LoaderInfo("medsafetybench", load_medsafetybench, "harm",
                   "the med-safety-bench folder or its datasets folder",
                   "MedSafetyBench harmful medical requests over the nine AMA principles, with safe replies.",
                   splits=("train", "test", "all"), default_split="test", partial=True),
        LoaderInfo("hexphi", load_hexphi, "harm", "the HEx-PHI folder of category_1.csv ... category_11.csv",
                   "HEx-PHI harmful instructions over 11 prohibited-use categories.", partial=True,
                   has_splits=False),
        LoaderInfo("advbench", load_advbench, "harm", "harmful_behaviors.csv (header goal,target)",
                   "AdvBench harmful behaviours.", has_splits=False),
        LoaderInfo("xstest", load_xstest, "overrefusal", "the XSTest prompts CSV (prompt, type, label)",
                   "XSTest safe prompts that look unsafe, and unsafe contrasts, for over-refusal.",
                   has_splits=False),
        LoaderInfo("medqa", load_medqa, "mcq", "a MedQA .jsonl file",
                   "MedQA USMLE-style multiple-choice questions."),
        LoaderInfo("medmcqa", load_medmcqa, "mcq", "a MedMCQA .json/.jsonl file (one object per line)",
                   "MedMCQA medical entrance-exam multiple-choice questions."),
        LoaderInfo("pubmedqa", load_pubmedqa, "mcq", "a PubMedQA JSON file (e.g. ori_pqal.json)",
                   "PubMedQA yes/no/maybe questions over PubMed abstracts."),
        LoaderInfo("mmlu", load_mmlu, "mcq", "an MMLU CSV file or a folder of *_test.csv files",
                   "MMLU multiple-choice questions, one subject per file.", splits=("dev", "val", "test"),
                   default_split="test"),
        LoaderInfo("alpaca", load_alpaca, "harm",
                   "a JSON list (or JSON Lines) of {instruction, input, output}",
                   "Alpaca-style instructions with their outputs as reference answers (e.g. "
                   "MedSafetyBench's fine-tuning splits).", has_splits=True),
        LoaderInfo("generic", load_generic, "harm", "a .jsonl or .csv file, then #request=COLUMN,...",
                   "Harm requests from any JSONL or CSV file with a column mapping."),
    )
}

_READERS: dict[str, Callable[..., Reading]] = {
    "medsafetybench": read_medsafetybench, "hexphi": read_hexphi, "advbench": read_advbench,
    "xstest": read_xstest, "medqa": read_medqa, "medmcqa": read_medmcqa, "pubmedqa": read_pubmedqa,
    "mmlu": read_mmlu, "alpaca": read_alpaca, "generic": read_generic,
}


def load_external(name: str, path: Path, split: str | None = None,
                  allow_partial: bool = False) -> tuple[Sequence[Sample], dict[str, Any]]:
    """Load a public benchmark by format name; return its samples and a reproducibility record.

    The record holds the format, path, split, row count, every file read (path, SHA-256 of the
    bytes parsed, rows) and ``missing_categories`` (non-empty only for a partial folder loaded
    with ``allow_partial``). For ``generic``, ``path`` may end in ``#request=COLUMN,...``.
    """
    info = LOADERS.get(name)
    if info is None:
        raise MedsafeError(f"unknown benchmark format '{name}' (known: {', '.join(LOADERS)})")
    if split is not None and not info.has_splits:
        raise MedsafeError(f"{name} has no splits: drop '@{split}'")
    if info.splits and split is not None and split not in info.splits:
        raise MedsafeError(f"unknown split '{split}' for {name} (use {', '.join(info.splits)})")
    if allow_partial and not info.partial:
        partial = ", ".join(n for n, i in LOADERS.items() if i.partial)
        raise MedsafeError(f"!partial only applies to folders of category files ({partial}), not {name}")
    path = Path(path).expanduser()
    # Absolute paths make the record (and error messages) meaningful from any working directory.
    if name == "generic":
        path, mapping = split_generic_path(path)
        reading = read_generic(path.absolute(), split, allow_partial, mapping)
    else:
        reading = _READERS[name](path.absolute(), split, allow_partial)
    path = path.absolute()
    used_split = split if split is not None else info.default_split
    metadata: dict[str, Any] = {
        "format": name, "path": str(path), "split": used_split, "task": info.task,
        "rows": len(reading.samples), "files": reading.files, "missing_categories": reading.missing,
        **reading.notes,
    }
    return reading.samples, metadata
