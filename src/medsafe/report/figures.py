"""Plotly figures of the report, built as plain figure dicts (``{"data", "layout"}``) that the
inlined plotly.js draws: no plotly.py graph objects at render time, so a report renders fast.

A *series* is one target in one run. Every figure function takes the series and returns zero or
more :class:`Figure` objects; a suite kind a run does not have simply yields no figure.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from medsafe.report.run_data import RunData
from medsafe.report.scorecard import series_label

PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2",
           "#7f7f7f", "#bcbd22", "#17becf"]
PRINCIPLE_SHORT = {1: "dignity", 2: "honesty", 3: "law", 4: "confidentiality", 5: "science",
                   6: "non-discrimination", 7: "public health", 8: "patient first", 9: "access"}
HARM_KINDS = ("harm", "jailbreak")
MAX_HEATMAPS = 8  # one jailbreak heatmap per series; beyond this the page only gets longer


@dataclass(frozen=True)
class Series:
    """One target of one run, as drawn: a label and a colour."""

    label: str
    run: RunData
    target: str
    color: str

    def block(self, suite: str) -> dict[str, Any] | None:
        """This target's metrics for a suite (None when it did not run it)."""
        entry = self.run.summary.get("suites", {}).get(suite)
        if not entry:
            return None
        by_target = entry.get("by_target") or {entry.get("target"): entry}
        return by_target.get(self.target)


@dataclass
class Figure:
    """A figure to draw: its element id, heading, short explanation and plotly spec."""

    id: str
    title: str
    data: list[dict[str, Any]]
    layout: dict[str, Any] = field(default_factory=dict)
    note: str = ""

    def spec(self) -> dict[str, Any]:
        """The JSON given to ``Plotly.newPlot``."""
        layout = {"margin": {"l": 60, "r": 20, "t": 20, "b": 60}, "height": 360,
                  "legend": {"orientation": "h", "y": -0.2}, "hovermode": "closest",
                  "font": {"family": "system-ui, sans-serif", "size": 12}, **self.layout}
        return clean({"data": self.data, "layout": layout})


def clean(obj: Any) -> Any:
    """The same structure with NaN and infinities replaced by None (JSON has no NaN)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: clean(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [clean(v) for v in obj]
    return obj


def label(text: Any) -> str:
    """Text for plotly labels: plotly reads a few HTML tags in labels, so none may get through."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def build_series(runs: list[RunData]) -> list[Series]:
    """Every (run, target) in order, each with its colour."""
    several = len(runs) > 1
    pairs = [(run, target) for run in runs for target in run.targets]
    return [Series(series_label(run, t, several), run, t, PALETTE[i % len(PALETTE)])
            for i, (run, t) in enumerate(pairs)]


def suites_of_kind(runs: list[RunData], kinds: tuple[str, ...]) -> list[str]:
    """Suite names of these kinds over all runs, first appearance first."""
    names: dict[str, None] = {}
    for run in runs:
        for name, suite in run.summary.get("suites", {}).items():
            if suite.get("kind") in kinds:
                names.setdefault(name)
    return list(names)


def error_bars(values: list[float | None], intervals: list[list[float] | None]) -> dict[str, Any]:
    """Plotly's asymmetric error bars from each value's 95% interval (none where absent)."""
    plus, minus = [], []
    for v, ci in zip(values, intervals, strict=True):
        ok = v is not None and ci is not None and None not in ci
        plus.append(ci[1] - v if ok else None)  # type: ignore[index,operator]
        minus.append(v - ci[0] if ok else None)  # type: ignore[index,operator]
    return {"type": "data", "symmetric": False, "array": plus, "arrayminus": minus,
            "color": "#344054", "thickness": 1.2, "width": 4}


def _grouped_bars(series: list[Series], names: list[str], points: Any,
                  hover: str) -> list[dict[str, Any]]:
    """One bar trace per series; ``points(series)`` gives a (value, interval) per category."""
    traces = []
    for s in series:
        pairs = points(s)
        values = [p[0] for p in pairs]
        if all(v is None for v in values):
            continue
        trace = {"type": "bar", "name": label(s.label), "x": names, "y": values,
                 "marker": {"color": s.color},
                 "hovertemplate": hover + f"<extra>{label(s.label)}</extra>"}
        if any(p[1] for p in pairs):
            trace["error_y"] = error_bars(values, [p[1] for p in pairs])
        traces.append(trace)
    return traces


def _principle_names(keys: list[str]) -> list[str]:
    return [f"{k} {PRINCIPLE_SHORT.get(int(k), '')}".strip() if k.isdigit() else label(k)
            for k in keys]


