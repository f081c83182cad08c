"""Training examples for safety fine-tuning: demonstrations read from a data spec, the benign
mix, and the preference pairs of DPO.

A data spec is a suite spec whose samples carry a reference answer (``harm:train``,
``overrefusal:train``, ``medsafetybench:PATH@train``) or a JSONL file (``FILE.jsonl`` or
``jsonl:FILE``) with ``request`` and ``reference`` (``reference_response`` and
``reference_answer``, the field names of ``medsafe data export``, are accepted too) and,
for DPO, an optional ``rejected`` answer.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from medsafe.data import iter_jsonl
from medsafe.data._jsonl import require
from medsafe.errors import InputError, MedsafeError

Kind = Literal["safety", "benign"]

# Field names that hold the answer to learn, in order of preference.
REFERENCE_FIELDS = ("reference", "reference_response", "reference_answer")
# Bundled sets with train/test splits; a bare name means their train split here.
SPLIT_SETS = ("harm", "overrefusal")

# Rejected answers for benign requests in DPO: the over-refusal we want the model to unlearn.
BENIGN_REFUSALS = (
    "I'm sorry, but I can't help with that request.",
    "I can't provide medical information on this topic. Please ask a healthcare professional.",
    "I'm not able to answer that, as it could be unsafe.",
    "Sorry, I cannot assist with this. Please consult your doctor.",
)


@dataclass(frozen=True)
class Demonstration:
    """One request with the answer the model should give (and, for DPO, one it should not)."""

    id: str
    request: str
    response: str
    kind: Kind
    split: str | None = None
    rejected: str | None = None


def normalise_spec(spec: str) -> str:
    """``harm`` means ``harm:train`` for training; everything else is kept as written."""
    return f"{spec}:train" if spec in SPLIT_SETS else spec


def _jsonl_path(spec: str) -> Path | None:
    if spec.startswith("jsonl:"):
        return Path(spec[len("jsonl:"):]).expanduser()
    if spec.endswith(".jsonl") and ":" not in spec.split("/")[0]:
        return Path(spec).expanduser()
    return None


def _from_jsonl(path: Path, kind: Kind) -> list[Demonstration]:
    demos = []
    for lineno, row in iter_jsonl(path):
        request = require(row, "request", str, path, lineno)
        field = next((f for f in REFERENCE_FIELDS if row.get(f) is not None), None)
        if field is None:
            raise InputError(path, lineno, "reference",
                             "missing: each training row needs the answer to learn "
                             f"(one of {', '.join(REFERENCE_FIELDS)})")
        response = require(row, field, str, path, lineno)
        rejected = row.get("rejected")
        if rejected is not None and not isinstance(rejected, str):
            raise InputError(path, lineno, "rejected", f"expected str, got {type(rejected).__name__}")
        demos.append(Demonstration(str(row.get("id", f"L{lineno}")), request, response, kind,
                                   row.get("split"), rejected))
    if not demos:
        raise InputError(path, None, None, "no rows: the file is empty")
    return demos


def load_demonstrations(spec: str, kind: Kind) -> list[Demonstration]:
    """The (request, reference answer) pairs a data spec names; a sample without a reference
    answer is an error naming the spec, the sample and the field."""
    from medsafe.suites import resolve_suite

    spec = normalise_spec(spec)
    path = _jsonl_path(spec)
    if path is not None:
        return _from_jsonl(path, kind)
    suite = resolve_suite(spec)
    demos = []
    for sample in suite.samples:
        if not sample.reference:
            raise MedsafeError(
                f"{spec}: sample '{sample.id}' has no field 'reference' (the answer to learn); "
                "fine-tuning needs a dataset with reference responses")
        demos.append(Demonstration(sample.id, sample.request, sample.reference, kind, sample.split))
    return demos


def mix(safety: list[Demonstration], benign: list[Demonstration], ratio: float,
        seed: int) -> list[Demonstration]:
    """All safety demonstrations plus ``ratio`` benign ones per safety one, chosen reproducibly
    by ``seed``, in a seeded shuffle. Past the number of benign examples that exist, each is
    repeated (whole rounds first, then a sample), so a ratio of 1 balances the two kinds."""
    if ratio < 0:
        raise MedsafeError(f"--benign-ratio must be >= 0, got {ratio}")
    rng = random.Random(seed)
    wanted = round(ratio * len(safety)) if benign else 0
    rounds, rest = divmod(wanted, len(benign)) if benign else (0, 0)
    chosen = safety + benign * rounds + rng.sample(benign, rest)
    rng.shuffle(chosen)
    return chosen


def _pick_refusal(demo_id: str) -> str:
    digest = int(hashlib.sha256(demo_id.encode()).hexdigest(), 16)
    return BENIGN_REFUSALS[digest % len(BENIGN_REFUSALS)]


def preference_pairs(demos: list[Demonstration],
                     compliant: dict[str, str]) -> tuple[list[Demonstration], int]:
    """DPO pairs: safety requests prefer the safe reference over a compliant answer (the row's
    own ``rejected``, else the base model's answer in ``compliant``); benign requests prefer the
    helpful reference over a refusal. Safety requests with no compliant answer are dropped;
    the count dropped is returned with the pairs."""
    pairs, dropped = [], 0
    for demo in demos:
        if demo.kind == "benign":
            rejected: str | None = demo.rejected or _pick_refusal(demo.id)
        else:
            rejected = demo.rejected or compliant.get(demo.id)
        if not rejected:
            dropped += 1
            continue
        pairs.append(Demonstration(demo.id, demo.request, demo.response, demo.kind, demo.split,
                                   rejected))
    return pairs, dropped


def sft_rows(demos: list[Demonstration]) -> list[dict[str, Any]]:
    """Conversational prompt-completion rows: the loss covers only the assistant's answer."""
    return [{"prompt": [{"role": "user", "content": d.request}],
             "completion": [{"role": "assistant", "content": d.response}]} for d in demos]


def dpo_rows(pairs: list[Demonstration]) -> list[dict[str, Any]]:
    """Conversational preference rows (prompt, chosen, rejected)."""
    return [{"prompt": [{"role": "user", "content": d.request}],
             "chosen": [{"role": "assistant", "content": d.response}],
             "rejected": [{"role": "assistant", "content": d.rejected}]} for d in pairs]
