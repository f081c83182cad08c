"""The robustness part of the report: accuracy as written beside accuracy under each
perturbation (paired, on the same questions), the pushback flip rate beside its control, and a
table of the paired changes with their intervals and exact McNemar p-values."""

from __future__ import annotations

from typing import Any

from medsafe.report.figures import Figure, Series, error_bars, label, suites_of_kind
from medsafe.report.run_data import RunData


def _variants(series: list[Series], suite: str) -> list[str]:
    names: dict[str, None] = {}
    for s in series:
        for variant in (s.block(suite) or {}).get("by_perturbation", {}):
            names.setdefault(variant)
    return list(names)


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}%"


def _change(block: dict[str, Any]) -> str:
    if block.get("change") is None:
        return "–"
    text = f"{100 * block['change']:+.1f} pts"
    ci = block.get("change_ci95")
    return text + (f" ({100 * ci[0]:+.1f}, {100 * ci[1]:+.1f})" if ci else "")


def _p(value: float | None) -> str:
    return "–" if value is None else f"{value:.3g}"


def paired_accuracy(series: list[Series], suite: str, index: int) -> Figure | None:
    """Per perturbation, two bars per target: as written and perturbed, on the same questions."""
    variants = _variants(series, suite)
    traces = []
    for s in series:
        by = (s.block(suite) or {}).get("by_perturbation", {})
        blocks = [by.get(v) or {} for v in variants]
        if all(b.get("accuracy") is None for b in blocks):
            continue
        hover = [f"{_change(b)}; McNemar p {_p(b.get('p_value'))}; {b.get('pairs', 0)} pairs"
                 for b in blocks]
        names = [label(v.replace("_", " ")) for v in variants]
        traces.append({"type": "bar", "name": label(f"{s.label}: as written"), "x": names,
                       "y": [b.get("accuracy_as_written") for b in blocks], "offsetgroup": f"{s.label}-0",
                       "marker": {"color": s.color, "opacity": 0.35},
                       "hovertemplate": "%{x}, as written: %{y:.1%}"
                                        f"<extra>{label(s.label)}</extra>"})
        traces.append({"type": "bar", "name": label(f"{s.label}: perturbed"), "x": names,
                       "y": [b.get("accuracy") for b in blocks], "offsetgroup": f"{s.label}-1",
                       "marker": {"color": s.color}, "customdata": [label(h) for h in hover],
                       "error_y": error_bars([b.get("accuracy") for b in blocks],
                                             [b.get("accuracy_ci95") for b in blocks]),
                       "hovertemplate": "%{x}: %{y:.1%} (%{customdata})"
                                        f"<extra>{label(s.label)}</extra>"})
    if not traces:
        return None
    return Figure(
        f"fig-robust-{index}", f"{suite}: accuracy as written and perturbed", traces,
        {"barmode": "group", "yaxis": {"title": {"text": "accuracy"}, "tickformat": ".0%",
                                       "range": [0, 1.05]}},
        "Pale bars: the questions as written; solid bars: the same questions perturbed, with "
        "Wilson 95% intervals. For pushback and its control, the perturbed answer is the answer "
        "to the second turn. The paired change and its exact McNemar test are in the table.")


def pushback_flips(series: list[Series], suite: str, index: int) -> Figure | None:
    """The share of correct first answers switched to the user's claim, beside the share
    changed after the control turn."""
    names = ["switched to the claim (pushback)", "changed (control: \"please confirm\")"]
    traces = []
    for s in series:
        block = (s.block(suite) or {}).get("pushback")
        if not block:
            continue
        values = [block.get("flip_rate"), block.get("control_flip_rate")]
        cis = [block.get("flip_rate_ci95"), block.get("control_flip_rate_ci95")]
        traces.append({
            "type": "bar", "name": label(s.label), "x": names, "y": values,
            "marker": {"color": s.color},
            "error_y": error_bars(values, cis),
            "hovertemplate": "%{x}: %{y:.1%}" + f"<extra>{label(s.label)}</extra>"})
    if not traces:
        return None
    return Figure(
        f"fig-pushback-{index}", f"{suite}: pushback flip rate beside the control", traces,
        {"barmode": "group", "yaxis": {"title": {"text": "share of correct first answers"},
                                       "tickformat": ".0%", "rangemode": "tozero"}},
        "Among questions the model first answered correctly: the share whose second answer is "
        "the wrong option the user asserted, and the share whose answer changed to another "
        "option when the user only asked for confirmation. Wilson 95% intervals; answers with "
        "no valid letter are not flips (see summary.json for their share).")


def robustness_figures(series: list[Series], runs: list[RunData]) -> list[Figure]:
    """Both figures of every robustness suite."""
    figures: list[Figure] = []
    for i, suite in enumerate(suites_of_kind(runs, ("robustness",))):
        figures += [f for f in (paired_accuracy(series, suite, i), pushback_flips(series, suite, i)) if f]
    return figures


TABLE_HEADER = ["suite", "target", "perturbation", "pairs", "as written", "perturbed",
                "change (95% CI)", "McNemar p", "consistency", "invalid"]


def robustness_table(series: list[Series], runs: list[RunData]) -> list[list[str]]:
    """One row per (suite, target, perturbation): the paired figures behind the chart."""
    rows = []
    for suite in suites_of_kind(runs, ("robustness",)):
        for s in series:
            for variant, b in ((s.block(suite) or {}).get("by_perturbation") or {}).items():
                rows.append([suite, s.label, variant, str(b.get("pairs", 0)),
                             _pct(b.get("accuracy_as_written")), _pct(b.get("accuracy_paired")),
                             _change(b), _p(b.get("p_value")), _pct(b.get("consistency")),
                             _pct(b.get("invalid_rate"))])
    return rows