def _principles_in(series: list[Series], suite: str) -> list[str]:
    keys: set[str] = set()
    for s in series:
        keys |= set((s.block(suite) or {}).get("by_principle", {}))
    return sorted(keys, key=lambda k: (not k.isdigit(), int(k) if k.isdigit() else 0, k))


def harm_by_principle(series: list[Series], runs: list[RunData]) -> list[Figure]:
    """Mean harm score by principle with 95% intervals, one figure per harm-type suite."""
    figures = []
    for suite in suites_of_kind(runs, HARM_KINDS):
        keys = _principles_in(series, suite)
        if not keys:
            continue

        def points(s: Series, suite: str = suite, keys: list[str] = keys) -> list[Any]:
            by = (s.block(suite) or {}).get("by_principle", {})
            return [((by.get(k) or {}).get("mean_score"), (by.get(k) or {}).get("ci95"))
                    for k in keys]

        traces = _grouped_bars(series, _principle_names(keys), points,
                               "%{x}: mean %{y:.2f}")
        if traces:
            figures.append(Figure(
                f"fig-principle-{len(figures)}", f"{suite}: mean harm score by principle",
                traces, {"barmode": "group", "yaxis": {"title": {"text": "mean score (1–5)"},
                                                       "range": [0, 5.2]}},
                "Bars are means on the 1 (declines) to 5 (fully complies) scale; whiskers are "
                "t-based 95% intervals."))
    return figures


def score_distribution(series: list[Series], runs: list[RunData]) -> list[Figure]:
    """Share of answers at each harm score, one figure per scored suite."""
    figures = []
    for suite in suites_of_kind(runs, (*HARM_KINDS, "overrefusal")):
        traces = []
        for s in series:
            dist = (s.block(suite) or {}).get("score_distribution")
            total = sum(dist.values()) if dist else 0
            if not total:
                continue
            traces.append({"type": "bar", "name": label(s.label), "x": list(dist),
                           "y": [v / total for v in dist.values()],
                           "customdata": list(dist.values()), "marker": {"color": s.color},
                           "hovertemplate": "score %{x}: %{y:.1%} (%{customdata})"
                                            f"<extra>{label(s.label)}</extra>"})
        if traces:
            figures.append(Figure(
                f"fig-dist-{len(figures)}", f"{suite}: score distribution", traces,
                {"barmode": "group", "xaxis": {"title": {"text": "harm score"}, "type": "category"},
                 "yaxis": {"title": {"text": "share of scored answers"}, "tickformat": ".0%"}}))
    return figures


def mitigation_pairs(series: list[Series]) -> list[tuple[Series, Series]]:
    """(before, after) pairs: a guarded or LoRA-adapted target and its base model, or the same
    target in a later run than the first."""
    pairs = []
    first_run = series[0].run if series else None
    for before in series:
        for after in series:
            if after is before:
                continue
            guarded = after.target in (f"guard:{before.target}",)
            adapted = after.target.startswith(f"{before.target}+lora:")
            later = (after.target == before.target and before.run is first_run
                     and after.run is not first_run)
            if ((guarded or adapted) and after.run is before.run) or later:
                pairs.append((before, after))
    return pairs


def safety_helpfulness(series: list[Series], runs: list[RunData]) -> list[Figure]:
    """Harm score against false-refusal rate, one point per target; arrows before → after."""
    harm = suites_of_kind(runs, ("harm",))
    over = suites_of_kind(runs, ("overrefusal",))
    if not harm or not over:
        return []
    points: dict[str, tuple[float, float]] = {}
    traces = []
    for s in series:
        h, o = s.block(harm[0]), s.block(over[0])
        if not h or not o or h.get("mean_score") is None or o.get("false_refusal_rate") is None:
            continue
        x, y = o["false_refusal_rate"], h["mean_score"]
        points[s.label] = (x, y)
        traces.append({
            "type": "scatter", "mode": "markers", "name": label(s.label), "x": [x], "y": [y],
            "marker": {"color": s.color, "size": 12},
            "error_x": error_bars([x], [o.get("false_refusal_ci95")]),
            "error_y": error_bars([y], [h.get("ci95")]),
            "hovertemplate": "false refusal %{x:.1%}, harm score %{y:.2f}"
                             f"<extra>{label(s.label)}</extra>"})
    if not traces:
        return []
    right = max([x for x, _ in points.values()] + [
        (t["x"][0] + (t["error_x"]["array"][0] or 0)) for t in traces])
    span = max(right, 0.1)
    arrows = [{"x": points[a.label][0], "y": points[a.label][1], "ax": points[b.label][0],
               "ay": points[b.label][1], "xref": "x", "yref": "y", "axref": "x", "ayref": "y",
               "showarrow": True, "arrowhead": 3, "arrowsize": 1.4, "arrowcolor": "#344054",
               "text": ""}
              for b, a in mitigation_pairs(series) if a.label in points and b.label in points]
    # annotation arrows point at (x, y) from (ax, ay): from the "before" point to the "after" one
    return [Figure(
        "fig-tradeoff", "Harm score against false-refusal rate", traces,
        {"xaxis": {"title": {"text": f"false-refusal rate ({over[0]})"}, "tickformat": ".0%",
                   "range": [-0.04 * span, min(1.05, 1.1 * span)]},
         "yaxis": {"title": {"text": f"mean harm score ({harm[0]})"}, "range": [0.8, 5.2]},
         "annotations": arrows, "height": 440},
        "Lower left is best: few harmful answers and few refusals of benign requests. Whiskers "
        "are 95% intervals; arrows go from a model to its mitigated version (guard, LoRA "
        "adapter, or the same target in a later run).")]


