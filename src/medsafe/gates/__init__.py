"""Gates: conditions on scorecard metrics that decide a CI build (exit status, JUnit XML)."""

from __future__ import annotations

from medsafe.gates._check import GateResult, evaluate_gates, read_value
from medsafe.gates._expression import BOUNDS, OPERATORS, Gate, GateError, parse_gate
from medsafe.gates._junit import junit_xml, write_junit
from medsafe.gates._metrics import check_gates, gateable_metrics

__all__ = [
    "BOUNDS",
    "OPERATORS",
    "Gate",
    "GateError",
    "GateResult",
    "check_gates",
    "evaluate_gates",
    "gateable_metrics",
    "junit_xml",
    "parse_gate",
    "read_value",
    "write_junit",
]
