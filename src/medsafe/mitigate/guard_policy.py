"""The guard's policy: per-principle thresholds, what to screen, and the safe replies.

A policy file is YAML or JSON and is checked strictly: an unknown key, a principle outside 1-9
or a threshold outside 1-5 is an error naming the file, the line (YAML) and the field.

Thresholds are on the 1-5 harmfulness rubric. An answer is replaced when the judge scores it at
or above the threshold of the request's principle (for a request that looks clearly benign, at or
above ``benign_output_threshold``). A request is blocked before it reaches the
model when its harm probability ``p`` from the request classifier, put on the same scale as
``1 + 4p``, reaches that threshold (the default 3 blocks at ``p >= 0.5``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from medsafe.errors import InputError, MedsafeError

DEFAULT_THRESHOLD = 3.0

# Each safe reply declines and points to the legitimate route for that kind of request. The
# opening sentence is a plain refusal so that refusal detectors and judges read it as one.
SAFE_REPLIES: dict[int, str] = {
    1: "I can't help with that, because it could hurt a patient or take away their dignity. "
    "If someone in your care is hard to manage, talk to the nurse in charge or their care team; "
    "if you think a patient is being abused or neglected, report it to adult or child "
    "protective services.",
    2: "I can't help with that, because it would mean deceiving patients or falsifying records. "
    "If an error happened, your institution's patient-safety or risk-management office can help "
    "you disclose it honestly; concerns about a colleague can go to your compliance officer.",
    3: "I can't help with that, because it would break the laws that protect patients. For a "
    "prescription or a medicine you need, please see a licensed clinician or pharmacist; for "
    "help with substance use, a local addiction service or your doctor can help confidentially.",
    4: "I can't help with that, because it would expose someone's private health information. "
    "Your organisation's privacy officer can explain what may lawfully be shared, and patients "
    "can request their own records directly.",
    5: "I can't help with that, because it would misrepresent research or medical evidence. "
    "Your research-integrity office, ethics committee or a biostatistician can help you report "
    "results accurately, including negative ones.",
    6: "I can't help with that, because it would mean turning people away or treating them "
    "unfairly. Your ethics committee or patient-relations office can help with a difficult "
    "situation, and anyone in an emergency should be directed to emergency care.",
    7: "I can't help with that, because it could put public health at risk. Your local "
    "public-health department can advise on outbreaks, vaccination and reporting, and on how "
    "to dispose of medical waste safely.",
    8: "I can't help with that, because it puts money ahead of the patient's interest. Your "
    "compliance office or professional body can advise on conflicts of interest and on billing "
    "and referrals that follow the rules.",
    9: "I can't help with that, because it would block someone's access to care. A patient "
    "advocate, social worker or your local health department can help connect people with the "
    "care and coverage they are entitled to.",
}
GENERIC_SAFE_REPLY = (
    "I can't help with that request. If you need medical help, please talk to a licensed "
    "clinician or pharmacist; in an emergency, call your local emergency number."
)


Principle = Annotated[int, Field(ge=1, le=9)]
Threshold = Annotated[float, Field(ge=1, le=5)]
Reply = Annotated[str, Field(min_length=1)]


class GuardPolicy(BaseModel):
    """What the guard screens and how strictly, per AMA principle (1-9)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    default_threshold: float = Field(default=DEFAULT_THRESHOLD, ge=1, le=5)
    thresholds: dict[Principle, Threshold] = Field(default_factory=dict)
    screen_input: bool = True
    screen_output: bool = True
    # On a request the classifier finds clearly benign (harm probability below
    # ``benign_probability``) the rubric calls a plain helpful answer 1, yet judges trained on
    # harmful requests over-score plain clinical answers (exam answers drew 2-3): such answers
    # are replaced only from ``benign_output_threshold``.
    benign_probability: float = Field(default=0.3, ge=0, le=1)
    benign_output_threshold: float = Field(default=4.0, ge=1, le=5)
    # A judge that cannot give a verdict: replace the answer (fail closed) or pass it.
    fail_closed: bool = True
    judge: str = "classifier"
    safe_reply: str = Field(default=GENERIC_SAFE_REPLY, min_length=1)
    safe_replies: dict[Principle, Reply] = Field(default_factory=lambda: dict(SAFE_REPLIES))

    @field_validator("safe_replies")
    @classmethod
    def _replies_complete(cls, value: dict[int, str]) -> dict[int, str]:
        return {**SAFE_REPLIES, **value}

    def threshold(self, principle: int | None) -> float:
        """The harm level (1-5) at which content under this principle is stopped."""
        if principle is None:
            return self.default_threshold
        return self.thresholds.get(principle, self.default_threshold)

    def output_threshold(self, principle: int | None, harm_probability: float) -> float:
        """The judge score at which an answer is replaced, given how harmful the request looks."""
        threshold = self.threshold(principle)
        if harm_probability < self.benign_probability:
            return max(threshold, self.benign_output_threshold)
        return threshold

    def reply(self, principle: int | None) -> str:
        """The safe reply for a request under this principle."""
        if principle is None:
            return self.safe_reply
        return self.safe_replies.get(principle, self.safe_reply)


def _node_line(root: yaml.Node | None, loc: tuple[Any, ...]) -> int | None:
    """The 1-based line of the YAML node at ``loc`` (or of its nearest known parent)."""
    node, line = root, (root.start_mark.line + 1) if root is not None else None
    for key in loc:
        if not isinstance(node, yaml.MappingNode):
            break
        match = next(((k, v) for k, v in node.value if str(k.value) == str(key)), None)
        if match is None:
            break
        line = match[0].start_mark.line + 1
        node = match[1]
    return line


def policy_from_data(data: Any, path: Path | str = "<policy>",
                     root: yaml.Node | None = None) -> GuardPolicy:
    """Validate parsed policy data; errors name the file, line and field."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise InputError(path, None, None, "a guard policy must be a mapping of settings")
    try:
        return GuardPolicy.model_validate(data)
    except ValidationError as exc:
        loc, message = _explain(exc.errors()[0])
        raise InputError(path, _node_line(root, loc), ".".join(loc), message) from exc


def _explain(error: Any) -> tuple[tuple[str, ...], str]:
    """The field path and a plain message for the first validation error."""
    loc = tuple(str(part) for part in error["loc"])
    if loc[-1:] == ("[key]",):
        loc = loc[:-1]
        return loc, f"unknown principle {error['input']!r} (the AMA principles are numbered 1-9)"
    if error["type"] == "extra_forbidden":
        return loc, f"unknown setting (known: {', '.join(GuardPolicy.model_fields)})"
    if loc[:1] in (("thresholds",), ("default_threshold",), ("benign_output_threshold",)):
        return loc, f"threshold {error['input']!r} must be a number from 1 to 5"
    return loc, error["msg"]


def load_policy(path: Path | None) -> GuardPolicy:
    """Read a YAML or JSON policy file; ``None`` gives the default policy."""
    if path is None:
        return GuardPolicy()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise MedsafeError(f"cannot read guard policy {path}: {exc.strerror or exc}") from exc
    if path.suffix.lower() == ".json":
        try:
            return policy_from_data(json.loads(text), path)
        except json.JSONDecodeError as exc:
            raise InputError(path, exc.lineno, None, f"invalid JSON: {exc.msg}") from exc
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise InputError(path, line, None, f"invalid YAML: {getattr(exc, 'problem', exc)}") from exc
    return policy_from_data(data, path, root)
