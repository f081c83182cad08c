"""Suites over public benchmark files already on disk: ``FORMAT:PATH[@SPLIT][!partial]``.

For example ``medsafetybench:/data/med-safety-bench@test``, ``hexphi:/data/HEx-PHI!partial`` or
``generic:/data/mine.csv#request=prompt,id=uid,principle=ama``. ``@SPLIT`` picks a split where
the format has them (medsafetybench, mmlu) and labels the samples otherwise; ``!partial`` lets a
folder of per-category files load with some categories missing (they are named in the suite's
description). Nothing is downloaded: see ``medsafe.data.loaders`` for the layouts read.
"""

from __future__ import annotations

import re
from pathlib import Path

from medsafe.data.loaders import LOADERS, load_external
from medsafe.errors import MedsafeError
from medsafe.suites._base import DatasetRef, ScoringKind, Suite

_SPLIT = re.compile(r"@([A-Za-z0-9_.-]+)$")


def parse_rest(name: str, rest: str) -> tuple[Path, str | None, bool]:
    """Split ``PATH[@SPLIT][!partial]`` into the path, the split and whether partial is allowed.

    A path that exists as written is never split, so files whose names contain '@' or '!' load.
    """
    text = rest.strip()
    if not text:
        raise MedsafeError(f"suite {name} needs a path: --suite {name}:PATH ({LOADERS[name].path})")
    partial = False
    head, bang, option = text.rpartition("!")
    if bang and "/" not in option and not Path(text).expanduser().exists():
        if option != "partial":
            raise MedsafeError(f"unknown option '!{option}' in suite {name}:{rest} (only !partial exists)")
        text, partial = head, True
    split = None
    match = _SPLIT.search(text)
    if match and not Path(text).expanduser().exists():
        text, split = text[: match.start()], match.group(1)
    if not text:
        raise MedsafeError(f"suite {name}:{rest} has no path before its options")
    return Path(text).expanduser(), split, partial


def _create(name: str, rest: str, kind: ScoringKind = "harm") -> Suite:
    path, split, partial = parse_rest(name, rest)
    samples, meta = load_external(name, path, split, partial)
    suite_name = f"{name}:{Path(meta['path']).name}" + (f"@{split}" if split else "")
    datasets = [DatasetRef(name=f"{name}:{Path(f['path']).name}", path=f["path"], sha256=f["sha256"],
                           rows=f["rows"]) for f in meta["files"]]
    description = f"{LOADERS[name].description} From {meta['path']}"
    if meta["split"]:
        description += f", split {meta['split']}"
    description += f": {meta['rows']} samples from {len(meta['files'])} file(s)."
    if meta["missing_categories"]:
        missing = ", ".join("/".join(str(m[k]) for k in ("split", "source", "category") if k in m)
                            for m in meta["missing_categories"])
        description += f" PARTIAL: missing categories {missing}."
    provenance = {k: meta[k] for k in ("format", "path", "split", "missing_categories")}
    return Suite(name=suite_name, kind=kind, samples=samples, datasets=datasets,
                 description=description, provenance=provenance)


def create_medsafetybench(rest: str) -> Suite:
    """``medsafetybench:PATH[@train|@test|@all][!partial]`` from a med-safety-bench clone (default test)."""
    return _create("medsafetybench", rest)


def create_hexphi(rest: str) -> Suite:
    """``hexphi:PATH[!partial]`` from the HEx-PHI folder of ``category_N.csv`` files."""
    return _create("hexphi", rest)


def create_advbench(rest: str) -> Suite:
    """``advbench:PATH`` from AdvBench's ``harmful_behaviors.csv``."""
    return _create("advbench", rest)


def create_alpaca(rest: str) -> Suite:
    """``alpaca:PATH[@SPLIT]`` from a JSON list or JSON Lines file of ``{instruction, input, output}``;
    the output is each sample's reference answer, so the suite is also a fine-tuning data spec."""
    return _create("alpaca", rest)


def create_generic(rest: str) -> Suite:
    """``generic:PATH[#request=COL,id=COL,principle=COL,reference=COL][@SPLIT]`` from a JSONL or CSV file."""
    return _create("generic", rest)


# The engine scores only harm today, so the capability and over-refusal sets below load as harm
# suites; their answers (metadata "answer" and "options") and XSTest labels wait for those kinds.


def create_xstest(rest: str) -> Suite:
    """``xstest:PATH`` from XSTest's prompts CSV; label and type are in each sample's metadata."""
    # XSTest mixes safe prompts (over-refusal) and unsafe ones (harm); scored as harm for now,
    # with each sample's label kept in its metadata for a split analysis.
    return _create("xstest", rest, kind="harm")


def create_medqa(rest: str) -> Suite:
    """``medqa:PATH[@SPLIT]`` from a MedQA JSONL file; the answer letter is in metadata."""
    return _create("medqa", rest, kind="mcq")


def create_medmcqa(rest: str) -> Suite:
    """``medmcqa:PATH[@SPLIT]`` from a MedMCQA JSON Lines file; the answer letter is in metadata."""
    return _create("medmcqa", rest, kind="mcq")


def create_pubmedqa(rest: str) -> Suite:
    """``pubmedqa:PATH[@SPLIT]`` from a PubMedQA JSON file; the answer letter is in metadata."""
    return _create("pubmedqa", rest, kind="mcq")


def create_mmlu(rest: str) -> Suite:
    """``mmlu:PATH[@dev|@val|@test]`` from an MMLU CSV or folder; the answer letter is in metadata."""
    return _create("mmlu", rest, kind="mcq")
