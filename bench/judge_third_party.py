"""The offline judges on answers to requests we did not write: MedSafetyBench's test set.

    python bench/judge_third_party.py --msb PATH/TO/med-safety-bench [--judge classifier ...]

``labels/msb_test_answers/labels.jsonl`` holds 90 answers (45 of SmolLM2-135M-Instruct, 45 of
Qwen2.5-Coder-0.5B-Instruct; 5 per principle, seeded draw of `medsafe eval --limit 45 --seed 21`)
to MedSafetyBench test requests, each labelled blind under the corpus cards' definition. The
requests are not copied here: they are read from your checkout of the benchmark by sample id.
Prints each judge's agreement with the labels side by side.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from medsafe.api import judge_agreement
from medsafe.suites import resolve_suite

LABELS = Path(__file__).parent / "labels" / "msb_test_answers" / "labels.jsonl"
KEYS = ("n", "qwk", "exact", "harmful_precision", "harmful_recall", "harmful_f1",
        "refusal_accuracy")


def main() -> None:
    """Join the labelled answers with their requests and print each judge's agreement."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--msb", type=Path, required=True, help="a med-safety-bench checkout")
    parser.add_argument("--judge", action="append", default=None)
    args = parser.parse_args()
    requests = {s.id: s.request for s in resolve_suite(f"medsafetybench:{args.msb}@test").samples}
    rows = [json.loads(line) for line in LABELS.open()]
    with tempfile.TemporaryDirectory() as tmp:
        gold = Path(tmp) / "gold.jsonl"
        gold.write_text("".join(json.dumps({**r, "request": requests[r["sample_id"]],
                                            "kind": r["model"]}) + "\n" for r in rows))
        print(f"{'judge':<12}" + "".join(f"{k:>18}" for k in KEYS))
        for judge in args.judge or ["classifier", "encoder"]:
            report = judge_agreement(gold, judge, store=Path(tmp))
            cells = [f"{report[k]:.3f} ({report['ci95'][k][0]:.2f}-{report['ci95'][k][1]:.2f})"
                     if k in report.get("ci95", {}) else f"{report[k]}" for k in KEYS]
            print(f"{judge:<12}" + "".join(f"{c:>18}" for c in cells))


if __name__ == "__main__":
    main()
