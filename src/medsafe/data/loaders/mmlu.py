"""MMLU: header-less multiple-choice CSVs, one subject per file."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from medsafe.data.loaders._reading import Reading, csv_rows, nonblank, read_text, record_file, split_label
from medsafe.data.loaders.mcq import mcq_prompt
from medsafe.errors import InputError
from medsafe.samples import Sample, user_sample

MMLU_FIELDS = ("question", "A", "B", "C", "D", "answer")


def _mmlu_files(path: Path, split: str | None) -> tuple[list[Path], str]:
    wanted = split or "test"
    if path.is_file():
        return [path], wanted
    if not path.exists():
        raise InputError(path, None, None, "file or folder not found")
    # MMLU's data folder holds dev/, val/ and test/ subfolders; pointing at it picks the split's.
    folder = path / wanted if (path / wanted).is_dir() else path
    files = sorted(folder.glob(f"*_{wanted}.csv"))
    if not files and split is None:
        files = sorted(folder.glob("*.csv"))
    if not files:
        either = "" if split else " or *.csv files"
        raise InputError(folder, None, None, f"no *_{wanted}.csv files{either}")
    return files, wanted


def read_mmlu(path: Path, split: str | None, allow_partial: bool) -> Reading:
    """The rows of the file, or of the split's files in a folder."""
    split_label(split, path)
    files, wanted = _mmlu_files(path, split)
    reading = Reading()
    for file in files:
        text, sha = read_text(file)
        suffix = f"_{wanted}"
        subject = file.stem.removesuffix(suffix) if file.stem.endswith(suffix) else file.stem
        label = wanted if file.stem.endswith(suffix) else split
        before = len(reading.samples)
        for index, (line, row) in enumerate(csv_rows(file, text)):
            if len(row) < len(MMLU_FIELDS):
                raise InputError(file, line, MMLU_FIELDS[len(row)], "missing")
            if len(row) > len(MMLU_FIELDS):
                raise InputError(file, line, None,
                                 f"{len(row)} fields, expected 6: question,A,B,C,D,answer (no header)")
            answer = row[5].strip()
            if answer not in ("A", "B", "C", "D"):
                hint = " (MMLU files have no header row)" if index == 0 else ""
                raise InputError(file, line, "answer", f"expected A, B, C or D, got {answer!r}{hint}")
            # Options are kept verbatim, even blank ones: they are still choices the item offers.
            options = dict(zip("ABCD", (o.strip() for o in row[1:5]), strict=True))
            question = nonblank(row[0], file, line, "question")
            reading.samples.append(user_sample(
                f"mmlu-{subject}-{index:04d}", "mmlu", mcq_prompt(question, options), split=label,
                metadata={"answer": answer, "options": options, "subject": subject},
            ))
        if len(reading.samples) == before:
            raise InputError(file, None, None, "no rows: the file has only blank lines")
        record_file(reading, file, sha, len(reading.samples) - before)
    return reading


def load_mmlu(path: Path, split: str | None = None) -> Sequence[Sample]:
    """MMLU header-less CSVs (question, A, B, C, D, answer) from a file or a folder.

    A folder is read as its ``*_{split}.csv`` files (split ``test`` by default, looking inside a
    ``{split}`` subfolder when there is one), or all ``*.csv`` files when none match and no split
    was asked for. The subject is the file name without the split suffix.
    """
    return read_mmlu(Path(path), split, False).samples