def _attack_names(block: dict[str, Any]) -> list[str]:
    names = sorted(block.get("by_attack", {}))
    return (["plain"] if "plain" in names else []) + [n for n in names if n != "plain"]


def jailbreak(series: list[Series], runs: list[RunData]) -> list[Figure]:
    """Attack success per attack (bars with intervals) and per attack and principle (heatmaps)."""
    figures = []
    for suite in suites_of_kind(runs, ("jailbreak",)):
        attacks: dict[str, None] = {}
        for s in series:
            for a in _attack_names(s.block(suite) or {}):
                attacks.setdefault(a)
        names = list(attacks)
        if not names:
            continue

        def points(s: Series, suite: str = suite, names: list[str] = names) -> list[Any]:
            by = (s.block(suite) or {}).get("by_attack", {})
            return [((by.get(a) or {}).get("asr"), (by.get(a) or {}).get("asr_ci95"))
                    for a in names]

        bars = _grouped_bars(series, [label(a) for a in names], points, "%{x}: %{y:.1%}")
        figures.append(Figure(
            f"fig-asr-{len(figures)}", f"{suite}: attack success by attack", bars,
            {"barmode": "group", "yaxis": {"title": {"text": "attack success rate"},
                                           "tickformat": ".0%", "range": [0, 1.05]}},
            "Share of attempts judged harmful (score ≥ 3), with Wilson 95% intervals."))
        for s in series[:MAX_HEATMAPS]:
            block = s.block(suite) or {}
            rows = _attack_names(block)
            if not rows:
                continue
            keys = sorted({p for a in rows for p in block["by_attack"][a].get("asr_by_principle", {})},
                          key=lambda k: (len(k), k))
            z = [[block["by_attack"][a].get("asr_by_principle", {}).get(k) for k in keys]
                 for a in rows]
            figures.append(Figure(
                f"fig-heat-{len(figures)}", f"{suite}: attack × principle — {s.label}",
                [{"type": "heatmap", "x": _principle_names(keys), "y": [label(a) for a in rows],
                  "z": z, "zmin": 0, "zmax": 1, "colorscale": "Reds",
                  "text": [["–" if v is None else f"{v:.0%}" for v in r] for r in z],
                  "texttemplate": "%{text}", "colorbar": {"tickformat": ".0%"},
                  "hovertemplate": "%{y} · principle %{x}: %{z:.1%}<extra></extra>"}],
                {"height": max(260, 40 + 28 * len(rows)), "margin": {"l": 150, "r": 20, "t": 30,
                                                                     "b": 70}}))
    return figures


def fairness(series: list[Series], runs: list[RunData]) -> list[Figure]:
    """Decision flip rate by patient attribute, with 95% intervals."""
    figures = []
    for suite in suites_of_kind(runs, ("fairness",)):
        attrs: dict[str, None] = {}
        for s in series:
            for a in (s.block(suite) or {}).get("by_attribute", {}):
                attrs.setdefault(a)
        names = list(attrs)

        def points(s: Series, suite: str = suite, names: list[str] = names) -> list[Any]:
            by = (s.block(suite) or {}).get("by_attribute", {})
            return [((by.get(a) or {}).get("flip_rate"), (by.get(a) or {}).get("flip_rate_ci95"))
                    for a in names]

        traces = _grouped_bars(series, [label(a) for a in names], points, "%{x}: %{y:.1%}")
        if traces:
            figures.append(Figure(
                f"fig-fair-{len(figures)}", f"{suite}: decision flip rate by attribute", traces,
                {"barmode": "group", "yaxis": {"title": {"text": "flip rate"},
                                               "tickformat": ".0%", "rangemode": "tozero"}},
                "Share of vignettes whose decision changes when only this patient attribute "
                "changes; whiskers are 95% intervals."))
    return figures


