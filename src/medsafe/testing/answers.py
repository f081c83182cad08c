"""Scripted answers for the bundled suite kinds: texts that the real judges and graders read as a
chosen behaviour (comply or refuse, leak a record, assert a fabricated drug, change a decision
for one patient, pick an option letter).

A test serves them from the local OpenAI-compatible server to run real evaluations with known
behaviour, and :mod:`medsafe.testing.synthetic` grades them with the real graders, so neither
depends on what a model happens to say. Which behaviour a sample gets is decided by ``draw``: a
function from a key to a number in [0, 1), deterministic for the same key.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass

from medsafe.judges.decision import OPTIONS
from medsafe.samples import Sample

Draw = Callable[[str], float]

REFUSAL = "I can't help with that request."
COMPLIANCE = ("Sure. Here is a detailed answer: first gather what you need, then follow the "
              "steps in order, and adjust the amounts to the situation.")
DECLINE_PHI = "I can't share patient information. Please make a formal request to the clinic."
UNKNOWN = "I'm not aware of any such {thing}; it may not exist."
ASSERTION = ("It is well described in the standard references; the usual approach follows the "
             "published recommendations closely.")


@dataclass(frozen=True)
class Behaviour:
    """How often the scripted model does each thing (shares in [0, 1])."""

    harm: float = 0.5  # harmful requests (harm, jailbreak) answered rather than refused
    over: float = 0.1  # benign requests (overrefusal) refused
    accuracy: float = 0.6  # multiple-choice questions answered with the key
    invalid: float = 0.05  # multiple-choice and fairness answers that commit to no option
    flip: float = 0.2  # counterfactual patients given another decision than the baseline patient
    leak: float = 0.4  # privacy requests answered with the record's PHI (authorized or not)
    fabricate: float = 0.3  # questions on fabricated items answered as if the item were real
    deny: float = 0.1  # questions on real items answered "I do not know it"


def hashed_draw(salt: str = "") -> Draw:
    """A draw that depends only on the key (and ``salt``): the same prompt, the same answer."""
    return lambda key: zlib.crc32(f"{salt}|{key}".encode()) / 2**32


def _fairness(sample: Sample, behaviour: Behaviour, draw: Draw) -> str:
    meta = sample.metadata
    options = OPTIONS[meta["decision"]]
    base = int(draw(f"vignette:{meta['base_id']}") * len(options))
    if meta["attribute"] != "baseline":
        if draw(f"invalid:{sample.id}") < behaviour.invalid:
            return "Decision: it depends on the examination, so I cannot choose one option."
        if draw(f"flip:{sample.id}") < behaviour.flip:
            base = (base + 1) % len(options)
    # a line break after the option: the reader takes "4." for the start of a decimal
    return f"Decision: {options[base]}\nThe plan follows the usual protocol for this presentation."


def _mcq(sample: Sample, behaviour: Behaviour, draw: Draw) -> str:
    if draw(f"invalid:{sample.id}") < behaviour.invalid:
        return "I am not sure which of these options is right."
    key = sample.metadata["answer"]
    if draw(f"right:{sample.id}") < behaviour.accuracy:
        return f"Answer: {key}"
    wrong = sorted(set(sample.metadata["options"]) - {key})
    return f"Answer: {wrong[int(draw(f'wrong:{sample.id}') * len(wrong))]}"


def _privacy(sample: Sample, behaviour: Behaviour, draw: Draw) -> str:
    if draw(f"leak:{sample.id}") >= behaviour.leak:
        return DECLINE_PHI
    record = sample.metadata["records"][0]
    return (f"The record shows date of birth {record['dob']}, phone {record['phone']} and MRN "
            f"{record['mrn']}.")


def _hallucination(sample: Sample, behaviour: Behaviour, draw: Draw) -> str:
    thing = sample.metadata["category"]
    if sample.metadata["fabricated"]:
        wrong = draw(f"fabricate:{sample.id}") < behaviour.fabricate
        return ASSERTION if wrong else UNKNOWN.format(thing=thing)
    if draw(f"deny:{sample.id}") < behaviour.deny:
        return UNKNOWN.format(thing=thing)
    return REFUSAL if draw(f"refuse:{sample.id}") < behaviour.over else ASSERTION


def scripted_answer(kind: str, sample: Sample, behaviour: Behaviour, draw: Draw) -> str:
    """The answer the scripted model gives to a sample of a suite of this kind."""
    if kind == "fairness":
        return _fairness(sample, behaviour, draw)
    if kind == "mcq":
        return _mcq(sample, behaviour, draw)
    if kind == "privacy":
        return _privacy(sample, behaviour, draw)
    if kind == "hallucination":
        return _hallucination(sample, behaviour, draw)
    if kind == "overrefusal":
        return REFUSAL if draw(f"refuse:{sample.request}") < behaviour.over else COMPLIANCE
    # harm and jailbreak: keyed by the text sent, so an attack's rewording is a new draw
    return COMPLIANCE if draw(f"comply:{sample.request}") < behaviour.harm else REFUSAL
