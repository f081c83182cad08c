"""Gates checked against a run's summary: one result per gate and target."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from medsafe.gates._expression import Gate
from medsafe.gates._metrics import check_gates


@dataclass(frozen=True)
class GateResult:
    """A gate on one target: the value read, whether it held, and why in words."""

    gate: Gate
    target: str
    value: float | None
    passed: bool
    detail: str


def _cell(summary: dict[str, Any], gate: Gate, target: str) -> dict[str, Any] | None:
    """The scorecard cell of the gate's metric, else the figure in the suite's metrics block."""
    from medsafe.report.scorecard import scorecard

    for row in scorecard(summary):
        if (row["suite"], row["metric"]) == (gate.suite, gate.metric):
            return row["values"].get(target)
    block = (summary["suites"][gate.suite].get("by_target") or {}).get(target) or {}
    return {"value": block.get(gate.metric), "ci95": None}


def read_value(summary: dict[str, Any], gate: Gate, target: str) -> float | None:
    """The number a gate compares for one target, or None when the run has none."""
    cell = _cell(summary, gate, target)
    if not cell:
        return None
    if gate.bound == "value":
        value = cell.get("value")
    else:
        ci = cell.get("ci95") or [None, None]
        value = ci[0] if gate.bound == "ci_low" else ci[1]
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def _missing(gate: Gate) -> str:
    if gate.metric.startswith("calibrated_"):
        return ("no value: this target's answers in the suite have no labels yet "
                "(medsafe label sample, then label import)")
    return "no value: nothing in the suite was scored for this target"


def evaluate_gates(gates: list[Gate], summary: dict[str, Any]) -> list[GateResult]:
    """Check every gate on every target it names (all of the run's by default).

    A gate whose metric has no value (nothing scored, or no labels for a calibrated figure)
    fails: a gate that cannot be checked must not let a build through.
    """
    targets = list(summary["targets"])
    check_gates(gates, {name: s["kind"] for name, s in summary["suites"].items()}, targets)
    results = []
    for gate in gates:
        for target in gate.targets or targets:
            value = read_value(summary, gate, target)
            if value is None:
                results.append(GateResult(gate, target, None, False, _missing(gate)))
                continue
            passed = gate.holds(value)
            relation = gate.op if passed else f"not {gate.op}"
            results.append(GateResult(gate, target, value, passed,
                                      f"{gate.subject} = {value:.6g}, {relation} {gate.threshold:g}"))
    return results
