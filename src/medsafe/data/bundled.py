"""The datasets written for medsafe and shipped inside the package, with their hashes."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from medsafe.data._jsonl import read_jsonl
from medsafe.errors import MedsafeError


@dataclass(frozen=True)
class BundledSet:
    """A bundled dataset: its file, the fields every row carries and a one-line description."""

    name: str
    filename: str
    fields: dict[str, type | tuple[type, ...]]
    description: str


# The labelled (request, response) corpora share one schema.
JUDGE_FIELDS: dict[str, type | tuple[type, ...]] = {
    "id": str, "principle": int, "request": str, "response": str, "score": int, "refusal": bool,
    "kind": str,
}

BUNDLED: dict[str, BundledSet] = {
    s.name: s
    for s in (
        BundledSet(
            "harm", "harm.jsonl",
            {"id": str, "principle": int, "request": str, "reference_response": str,
             "style": str, "severity": int, "requester": str, "split": str},
            "Harmful medical requests over the nine AMA principles, with safe reference answers.",
        ),
        BundledSet(
            "overrefusal", "overrefusal.jsonl",
            {"id": str, "principle": int, "request": str, "reference_answer": str, "topic": str,
             "split": str},
            "Benign medical requests that sound sensitive; a good model answers them.",
        ),
        BundledSet(
            "request_twins", "request_twins.jsonl",
            {"id": str, "principle": int, "form": str, "request": str, "split": str},
            "Benign requests in the terse style of harmful ones, on the same topics.",
        ),
        BundledSet(
            "mcq", "mcq.jsonl",
            {"id": str, "specialty": str, "question": str, "options": dict, "answer": str,
             "explanation": str, "difficulty": str},
            "Medical multiple-choice questions across specialties, for an offline capability check.",
        ),
        BundledSet(
            "mcq_lay", "mcq_lay.jsonl", {"id": str, "lay": str},
            "The mcq questions rephrased in plain patient language, keyed by question id.",
        ),
        BundledSet(
            "distractors", "distractors.jsonl", {"id": str, "text": str},
            "Clinically irrelevant sentences the robustness suite adds to questions.",
        ),
        BundledSet(
            "fairness", "fairness.jsonl",
            {"id": str, "domain": str, "decision": str, "vignette": str, "question": str,
             "ages": list},
            "Clinical vignettes with a patient slot, for counterfactual demographic fairness.",
        ),
        BundledSet(
            "privacy", "privacy.jsonl",
            {"id": str, "category": str, "party": str, "session": str, "template": str},
            "Requests for patient information from authorized and unauthorized parties.",
        ),
        BundledSet(
            "privacy_records", "privacy_records.jsonl",
            {"id": str, "name": str, "first_name": str, "last_name": str, "dob": str,
             "age": int, "mrn": str, "ssn": str, "phone": str, "email": str, "address": str,
             "city": str, "visit_date": str, "diagnosis": str, "medications": list},
            "Synthetic patient records (Faker, fixed seed) that the privacy suite puts in context.",
        ),
        BundledSet(
            "hallucination", "hallucination.jsonl",
            {"id": str, "kind": str, "category": str, "entity": str, "question": str},
            "Questions about fabricated and real drugs, diseases, guidelines and citations.",
        ),
        BundledSet(
            "judge_train", "judge_train.jsonl",
            JUDGE_FIELDS,
            "Labelled (request, response, score, refusal) pairs the classifier judge is trained on.",
        ),
        BundledSet(
            "judge_eval", "judge_eval.jsonl",
            JUDGE_FIELDS,
            "Held-out labelled pairs, written independently, for judge meta-evaluation only.",
        ),
    )
}


def bundled_dir() -> Path:
    """The folder holding the bundled data files."""
    return Path(str(resources.files("medsafe.data") / "bundled"))


def bundled_path(name: str) -> Path:
    """Path of a bundled set's file."""
    if name not in BUNDLED:
        raise MedsafeError(f"unknown bundled dataset '{name}' (known: {', '.join(BUNDLED)})")
    return bundled_dir() / BUNDLED[name].filename


@cache
def _sha256(path: str, mtime_ns: int) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def dataset_sha256(path: Path) -> str:
    """SHA-256 of a data file (what run metadata records)."""
    return _sha256(str(path), path.stat().st_mtime_ns)


def load_bundled(name: str) -> list[dict[str, Any]]:
    """All rows of a bundled set, validated."""
    spec = BUNDLED.get(name)
    if spec is None:
        raise MedsafeError(f"unknown bundled dataset '{name}' (known: {', '.join(BUNDLED)})")
    return read_jsonl(bundled_path(name), spec.fields)
