"""Safety fine-tuning of the embedded model, timed, with the before/after trade-off.

    python bench/finetune.py [--out bench-finetune] [--eval-limit 180] [--threads 1]
                             [--epochs 1] [--max-steps N] [--lr 1e-3] [--rank 16]
                             [--benign-ratio 1.5] [--method lora-sft]
                             [--modules q_proj,v_proj]

Fine-tunes embedded:smollm2 on harm:train plus the benign overrefusal:train answers (ratio
1.5), exports the merged model as GGUF, and evaluates the base and the new model side by side
on the harm test split, the overrefusal test split and the mcq suite (stratified --eval-limit
per suite, the classifier judge). Prints the training wall time, steps, the loss curve summary,
the load average of the machine while it ran, and the before/after table with n and intervals.
Re-running with the same --out resumes an interrupted training and reuses the cached answers.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

from medsafe.mitigate import FinetuneConfig, FinetuneHooks, LoraSettings, TrainSettings, finetune
from medsafe.mitigate.comparison import comparison_markdown


def main() -> None:
    """Run the fine-tuning and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("bench-finetune"))
    parser.add_argument("--store", type=Path, default=None)
    parser.add_argument("--method", default="lora-sft", choices=["lora-sft", "dpo"])
    parser.add_argument("--eval-limit", type=int, default=180)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--epochs", type=float, default=1.0)
    parser.add_argument("--max-steps", type=int, default=None)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--rank", type=int, default=16)
    parser.add_argument("--benign-ratio", type=float, default=1.5)
    parser.add_argument("--modules", default="q_proj,v_proj",
                        help="comma-separated linear modules the adapter wraps")
    args = parser.parse_args()

    start = time.perf_counter()
    loads: list[float] = []

    def message(text: str) -> None:
        loads.append(os.getloadavg()[0])
        print(f"[{time.perf_counter() - start:7.1f}s load {loads[-1]:.1f}] {text}", flush=True)

    def step(n: int, row: dict[str, float]) -> None:
        loads.append(os.getloadavg()[0])
        if n % 10 == 0 or n == 1:
            print(f"[{time.perf_counter() - start:7.1f}s load {loads[-1]:.1f}] step {n} "
                  f"loss {row['loss']:.3f}", flush=True)

    config = FinetuneConfig(
        base="embedded:smollm2", data="harm:train", method=args.method,
        benign="overrefusal:train", benign_ratio=args.benign_ratio,
        lora=LoraSettings(r=args.rank, alpha=2 * args.rank,
                          target_modules=args.modules.split(",")),
        train=TrainSettings(epochs=args.epochs, max_steps=args.max_steps, learning_rate=args.lr),
        threads=args.threads, eval_limit=args.eval_limit,
    )
    result = finetune(config, args.out, store=args.store,
                      hooks=FinetuneHooks(on_message=message, on_train_step=step))
    total = time.perf_counter() - start
    t = result.train
    print()
    print(f"training: {t['examples']} examples, {t['steps']} steps, {t['epochs']:.2f} epochs, "
          f"{t['wall_s'] / 60:.1f} min wall ({t['wall_s'] / max(t['steps'], 1):.1f} s/step) on "
          f"{t['device']} with {t['threads']} threads")
    print(f"loss: first {t['first_loss']:.3f}, mean of first 10% {t['first_10pct_mean_loss']:.3f}, "
          f"mean of last 10% {t['last_10pct_mean_loss']:.3f}, last {t['last_loss']:.3f}")
    losses = [json.loads(line)["loss"] for line in (args.out / "train_log.jsonl").open()]
    tenth = max(1, len(losses) // 10)
    curve = [sum(losses[i:i + tenth]) / len(losses[i:i + tenth]) for i in range(0, len(losses), tenth)]
    print("loss curve (mean per tenth of the steps): " + " ".join(f"{v:.2f}" for v in curve))
    if "cpu_s" in t:
        print(f"training CPU time: {t['cpu_s'] / 60:.1f} min ({t['cpu_s'] / max(t['steps'], 1):.1f} "
              "CPU s/step): the wall time of the same work on an otherwise idle machine")
    print(f"whole command: {total / 60:.1f} min; 1-min load average seen: "
          f"min {min(loads):.1f}, max {max(loads):.1f} on {os.cpu_count()} cores")
    print()
    if result.comparison is not None:
        print(comparison_markdown(result.comparison))
        print(json.dumps(result.comparison["checks"], indent=2))


if __name__ == "__main__":
    main()
