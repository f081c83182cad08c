"""Safety fine-tuning: LoRA supervised fine-tuning or DPO on safety demonstrations, then a
before/after evaluation.

``finetune(config)`` runs five stages, each of which a re-run skips or resumes:

1. data: demonstrations (harmful request -> safe reference) mixed with benign helpful examples;
   for DPO, the base model's own answers to the requests are the rejected side (generated
   through medsafe's engine, so they are cached in the run store);
2. train: trl's ``SFTTrainer`` (loss on the answer only) or ``DPOTrainer`` with a LoRA adapter
   from peft, seeded, checkpointed every ``save_steps`` steps in ``OUT/checkpoints``; running the
   same command again resumes from the last checkpoint;
3. save: ``OUT/adapter`` and the merged model ``OUT/merged`` (a target as ``hf:OUT/merged``);
4. export: for a GGUF base, ``OUT/model.gguf`` (a target as ``gguf:OUT/model.gguf``);
5. compare: the chosen suites on the base and the new model, ``OUT/comparison.json`` and
   ``OUT/comparison.md``.

Each stage has its module: ``finetune_config`` (the settings), ``finetune_training``,
``finetune_checkpoints`` (what a re-run resumes from), ``finetune_export`` and
``finetune_evaluation``; this module runs them in order. Their public names are importable from
here too.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medsafe.errors import MedsafeError
from medsafe.mitigate.base_model import resolve_base
from medsafe.mitigate.finetune_checkpoints import TrainLog, claim_out_dir, last_complete_checkpoint
from medsafe.mitigate.finetune_config import (
    DEFAULT_SUITES,
    FinetuneConfig,
    LoraSettings,
    Method,
    TrainSettings,
)
from medsafe.mitigate.finetune_evaluation import after_spec, base_answers, compare
from medsafe.mitigate.finetune_export import export_merged_gguf, save_outputs
from medsafe.mitigate.finetune_hooks import FinetuneHooks
from medsafe.mitigate.finetune_training import require_training_deps, train_adapter
from medsafe.mitigate.sft_data import (
    Demonstration,
    dpo_rows,
    load_demonstrations,
    mix,
    normalise_spec,
    preference_pairs,
    sft_rows,
)

__all__ = [
    "DEFAULT_SUITES", "FinetuneConfig", "FinetuneHooks", "FinetuneResult", "LoraSettings", "Method",
    "TrainLog", "TrainSettings", "base_answers", "compare", "finetune", "last_complete_checkpoint",
    "load_training_set", "save_outputs", "train_adapter",
]


@dataclass
class FinetuneResult:
    """Where the outputs are and what the training and comparison gave."""

    out_dir: Path
    adapter_dir: Path
    merged_dir: Path
    gguf_path: Path | None
    before_spec: str
    after_spec: str
    train: dict[str, Any]
    comparison: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)


def load_training_set(config: FinetuneConfig) -> tuple[list[Demonstration], list[str]]:
    """The safety demonstrations plus the benign mix, and notes about them."""
    notes = []
    safety = load_demonstrations(config.data, "safety")
    if any(d.split == "test" for d in safety):
        notes.append(f"warning: {config.data} includes test-split rows; a comparison on the "
                     "same test split is contaminated")
    benign = load_demonstrations(config.benign, "benign") if config.benign else []
    demos = mix(safety, benign, config.benign_ratio, config.train.seed)
    notes.append(f"training set: {len(safety)} safety demonstrations from "
                 f"{normalise_spec(config.data)}, {len(demos) - len(safety)} benign examples"
                 + (f" from {normalise_spec(config.benign)}" if config.benign else ""))
    return demos, notes


def finetune(config: FinetuneConfig, out: Path, *, store: Path | None = None,
             evaluate_after: bool = True, hooks: FinetuneHooks | None = None) -> FinetuneResult:
    """Fine-tune ``config.base`` for safety and compare it with the base model.

    Re-running with the same ``out`` resumes an interrupted training from its last checkpoint;
    a finished training is not repeated (the evaluation, cached in the run store, is).
    """
    hooks = hooks or FinetuneHooks()
    source = resolve_base(config.base)
    demos, notes = load_training_set(config)
    require_training_deps()
    for note in notes:
        hooks.message(note)
    claim_out_dir(config, out)
    if config.method == "dpo":
        answers = base_answers(config, source, demos, out, store, hooks)
        demos, dropped = preference_pairs(demos, answers)
        msg = (f"DPO pairs: {len(demos)} ({dropped} requests dropped: the base model already "
               "refused them)")
        notes.append(msg)
        hooks.message(msg)
        if not demos:
            raise MedsafeError("no DPO pairs: the base model refused every request; use lora-sft")
        rows = dpo_rows(demos)
    else:
        rows = sft_rows(demos)

    done_file = out / "train_stats.json"
    adapter_dir, merged_dir = out / "adapter", out / "merged"
    if done_file.is_file() and merged_dir.is_dir():
        hooks.message(f"training already finished in {out}; skipping to the evaluation")
        stats = json.loads(done_file.read_text())
    else:
        model, tokenizer, stats = train_adapter(config, source, rows, out, hooks)
        hooks.message(f"saving the adapter and the merged model in {out}")
        adapter_dir, merged_dir, changed = save_outputs(model, tokenizer, out)
        stats["gguf"], stats["gguf_skipped"] = export_merged_gguf(config, source, changed, out,
                                                                  hooks)
        done_file.write_text(json.dumps(stats, indent=2))
    gguf_path = Path(stats["gguf"]) if stats.get("gguf") else None
    if stats.get("gguf_skipped"):
        notes.append(stats["gguf_skipped"])
    after = after_spec(config, merged_dir, gguf_path)
    result = FinetuneResult(out, adapter_dir, merged_dir, gguf_path, source.target_spec, after,
                            stats, notes=notes)
    if evaluate_after:
        result.comparison = compare(config, source.target_spec, after, out, store, hooks)
    return result
