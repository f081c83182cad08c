"""Pairs/s of the offline judges (classifier and encoder), measured side by side in one run.

    python bench/judge_speed.py [--pairs 900] [--repeats 3] [--threads 2]

Pairs are the harm set's requests with their reference responses (typical lengths). Each judge
scores them in one batch call, in calls of 32 pairs and one pair at a time; the figure is the
median over repeats, and the last column is each rate over the classifier's in the same mode.
"""

from __future__ import annotations

import argparse
import statistics
import time

from medsafe.data import load_bundled
from medsafe.judges.classifier import ClassifierJudge, load_shipped_model
from medsafe.judges.encoder import EncoderJudge, EncoderModel, asset_dir


def rate(judge: ClassifierJudge, pairs: list[tuple[str, str]], chunk: int, repeats: int) -> float:
    """Median pairs/s over repeats, scoring in calls of ``chunk`` pairs."""
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        for i in range(0, len(pairs), chunk):
            judge.judge_batch(pairs[i: i + chunk])
        rates.append(len(pairs) / (time.perf_counter() - start))
    return statistics.median(rates)


def main() -> None:
    """Print pairs/s per judge and mode, and the ratio to the classifier."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pairs", type=int, default=900)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2, help="ONNX Runtime threads")
    args = parser.parse_args()
    rows = load_bundled("harm")[: args.pairs]
    pairs = [(r["request"], r["reference_response"]) for r in rows]
    judges = {"classifier": ClassifierJudge("classifier", load_shipped_model()),
              "encoder": EncoderJudge("encoder", EncoderModel.load(asset_dir(), args.threads))}
    modes = {"one batch": len(pairs), "calls of 32": 32, "one by one": 1}
    print(f"{'judge':<11} {'mode':<12} {'pairs/s':>9} {'vs classifier':>14}")
    base: dict[str, float] = {}
    for name, judge in judges.items():
        judge.judge_batch(pairs[:8])  # warm up
        for mode, chunk in modes.items():
            # one by one is slow for the encoder: time a tenth of the pairs
            subset = pairs if chunk > 1 or name == "classifier" else pairs[: len(pairs) // 10]
            value = rate(judge, subset, chunk, args.repeats)
            base.setdefault(mode, value)
            print(f"{name:<11} {mode:<12} {value:>9.1f} {value / base[mode]:>14.3f}")


if __name__ == "__main__":
    main()
