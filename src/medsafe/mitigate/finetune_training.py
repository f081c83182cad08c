"""The training stage of a fine-tuning: trl's ``SFTTrainer`` (loss on the answer only) or
``DPOTrainer`` with a peft LoRA adapter, seeded, checkpointed and resumed from its last complete
checkpoint. The training libraries are imported when training starts, not with the module."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

from medsafe.errors import MissingDependencyError
from medsafe.mitigate.base_model import ModelSource, load_base
from medsafe.mitigate.finetune_checkpoints import TrainLog, last_complete_checkpoint
from medsafe.mitigate.finetune_config import FinetuneConfig, TrainSettings
from medsafe.mitigate.finetune_hooks import FinetuneHooks


def require_training_deps() -> None:
    """Fail with an install hint unless every library the training needs is installed."""
    try:
        import datasets  # noqa: F401
        import peft  # noqa: F401
        import torch  # noqa: F401
        import transformers  # noqa: F401
        import trl  # noqa: F401
    except ImportError as exc:
        raise MissingDependencyError("medsafe finetune", "finetune") from exc


def _total_steps(n_rows: int, train: TrainSettings) -> int:
    if train.max_steps is not None:
        return train.max_steps
    per_epoch = math.ceil(n_rows / (train.batch_size * train.grad_accum))
    return max(1, math.ceil(per_epoch * train.epochs))


def _progress_callback(log: TrainLog, hooks: FinetuneHooks) -> Any:
    from transformers import TrainerCallback

    class ProgressCallback(TrainerCallback):  # type: ignore[misc]
        """Writes every log line to train_log.jsonl and reports steps to the hooks."""

        def __init__(self) -> None:
            self.started = time.perf_counter()

        def on_train_begin(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            if hooks.on_train_start is not None:
                hooks.on_train_start(state.max_steps, state.global_step)

        def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kw: Any) -> None:
            logs = dict(logs or {})
            if "loss" not in logs:
                return
            row = {"step": state.global_step, "epoch": round(state.epoch or 0, 4),
                   "elapsed_s": round(time.perf_counter() - self.started, 2),
                   **{k: v for k, v in logs.items() if isinstance(v, int | float)}}
            log.append(row)
            if hooks.on_train_step is not None:
                hooks.on_train_step(state.global_step, row)

    return ProgressCallback()


def _device_dtype() -> tuple[Any, bool]:
    import torch

    if torch.cuda.is_available():
        bf16 = torch.cuda.is_bf16_supported()
        return (torch.bfloat16 if bf16 else torch.float32), bf16
    return torch.float32, False


def _trainer_args(config: FinetuneConfig, out: Path, total: int, bf16: bool) -> dict[str, Any]:
    import torch

    t = config.train
    return {
        "output_dir": str(out / "checkpoints"),
        "max_steps": total,
        "per_device_train_batch_size": t.batch_size,
        "gradient_accumulation_steps": t.grad_accum,
        "learning_rate": t.learning_rate,
        "lr_scheduler_type": "cosine",
        "warmup_steps": int(t.warmup_fraction * total),
        "logging_steps": 1,
        "save_strategy": "steps",
        "save_steps": t.save_steps,
        "save_total_limit": 2,
        "seed": t.seed,
        "data_seed": t.seed,
        "report_to": "none",
        "disable_tqdm": True,
        "max_length": t.max_length,
        "bf16": bf16,
        # trl turns checkpointing on by default; a small model has memory to spare and
        # recomputing activations would cost a third more time per step.
        "gradient_checkpointing": False,
        "use_cpu": not torch.cuda.is_available(),
        "dataloader_num_workers": 0,
        "remove_unused_columns": True,
    }


def _build_trainer(config: FinetuneConfig, model: Any, tokenizer: Any, rows: list[dict[str, Any]],
                   out: Path, total: int, bf16: bool, callback: Any) -> Any:
    from datasets import Dataset
    from peft import LoraConfig

    peft_config = LoraConfig(r=config.lora.r, lora_alpha=config.lora.alpha,
                             lora_dropout=config.lora.dropout,
                             target_modules=list(config.lora.target_modules), task_type="CAUSAL_LM")
    dataset = Dataset.from_list(rows)
    args = _trainer_args(config, out, total, bf16)
    if config.method == "dpo":
        from trl import DPOConfig, DPOTrainer

        return DPOTrainer(model=model, args=DPOConfig(**args, beta=config.train.beta),
                          train_dataset=dataset, processing_class=tokenizer,
                          peft_config=peft_config, callbacks=[callback])
    from trl import SFTConfig, SFTTrainer

    return SFTTrainer(model=model, args=SFTConfig(**args, completion_only_loss=True),
                      train_dataset=dataset, processing_class=tokenizer, peft_config=peft_config,
                      callbacks=[callback])


def _loss_summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    losses = [r["loss"] for r in rows if "loss" in r]
    if not losses:
        return {}
    k = max(1, len(losses) // 10)
    return {"first_loss": losses[0], "last_loss": losses[-1],
            "first_10pct_mean_loss": sum(losses[:k]) / k, "last_10pct_mean_loss": sum(losses[-k:]) / k,
            "min_loss": min(losses)}


def train_adapter(config: FinetuneConfig, source: ModelSource, rows: list[dict[str, Any]],
                  out: Path, hooks: FinetuneHooks) -> tuple[Any, Any, dict[str, Any]]:
    """Train (or resume training) the LoRA adapter; returns (peft model, tokenizer, stats)."""
    import torch
    from transformers import set_seed

    set_seed(config.train.seed)
    if config.threads is not None:
        torch.set_num_threads(config.threads)
    dtype, bf16 = _device_dtype()
    hooks.message(f"loading {source.spec} with transformers")
    model, tokenizer = load_base(source, dtype)
    total = _total_steps(len(rows), config.train)
    log = TrainLog(out / "train_log.jsonl")
    last = last_complete_checkpoint(out / "checkpoints")
    log.truncate_after(int(last.rsplit("-", 1)[1]) if last else 0)
    trainer = _build_trainer(config, model, tokenizer, rows, out, total, bf16,
                             _progress_callback(log, hooks))
    hooks.message(f"training {config.method}: {len(rows)} examples, {total} steps"
                  + (f", resuming from {Path(last).name}" if last else ""))
    start, cpu_start = time.perf_counter(), time.process_time()
    result = trainer.train(resume_from_checkpoint=last)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    stats = {"examples": len(rows), "steps": trainer.state.global_step, "max_steps": total,
             "epochs": trainer.state.epoch, "wall_s": wall, "cpu_s": cpu,
             "resumed_from": Path(last).name if last else None,
             "train_loss": result.training_loss, "threads": torch.get_num_threads(),
             "device": str(trainer.args.device), **_loss_summary(log.rows())}
    return trainer.model, tokenizer, stats
