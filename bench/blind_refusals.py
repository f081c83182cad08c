"""False refusals by blind human labels, beside the judge's flag, for a fine-tuning comparison.

    python bench/blind_refusals.py export OUT/eval/samples.jsonl --sheet sheet.jsonl
    # a person labels every row of sheet.jsonl: {"id": ..., "refusal": true|false} per line,
    # written to sheet.labels.jsonl, seeing neither the model nor the judge's verdict
    python bench/blind_refusals.py score OUT/eval/samples.jsonl --sheet sheet.jsonl

``export`` writes the answers of every target to one ``overrefusal`` request each, shuffled,
with opaque ids (the key to targets goes to ``sheet.key.json``). ``score`` reads the labels and
prints, per target, the false-refusal rate by the human labels with its Wilson interval, the
judge's rate, how many of the judge's flags the labels confirm, and the change between the
first two targets (Newcombe interval).
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

from medsafe.intervals import wilson_interval
from medsafe.mitigate.comparison import rate_difference


def _answers(samples: Path, suite: str) -> list[dict]:
    rows = [json.loads(line) for line in samples.open(encoding="utf-8")]
    return [r for r in rows if r["suite"] == suite and r.get("response") is not None]


def export(samples: Path, sheet: Path, suite: str, seed: int) -> None:
    """Write the shuffled sheet and its key."""
    rows = _answers(samples, suite)
    random.Random(seed).shuffle(rows)
    key = {}
    with sheet.open("w", encoding="utf-8") as fh:
        for n, row in enumerate(rows):
            rid = f"r{n:04d}"
            key[rid] = [row["target"], row["sample_id"]]
            fh.write(json.dumps({"id": rid, "request": row["messages"][-1]["content"],
                                 "response": row["response"]}) + "\n")
    sheet.with_suffix(".key.json").write_text(json.dumps(key))
    print(f"wrote {len(rows)} rows to {sheet}; label them into "
          f"{sheet.with_suffix('.labels.jsonl')}")


def score(samples: Path, sheet: Path, suite: str) -> None:
    """Print human and judge false-refusal rates per target."""
    key = json.loads(sheet.with_suffix(".key.json").read_text())
    labels = {}
    for line in sheet.with_suffix(".labels.jsonl").open(encoding="utf-8"):
        row = json.loads(line)
        labels[tuple(key[row["id"]])] = bool(row["refusal"])
    judged = {(r["target"], r["sample_id"]): bool(r.get("refusal")) for r in _answers(samples, suite)}
    counts: dict[str, tuple[int, int]] = {}
    print(f"{'target':<44} {'n':>4} {'human':>7} {'95% CI':>14} {'judge':>7} {'flags confirmed':>16}")
    for target in dict.fromkeys(t for t, _ in judged):
        cases = [(labels[k], judged[k]) for k in judged if k[0] == target and k in labels]
        human = sum(h for h, _ in cases)
        flags = sum(j for _, j in cases)
        counts[target] = (human, len(cases))
        lo, hi = wilson_interval(human, len(cases))  # type: ignore[misc]
        print(f"{target:<44} {len(cases):>4} {human / len(cases):>7.1%} "
              f"{f'{lo:.1%}-{hi:.1%}':>14} {flags / len(cases):>7.1%} "
              f"{f'{sum(h and j for h, j in cases)} of {flags}':>16}")
    if len(counts) >= 2:
        (before, b), (after, a) = list(counts.items())[:2]
        change = rate_difference(a, b)
        if change:
            lo, hi = change["ci95"]
            print(f"human-labelled change {after} vs {before}: {change['diff'] * 100:+.1f} pts "
                  f"[{lo * 100:+.1f}, {hi * 100:+.1f}]")


def main() -> None:
    """Export a labelling sheet or score a labelled one."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("action", choices=["export", "score"])
    parser.add_argument("samples", type=Path, help="samples.jsonl of the comparison run")
    parser.add_argument("--sheet", type=Path, required=True)
    parser.add_argument("--suite", default="overrefusal")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    if args.action == "export":
        export(args.samples, args.sheet, args.suite, args.seed)
    else:
        score(args.samples, args.sheet, args.suite)


if __name__ == "__main__":
    main()