def _rate_bars(series: list[Series], suite: str, group_key: str, metric: str, fig_id: str,
               title: str, note: str = "") -> Figure | None:
    groups: dict[str, None] = {}
    for s in series:
        for g in (s.block(suite) or {}).get(group_key, {}):
            groups.setdefault(g)
    names = list(groups)

    def points(s: Series) -> list[Any]:
        by = (s.block(suite) or {}).get(group_key, {})
        return [((by.get(g) or {}).get(metric), (by.get(g) or {}).get(metric.replace(
            "_rate", "_ci95"))) for g in names]

    traces = _grouped_bars(series, [label(g) for g in names], points, "%{x}: %{y:.1%}")
    if not traces:
        return None
    return Figure(fig_id, title, traces,
                  {"barmode": "group", "yaxis": {"tickformat": ".0%", "rangemode": "tozero"}},
                  note)


def privacy_and_hallucination(series: list[Series], runs: list[RunData]) -> list[Figure]:
    """PHI disclosure by requesting party; fabrication and false denial by item category."""
    figures = []
    for i, suite in enumerate(suites_of_kind(runs, ("privacy",))):
        fig = _rate_bars(series, suite, "by_party", "phi_disclosure_rate", f"fig-priv-{i}",
                         f"{suite}: PHI disclosure rate by requesting party")
        figures += [fig] if fig else []
    for i, suite in enumerate(suites_of_kind(runs, ("hallucination",))):
        for metric, what in (("fabrication_rate", "fabrication"), ("false_denial_rate",
                                                                   "false denial")):
            fig = _rate_bars(series, suite, "by_category", metric, f"fig-hall-{i}-{metric}",
                             f"{suite}: {what} rate by category")
            figures += [fig] if fig else []
    return figures


def confusion(report: dict[str, Any], fig_id: str) -> Figure | None:
    """The confusion matrix of an agreement report (rows reference, columns judge)."""
    conf = report.get("confusion")
    if not conf:
        return None
    labels = [str(v) for v in conf["labels"]]
    return Figure(fig_id, f"{report.get('judge')} vs {report.get('reference')}", [{
        "type": "heatmap", "x": labels, "y": labels, "z": conf["matrix"], "colorscale": "Blues",
        "texttemplate": "%{z}", "hovertemplate": "reference %{y}, judge %{x}: %{z}<extra></extra>",
    }], {"height": 320, "width": 380, "xaxis": {"title": {"text": label(report.get("judge"))},
                                                "type": "category"},
         "yaxis": {"title": {"text": label(report.get("reference"))}, "type": "category",
                   "autorange": "reversed"}})


def comparison_forest(comparisons: list[dict[str, Any]]) -> list[Figure]:
    """Paired differences with 95% intervals: one panel per (comparison, suite)."""
    figures = []
    for comp in comparisons:
        suites: dict[str, list[dict[str, Any]]] = {}
        for row in comp["rows"]:
            suites.setdefault(row["suite"], []).append(row)
        for suite, rows in suites.items():
            primary = rows[0]["metric"]
            rows = [r for r in rows if r["metric"] == primary and r["diff"] is not None]
            scale = 1 if primary == "mean_score" else 100
            names = ["all" if r["principle"] is None else f"principle {r['principle']}"
                     for r in rows]
            diffs = [scale * r["diff"] for r in rows]
            cis = [None if not r["ci95"] else [scale * v for v in r["ci95"]] for r in rows]
            unit = "score points" if scale == 1 else "percentage points"
            ends = [0.0, *diffs, *(v for ci in cis if ci for v in ci)]
            pad = 0.08 * (max(ends) - min(ends) or 1.0)
            figures.append(Figure(
                f"fig-forest-{len(figures)}",
                f"{suite}: {rows[0]['label'] if rows else primary}, "
                f"{comp['other']} − {comp['baseline']}",
                [{"type": "scatter", "mode": "markers", "x": diffs, "y": names,
                  "marker": {"color": "#1f77b4", "size": 9}, "error_x": error_bars(diffs, cis),
                  "hovertemplate": "%{y}: %{x:+.2f}<extra></extra>"}],
                {"height": max(220, 40 + 26 * len(rows)),
                 "xaxis": {"title": {"text": f"difference ({unit})"}, "zeroline": True,
                           "zerolinecolor": "#667085", "zerolinewidth": 2,
                           "range": [min(ends) - pad, max(ends) + pad]},
                 "yaxis": {"autorange": "reversed"}, "showlegend": False,
                 "margin": {"l": 100, "r": 20, "t": 10, "b": 50}}))
    return figures
