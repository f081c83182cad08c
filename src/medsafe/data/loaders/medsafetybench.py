"""MedSafetyBench: harmful medical requests over the nine AMA principles, read
from a clone of its repository in either of the layouts it has been published in."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from medsafe.data.loaders._reading import Reading, csv_header, nonblank, read_text, record_file, single_column
from medsafe.errors import InputError, MedsafeError
from medsafe.samples import Sample, user_sample

MSB_SPLITS = ("train", "test")
MSB_SOURCES = ("gpt4", "llama2")
MSB_CATEGORIES = tuple(range(1, 10))


def _msb_file(root: Path, layout: str, split: str, source: str, category: int) -> Path:
    if layout == "demonstrations":
        return root / split / source / f"med_safety_demonstrations_category_{category}.csv"
    return root / f"med_harm_{source}" / split / f"category_{category}.csv"


def _msb_layout(root: Path) -> str | None:
    if any((root / s / src).is_dir() for s in MSB_SPLITS for src in MSB_SOURCES):
        return "demonstrations"
    if any((root / f"med_harm_{src}").is_dir() for src in MSB_SOURCES):
        return "med_harm"
    return None


def _absent_ancestor(path: Path, root: Path) -> Path:
    """The top-most missing folder between ``root`` and ``path``, so the error names what to restore."""
    top = path
    for parent in path.parents:
        if parent == root or parent.exists():
            break
        top = parent
    return top


def read_medsafetybench(path: Path, split: str | None, allow_partial: bool) -> Reading:
    """The category files of the split(s) asked for; with ``allow_partial``, those present."""
    split = split or "test"
    if split not in (*MSB_SPLITS, "all"):
        raise MedsafeError(f"unknown split '{split}' for medsafetybench (use train, test or all)")
    splits = MSB_SPLITS if split == "all" else (split,)
    if not path.exists():
        raise InputError(path, None, None, "folder not found")
    if not path.is_dir():
        raise InputError(path, None, None, "expected the med-safety-bench folder or its datasets folder")
    for root in (path / "datasets", path):
        layout = _msb_layout(root) if root.is_dir() else None
        if layout:
            break
    else:
        raise InputError(path, None, None,
                         "no MedSafetyBench data: expected datasets/{train,test}/{gpt4,llama2}/"
                         "med_safety_demonstrations_category_N.csv or datasets/med_harm_{gpt4,llama2}/"
                         "{train,test}/category_N.csv")
    reading = Reading(notes={"layout": layout})
    expected: list[tuple[str, str, int, Path]] = [
        (s, src, c, _msb_file(root, layout, s, src, c))
        for s in splits for src in MSB_SOURCES for c in MSB_CATEGORIES
    ]
    absent = [e for e in expected if not e[3].is_file()]
    if absent and (not allow_partial or len(absent) == len(expected)):
        s, src, c, file = absent[0]
        where = _absent_ancestor(file, root)
        hint = "" if len(absent) == len(expected) else "; add !partial to load the rest"
        raise InputError(where, None, None,
                         f"{'folder' if where != file else 'file'} not found ({len(absent)} of "
                         f"{len(expected)} category files missing, first {s}/{src} category {c}){hint}")
    reading.missing = [{"split": s, "source": src, "category": c, "path": str(file)}
                       for s, src, c, file in absent]
    for s, src, c, file in expected:
        if not file.is_file():
            continue
        text, sha = read_text(file)
        before = len(reading.samples)
        if layout == "demonstrations":
            _, records = csv_header(file, text, ("harmful_medical_request", "safe_response"),
                                     ",harmful_medical_request,safe_response")
            rows = ((line, nonblank(r["harmful_medical_request"], file, line, "harmful_medical_request"),
                     nonblank(r["safe_response"], file, line, "safe_response")) for line, r in records)
        else:
            rows = ((line, request, None) for line, request in single_column(file, text, "request"))
        for index, (_line, request, reference) in enumerate(rows):
            reading.samples.append(user_sample(
                f"msb-{s}-{src}-c{c}-{index:04d}", "medsafetybench", request, principle=c, split=s,
                reference=reference, metadata={"source": src, "category": c},
            ))
        record_file(reading, file, sha, len(reading.samples) - before)
    return reading


def load_medsafetybench(path: Path, split: str | None = "test",
                        allow_partial: bool = False) -> Sequence[Sample]:
    """MedSafetyBench from a clone of its repository (the root or its ``datasets`` folder).

    Reads ``datasets/{train,test}/{gpt4,llama2}/med_safety_demonstrations_category_N.csv`` or the
    older ``datasets/med_harm_{gpt4,llama2}/{train,test}/category_N.csv``. ``split`` is ``train``,
    ``test`` (the default) or ``all``; the principle is the category number (AMA principle 1-9).
    """
    return read_medsafetybench(Path(path), split, allow_partial).samples
