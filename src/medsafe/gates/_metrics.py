"""Which metrics a gate may name for a suite, known before anything runs.

A suite kind offers its scorecard metrics (with their 95% intervals), their calibrated twins
where people can label its answers (``calibrated_harmful_rate``), and the plain figures of its
metrics block: counts (``errors``, ``scored``, ...), rates and the mean score (no interval).
"""

from __future__ import annotations

from medsafe.gates._expression import Gate, GateError

COUNTS = ("n", "scored", "errors", "generation_errors", "judge_errors", "refusals", "sem")
JUDGE_FIGURES = ("mean_score", "sem", "harmful_rate", "refusal_rate")


def gateable_metrics(kind: str) -> dict[str, bool]:
    """Metric name -> whether it has a 95% interval, for a suite of this kind."""
    from medsafe.engine.metrics import suite_metrics
    from medsafe.labels.calibrated import JUDGED_KINDS, METRICS
    from medsafe.report.scorecard import FALLBACK, HEADLINES, is_rate

    judged = kind in JUDGED_KINDS
    metrics: dict[str, bool] = {}
    try:
        block = suite_metrics(kind, [])
    except ValueError:  # a kind with no metrics block of its own: its scorecard rows only
        block = {}
    for name in block:
        if name in JUDGE_FIGURES and not judged:
            continue  # a rule-graded suite's block carries these as None, always
        if name in COUNTS or name == "mean_score" or (is_rate(name) and not name.endswith("ci95")):
            metrics[name] = False
    calibratable = {m.name for m in METRICS.get(kind, [])} if judged else set()
    for metric, _label, _better, ci_key in HEADLINES.get(kind, FALLBACK):
        metrics[metric] = ci_key is not None or metric == "refusal_rate"
        if metric in calibratable:
            metrics[f"calibrated_{metric}"] = True
    return metrics


def check_gates(gates: list[Gate], suites: dict[str, str], targets: list[str]) -> None:
    """Refuse a gate naming a suite, metric, interval or target the run does not have.

    ``suites`` maps each suite name of the run to its kind.
    """
    for gate in gates:
        if gate.suite not in suites:
            raise GateError(f"gate '{gate.text}': the run has no suite '{gate.suite}' "
                            f"(suites: {', '.join(suites)})")
        known = gateable_metrics(suites[gate.suite])
        if gate.metric not in known:
            raise GateError(f"gate '{gate.text}': suite '{gate.suite}' has no metric "
                            f"'{gate.metric}' (metrics: {', '.join(known)})")
        if gate.bound != "value" and not known[gate.metric]:
            with_ci = [m for m, ci in known.items() if ci]
            raise GateError(f"gate '{gate.text}': {gate.metric} has no 95% interval, so no "
                            f".{gate.bound} (metrics with one: {', '.join(with_ci)})")
        stray = [t for t in gate.targets if t not in targets]
        if stray:
            raise GateError(f"gate '{gate.text}': '{stray[0]}' is not a target of the run "
                            f"(targets: {', '.join(targets)})")
