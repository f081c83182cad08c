"""The labelled requests the guard's request screen learns from, and where each comes from.

Two kinds of source. Our own, bundled with medsafe: the ``train`` splits of ``harm`` (labelled
with their principle), ``overrefusal`` and ``request_twins`` (benign), the benign requests of
``judge_train`` and the composed requests and conversational turns of :mod:`composed_requests`.
Third-party, read from a checkout of MedSafetyBench (MIT licence) outside this repository, never
copied into it: its ``train`` split (900 harmful requests in two styles), a seeded sample of the
harmful requests Llama-3 generated per principle (``datasets/med_harm_llama3``), and the general
(non-medical) harmful instructions of the safety demonstrations it reuses from Bianchi et al.
(2023) whose demonstrated answer is a refusal. MedSafetyBench's ``test`` split is never read
here.

Labels: 0 benign, 1-9 the AMA principle a request would violate, :data:`GENERAL` a harmful
request outside medicine (it teaches the harm head, not the principle head).
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Set
from dataclasses import dataclass
from pathlib import Path

from medsafe.data import load_bundled
from medsafe.data.loaders import load_medsafetybench
from medsafe.errors import InputError
from medsafe.mitigate.composed_requests import (
    benign_requests,
    conversational_turns,
    harmful_requests,
)

BENIGN = 0
GENERAL = 10
N_COMPOSED = 1200
LLAMA3_PER_PRINCIPLE = 300
LLAMA3_SEED = 20261207
# Generated lines shorter than this are fragments ("Sure!"), longer ones are run-on generations.
LLAMA3_CHARS = (30, 400)
GENERAL_SAFETY_FILE = "train-splits-used-for-ft/gen_safety/ft_safety_gen_n900.json"


@dataclass(frozen=True)
class LabelledRequest:
    """One training request: its text, label (0 benign, 1-9 principle, 10 general harm), source."""

    text: str
    label: int
    source: str


def normalise(text: str) -> str:
    """Case- and spacing-insensitive form, for finding the same request in two sets."""
    return re.sub(r"\W+", " ", text.lower()).strip()


def bundled_requests() -> list[LabelledRequest]:
    """Our own training requests (no ``test`` split of any bundled set)."""
    rows = [LabelledRequest(r["request"], int(r["principle"]), "harm")
            for r in load_bundled("harm") if r["split"] == "train"]
    rows += [LabelledRequest(r["request"], BENIGN, "overrefusal")
             for r in load_bundled("overrefusal") if r["split"] == "train"]
    rows += [LabelledRequest(r["request"], BENIGN, "request_twins")
             for r in load_bundled("request_twins") if r["split"] == "train"]
    rows += [LabelledRequest(r["request"], BENIGN, "judge_train")
             for r in load_bundled("judge_train") if r["kind"] == "benign"]
    rows += [LabelledRequest(t, BENIGN, "composed_benign") for t in benign_requests(N_COMPOSED)]
    rows += [LabelledRequest(t, BENIGN, "conversational") for t in conversational_turns()]
    rows += [LabelledRequest(t, p, "composed_harmful") for t, p in harmful_requests()]
    return rows


def _datasets_folder(checkout: Path) -> Path:
    return checkout / "datasets" if (checkout / "datasets").is_dir() else checkout


def llama3_requests(checkout: Path, per_principle: int = LLAMA3_PER_PRINCIPLE,
                    seed: int = LLAMA3_SEED, exclude: Set[str] = frozenset()
                    ) -> list[LabelledRequest]:
    """A seeded sample of MedSafetyBench's Llama-3 harmful requests, ``per_principle`` each,
    drawn from those whose normalised text is not in ``exclude``."""
    rng = random.Random(seed)
    rows: list[LabelledRequest] = []
    for principle in range(1, 10):
        path = _datasets_folder(checkout) / "med_harm_llama3" / f"category_{principle}.txt"
        try:
            lines = path.read_text(encoding="utf-8").split("\n")
        except OSError as exc:
            raise InputError(path, None, None, f"cannot read ({exc.strerror or exc})") from exc
        lo, hi = LLAMA3_CHARS
        distinct = [t for t in dict.fromkeys(s.strip() for s in lines if lo <= len(s.strip()) <= hi)
                    if normalise(t) not in exclude]
        picked = rng.sample(distinct, min(per_principle, len(distinct)))
        rows += [LabelledRequest(t, principle, "msb_llama3") for t in picked]
    return rows


def general_harm_requests(checkout: Path) -> list[LabelledRequest]:
    """Non-medical harmful instructions whose demonstrated answer is a refusal."""
    from medsafe.judges import is_refusal

    path = _datasets_folder(checkout) / GENERAL_SAFETY_FILE
    try:
        records = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(path, None, None, f"cannot read the general safety demonstrations: {exc}"
                         ) from exc
    rows = []
    for index, record in enumerate(records, start=1):
        if not isinstance(record, dict) or not isinstance(record.get("instruction"), str):
            raise InputError(path, None, f"[{index}].instruction", "expected a string")
        # Instructions the demonstration answers (opinions, trivia) are not clearly harmful.
        if is_refusal(str(record.get("output", ""))):
            rows.append(LabelledRequest(record["instruction"].strip(), GENERAL, "general_safety"))
    return rows


def medsafetybench_requests(checkout: Path, llama3_per_principle: int = LLAMA3_PER_PRINCIPLE,
                            exclude: Set[str] = frozenset()) -> list[LabelledRequest]:
    """The third-party training requests: MedSafetyBench's train split, Llama-3 and general harm."""
    rows = [LabelledRequest(s.request, int(s.principle or 0),
                            f"msb_train_{s.metadata['source']}")
            for s in load_medsafetybench(checkout, "train")]
    return (rows + llama3_requests(checkout, llama3_per_principle, exclude=exclude)
            + general_harm_requests(checkout))


def training_corpus(checkout: Path | None, exclude: Set[str] = frozenset(),
                    llama3_per_principle: int = LLAMA3_PER_PRINCIPLE) -> list[LabelledRequest]:
    """Every training request once (first label wins), minus any whose normalised text is in
    ``exclude`` (the evaluation sets, so that no figure is measured on a training request)."""
    rows = bundled_requests()
    if checkout is not None:
        rows += medsafetybench_requests(checkout, llama3_per_principle, exclude)
    seen = set(exclude)
    out = []
    for row in rows:
        key = normalise(row.text)
        if key and key not in seen:
            seen.add(key)
            out.append(row)
    return out
