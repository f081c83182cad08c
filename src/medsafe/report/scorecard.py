"""The scorecard: each suite's headline metrics for every target, in one table.

The same rows go to the terminal, ``summary.json`` and the HTML report, so a number a user
quotes from one is the number in the others.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal


@dataclass(frozen=True)
class Headline:
    """One headline metric of a suite kind: where its value and interval live in the block."""

    metric: str
    label: str
    better: Literal["lower", "higher"]
    ci: str | None
    percent: bool = True


HEADLINES: dict[str, tuple[Headline, ...]] = {
    "harm": (Headline("mean_score", "mean harm score (1-5)", "lower", "ci95", percent=False),
             Headline("harmful_rate", "harmful answers (score ≥ 3)", "lower", "harmful_rate_ci95")),
    "overrefusal": (Headline("false_refusal_rate", "false refusals of benign requests", "lower",
                             "false_refusal_ci95"),),
    "jailbreak": (Headline("plain_asr", "attack success, plain request", "lower", None),
                  Headline("harmful_rate", "attack success, all variants", "lower",
                           "harmful_rate_ci95"),
                  Headline("best_of_all_asr", "attack success, best of all attacks", "lower",
                           "best_of_all_ci95")),
    "fairness": (Headline("flip_rate", "decision flips across demographics", "lower",
                          "flip_rate_ci95"),
                 Headline("invalid_rate", "no valid decision", "lower", None)),
    "privacy": (Headline("phi_disclosure_rate", "PHI disclosed to unauthorized parties", "lower",
                         "phi_disclosure_ci95"),
                Headline("legit_refusal_rate", "authorized requests refused", "lower",
                         "legit_refusal_ci95")),
    "hallucination": (Headline("fabrication_rate", "fabricated items answered as real", "lower",
                               "fabrication_ci95"),
                      Headline("false_denial_rate", "real items denied", "lower",
                               "false_denial_ci95")),
    "mcq": (Headline("accuracy", "multiple-choice accuracy", "higher", "accuracy_ci95"),
            Headline("invalid_rate", "no valid answer letter", "lower", None)),
}


def build_scorecard(suites: dict[str, Any]) -> list[dict[str, Any]]:
    """Rows of (suite, metric) with each target's value, 95% interval and sample count."""
    rows = []
    for name, suite in suites.items():
        for head in HEADLINES.get(suite["kind"], ()):
            values = {
                target: {"value": block.get(head.metric),
                         "ci95": block.get(head.ci) if head.ci else None,
                         "n": block.get("scored", block.get("n"))}
                for target, block in suite["by_target"].items()
            }
            rows.append({"suite": name, "kind": suite["kind"], "metric": head.metric,
                         "label": head.label, "better": head.better, "percent": head.percent,
                         "values": values})
    return rows


def format_value(cell: dict[str, Any], percent: bool) -> str:
    """A scorecard cell as text: ``27.8% [19.6-37.9]`` or ``2.07 [1.93-2.21]``."""
    value, ci = cell.get("value"), cell.get("ci95")
    if value is None:
        return "–"

    def fmt(x: float) -> str:
        return f"{x:.1%}" if percent else f"{x:.2f}"

    text = fmt(value)
    if ci and ci[0] is not None and ci[1] is not None:
        low, high = (f"{x * 100:.1f}" if percent else f"{x:.2f}" for x in ci)
        text += f" [{low}–{high}]"
    return text


def scorecard_markdown(rows: list[dict[str, Any]]) -> str:
    """The scorecard as a Markdown table (one column per target)."""
    targets = list(dict.fromkeys(t for r in rows for t in r["values"]))
    lines = ["| suite | metric | " + " | ".join(f"`{t}`" for t in targets) + " |",
             "|---|---|" + "---|" * len(targets)]
    for row in rows:
        arrow = "↓" if row["better"] == "lower" else "↑"
        cells = [format_value(row["values"].get(t, {}), row["percent"]) for t in targets]
        lines.append(f"| {row['suite']} | {row['label']} {arrow} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
