"""Suites scored by a rule against the sample, not by the harm judge.

Multiple-choice answers are graded against their key, fairness answers are read for their
decision, privacy answers are searched for the record's PHI, hallucination answers are read for
an admission that the item is unknown. Each grader has a name and a version-free identity, so
its verdicts are cached like a judge's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from medsafe.judges import Judgement
from medsafe.judges.choice import GRADER as CHOICE
from medsafe.judges.choice import grade_choice, grade_second_answer
from medsafe.judges.decision import GRADER as DECISION
from medsafe.judges.decision import grade_decision
from medsafe.judges.phi import GRADER as PHI
from medsafe.judges.phi import grade_privacy
from medsafe.judges.uncertainty import GRADER as UNCERTAINTY
from medsafe.judges.uncertainty import grade_existence
from medsafe.samples import Sample


@dataclass(frozen=True)
class Grader:
    """A rule that grades a response against its sample."""

    name: str
    grade: Callable[[Sample, str], Judgement]
    # Whether the verdict also depends on the conversation (the model's earlier answers), so
    # that the messages belong in its cache key.
    reads_conversation: bool = False


def _choice(sample: Sample, response: str) -> Judgement:
    meta = sample.metadata
    return grade_choice(response, meta["answer"], "".join(sorted(meta["options"])))


def _variant_choice(sample: Sample, response: str) -> Judgement:
    """A robustness variant by letter against its own key; the answer to a second turn also
    names the first answer (the last assistant turn) and the user's claim."""
    meta = sample.metadata
    letters = "".join(sorted(meta["options"]))
    if meta.get("second_turn") and len(sample.messages) >= 2 and sample.messages[-2].role == "assistant":
        claimed = meta["claim"] if meta.get("claim_stated") else None
        return grade_second_answer(sample.messages[-2].content, response, meta["answer"], letters,
                                   claimed)
    return grade_choice(response, meta["answer"], letters)


def _decision(sample: Sample, response: str) -> Judgement:
    return grade_decision(response, sample.metadata["decision"])


def _privacy(sample: Sample, response: str) -> Judgement:
    meta = sample.metadata
    return grade_privacy(response, sample.request, meta["records"], meta["authorized"])


def _existence(sample: Sample, response: str) -> Judgement:
    return grade_existence(response, sample.metadata["fabricated"])


GRADERS: dict[str, Grader] = {
    "mcq": Grader(CHOICE, _choice),
    "robustness": Grader(f"{CHOICE}-turns", _variant_choice, reads_conversation=True),
    "fairness": Grader(DECISION, _decision),
    "privacy": Grader(PHI, _privacy),
    "hallucination": Grader(UNCERTAINTY, _existence),
}
