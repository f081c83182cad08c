"""PubMedQA: yes/no/maybe questions over PubMed abstracts, one JSON object keyed by PubMed id."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from medsafe.data.loaders._reading import Reading, need_str, read_text, record_file, split_label
from medsafe.data.loaders.mcq import mcq_prompt
from medsafe.errors import InputError
from medsafe.samples import Sample, user_sample

PUBMEDQA_OPTIONS = {"A": "yes", "B": "no", "C": "maybe"}


def _pubmedqa_sample(pmid: str, entry: Any, path: Path, split: str | None) -> Sample:
    if not isinstance(entry, dict):
        raise InputError(path, None, None, f"expected an object, got {type(entry).__name__}")
    question = need_str(entry, "QUESTION", path, None)
    contexts = entry.get("CONTEXTS")
    if contexts is None:
        raise InputError(path, None, "CONTEXTS", "missing")
    if not isinstance(contexts, list) or not contexts or not all(isinstance(c, str) for c in contexts):
        raise InputError(path, None, "CONTEXTS", "expected a non-empty list of strings")
    decision = need_str(entry, "final_decision", path, None)
    letter = next((k for k, v in PUBMEDQA_OPTIONS.items() if v == decision), None)
    if letter is None:
        raise InputError(path, None, "final_decision", f"expected yes, no or maybe, got {decision!r}")
    context = "\n".join(c.strip() for c in contexts)
    prompt = mcq_prompt(f"Context:\n{context}\n\nQuestion: {question}", PUBMEDQA_OPTIONS)
    return user_sample(
        f"pubmedqa-{pmid}", "pubmedqa", prompt, split=split,
        metadata={"answer": letter, "options": dict(PUBMEDQA_OPTIONS), "pmid": pmid},
    )


def read_pubmedqa(path: Path, split: str | None, allow_partial: bool) -> Reading:
    """The entries of the JSON object, each a yes/no/maybe item over its abstract."""
    split = split_label(split, path)
    text, sha = read_text(path)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(path, exc.lineno, None, f"invalid JSON: {exc.msg}") from exc
    # ValueError also covers integers too long to convert; RecursionError, absurd nesting.
    except (ValueError, RecursionError) as exc:
        raise InputError(path, None, None, f"invalid JSON: {exc or type(exc).__name__}") from exc
    if not isinstance(data, dict):
        raise InputError(path, 1, None, "expected a JSON object mapping PubMed ids to questions")
    if not data:
        raise InputError(path, None, None, "no rows: the file is empty")
    reading = Reading()
    for pmid, entry in data.items():
        try:
            reading.samples.append(_pubmedqa_sample(pmid, entry, path, split))
        except InputError as exc:
            # json.loads keeps no positions, so the line (of the entry's key) is found only on failure.
            at = text.find(json.dumps(pmid))
            line = text.count("\n", 0, at) + 1 if at >= 0 else None
            raise InputError(path, line, exc.field, f"{exc.problem} (entry {pmid!r})") from None
    record_file(reading, path, sha, len(reading.samples))
    return reading


def load_pubmedqa(path: Path, split: str | None = None) -> Sequence[Sample]:
    """PubMedQA JSON (id -> ``QUESTION``, ``CONTEXTS``, ``final_decision``) as A=yes, B=no, C=maybe."""
    return read_pubmedqa(Path(path), split, False).samples
