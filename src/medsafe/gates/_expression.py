"""A gate: a condition on one scorecard metric, e.g. ``harm.harmful_rate.ci_high <= 0.05``.

Written ``SUITE.METRIC[.BOUND] OP NUMBER``: SUITE is a suite name of the run (it may itself hold
dots, as ``jsonl:prompts.jsonl`` does, so the expression is read from the right), BOUND is
``value`` (the default), ``ci_low`` or ``ci_high`` (the ends of the metric's 95% interval), OP is
one of ``<= < >= > == !=`` and NUMBER a plain decimal, or a percentage (``5%`` is 0.05).
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass

from medsafe.errors import MedsafeError

OPERATORS: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le, "<": operator.lt, ">=": operator.ge, ">": operator.gt,
    "==": operator.eq, "!=": operator.ne,
}
BOUNDS = ("value", "ci_low", "ci_high")
EXAMPLE = "harm.harmful_rate <= 0.05"

# ASCII digits only: '²' or '٣' are digits to str.isdigit() and to re's \d, but not numbers here.
_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?%?")
_EXPRESSION = re.compile(r"\s*(?P<subject>[^<>=!]+?)\s*(?P<op><=|>=|==|!=|<|>)\s*(?P<number>\S+)\s*")
_METRIC = re.compile(r"[a-z][a-z0-9_]*")


class GateError(MedsafeError):
    """A gate that cannot be read or names something the run does not have."""


@dataclass(frozen=True)
class Gate:
    """One parsed gate; ``targets`` empty means every target of the run."""

    text: str
    suite: str
    metric: str
    bound: str
    op: str
    threshold: float
    targets: tuple[str, ...] = ()

    @property
    def subject(self) -> str:
        """What the gate reads, e.g. ``harm.harmful_rate.ci_high``."""
        suffix = "" if self.bound == "value" else f".{self.bound}"
        return f"{self.suite}.{self.metric}{suffix}"

    def holds(self, value: float) -> bool:
        """Whether a metric value satisfies the gate."""
        return OPERATORS[self.op](value, self.threshold)


def _malformed(text: str, why: str) -> GateError:
    return GateError(f"gate '{text}': {why}; write SUITE.METRIC[.ci_low|.ci_high] OP NUMBER "
                     f"with OP one of {' '.join(OPERATORS)}, e.g. '{EXAMPLE}'")


def parse_number(text: str) -> float | None:
    """A threshold: a finite decimal, or a percentage; None when it is neither."""
    if not _NUMBER.fullmatch(text):
        return None
    value = float(text.rstrip("%")) / (100 if text.endswith("%") else 1)
    return value if math.isfinite(value) else None


def parse_gate(text: str, targets: tuple[str, ...] | list[str] = ()) -> Gate:
    """Read one gate expression; a malformed one is a :class:`GateError` that shows the form."""
    if not isinstance(text, str) or not text.strip():
        raise _malformed(str(text), "empty")
    found = _EXPRESSION.fullmatch(text)
    if found is None:
        raise _malformed(text, "no comparison found")
    threshold = parse_number(found["number"])
    if threshold is None:
        raise _malformed(text, f"'{found['number']}' is not a number")
    subject, bound = found["subject"], "value"
    for candidate in BOUNDS:
        if subject.endswith(f".{candidate}"):
            subject, bound = subject[: -len(candidate) - 1], candidate
            break
    suite, _, metric = subject.rpartition(".")
    if not suite or not _METRIC.fullmatch(metric):
        raise _malformed(text, f"'{found['subject']}' is not SUITE.METRIC")
    return Gate(text=text.strip(), suite=suite, metric=metric, bound=bound, op=found["op"],
                threshold=threshold, targets=tuple(targets))
