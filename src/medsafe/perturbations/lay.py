"""``lay``: the question rephrased in plain patient language.

The rephrasings of the bundled ``mcq`` questions are written for medsafe (the bundled
``mcq_lay`` set, one per question, keyed by its id); ``lay=FILE.jsonl`` reads your own, one
``{"id": ..., "lay": ...}`` row per question id. The options stay as written: a patient asks
in their own words, and the answer is still one of the options.
"""

from __future__ import annotations

import random
from pathlib import Path

from medsafe.data import bundled_path, iter_jsonl
from medsafe.data._jsonl import require
from medsafe.errors import InputError, MedsafeError
from medsafe.perturbations._base import Perturbation, Question, Variant


def read_rephrasings(path: Path) -> dict[str, str]:
    """Question id -> plain-language stem, from a JSONL file of ``id`` and ``lay`` rows."""
    out: dict[str, str] = {}
    for line, row in iter_jsonl(path):
        qid, lay = require(row, "id", str, path, line), require(row, "lay", str, path, line)
        if qid in out:
            raise InputError(path, line, "id", f"{qid!r} appears twice")
        if not lay.strip():
            raise InputError(path, line, "lay", "empty")
        out[qid] = lay.strip()
    if not out:
        raise InputError(path, None, None, "no rows: the file is empty")
    return out


class Lay(Perturbation):
    """The stem in a patient's words; the options and the key unchanged."""

    name = "lay"
    description = "the question rephrased in plain patient language (written for each question)"

    def __init__(self, argument: str = "") -> None:
        self.path = Path(argument).expanduser() if argument else bundled_path("mcq_lay")
        self.rephrasings = read_rephrasings(self.path)

    def apply(self, question: Question, rng: random.Random) -> Variant:
        """The question's rephrasing as its stem."""
        lay = self.rephrasings.get(question.id)
        if lay is None:
            raise MedsafeError(f"question {question.id} has no plain-language rephrasing in "
                               f"{self.path}")
        return question.variant(stem=lay)

    def unavailable(self, questions: list[Question]) -> str | None:
        """Questions with no rephrasing (any other set than the bundled mcq, unless given one)."""
        missing = [q.id for q in questions if q.id not in self.rephrasings]
        if not missing:
            return None
        return (f"{len(missing)} of {len(questions)} questions have no plain-language rephrasing "
                f"in {self.path} (first: {missing[0]}); give your own with lay=FILE.jsonl")

    def settings(self) -> dict[str, str]:
        """Where the rephrasings come from."""
        return {"path": str(self.path)}

    def data_files(self) -> dict[str, Path]:
        """The rephrasings file."""
        bundled = self.path == bundled_path("mcq_lay")
        return {"mcq_lay" if bundled else f"lay:{self.path.name}": self.path}
