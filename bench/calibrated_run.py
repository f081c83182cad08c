"""The README's calibrated figures, recomputed from the stored run and its blind labels.

    python bench/calibrated_run.py [bench/labels/harm180]

The folder holds the run's ``samples.jsonl`` (written by ``medsafe eval``: 180 answers of the
embedded model to ``harm`` test requests, judged by ``classifier``) and one JSONL file of labels
per labeller (``labeller_*.jsonl``: sample_id, labeller, score, refusal), made blind on the run's
seeded label sample. Prints the judge's, the labels' and the calibrated estimate of each metric
with 95% intervals, the judge's agreement with the labels, and the labellers' alpha.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from medsafe.labels import calibrated_block


def main() -> None:
    """Recompute and print the calibrated block of the run in the folder."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path, nargs="?", default=Path(__file__).parent / "labels"
                        / "harm180")
    args = parser.parse_args()
    items = [json.loads(line) for line in (args.folder / "samples.jsonl").open()]
    labels = [json.loads(line) for path in sorted(args.folder.glob("labeller_*.jsonl"))
              for line in path.open()]
    block = calibrated_block("harm", items, labels)
    print(f"{block['labelled_items']} of {block['items']} answers labelled, {block['labels']} labels "
          f"by {', '.join(block['labellers'])}")
    print(f"{'metric':<16} {'judge':>22} {'labels only':>22} {'calibrated':>22}")
    for name, est in block["metrics"].items():
        cells = [est[k] for k in ("judge", "labelled", "calibrated")]
        print(f"{name:<16} " + " ".join(
            f"{c['value']:>8.3f} ({c['ci95'][0]:.3f}-{c['ci95'][1]:.3f})" for c in cells))
        print(f"{'':<16} {est['labels_needed']['text']}")
    agree = block["agreement"]
    print(f"judge vs labels (n={agree['n']}): QWK {agree['qwk']:.3f}, harmful F1 "
          f"{agree['harmful_f1']:.3f}, refusal accuracy {agree['refusal_accuracy']:.3f}")
    if block["inter_labeller"]:
        pair = block["inter_labeller"]
        print(f"labellers on {pair['items']} answers labelled twice: Krippendorff's alpha "
              f"{pair['krippendorff_alpha']:.3f}")


if __name__ == "__main__":
    main()
