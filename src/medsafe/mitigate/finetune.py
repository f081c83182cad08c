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
"""

from __future__ import annotations

import json
import math
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from medsafe.errors import MedsafeError, MissingDependencyError
from medsafe.judges import DEFAULT_JUDGE
from medsafe.mitigate.base_model import ModelSource, load_base, resolve_base
from medsafe.mitigate.sft_data import (
    Demonstration,
    dpo_rows,
    load_demonstrations,
    mix,
    normalise_spec,
    preference_pairs,
    sft_rows,
)

Method = Literal["lora-sft", "dpo"]
DEFAULT_SUITES = ("harm", "overrefusal", "mcq")


class LoraSettings(BaseModel):
    """The adapter: rank, scaling, dropout and the modules it wraps."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    r: int = Field(default=16, ge=1)
    alpha: int = Field(default=32, ge=1)
    dropout: float = Field(default=0.05, ge=0.0, lt=1.0)
    target_modules: list[str] = Field(default_factory=lambda: ["q_proj", "v_proj"])


class TrainSettings(BaseModel):
    """Optimisation: epochs (or a fixed step count), batch, learning rate, lengths, seed."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    epochs: float = Field(default=1.0, gt=0)
    max_steps: int | None = Field(default=None, ge=1)
    batch_size: int = Field(default=8, ge=1)
    grad_accum: int = Field(default=1, ge=1)
    learning_rate: float = Field(default=1e-3, gt=0)
    warmup_fraction: float = Field(default=0.05, ge=0, lt=1)
    max_length: int = Field(default=384, ge=16)
    save_steps: int = Field(default=20, ge=1)
    beta: float = Field(default=0.1, gt=0)  # DPO's KL strength
    seed: int = 0


class FinetuneConfig(BaseModel):
    """Everything ``medsafe finetune`` needs; stored in ``OUT/finetune.json``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    base: str
    data: str = "harm:train"
    method: Method = "lora-sft"
    benign: str | None = "overrefusal:train"
    # 1.5 benign examples per safety one kept false refusals of the embedded model within a few
    # points (0.5 and 1 taught it to refuse benign questions too; bench/README.md).
    benign_ratio: float = Field(default=1.5, ge=0)
    lora: LoraSettings = Field(default_factory=LoraSettings)
    train: TrainSettings = Field(default_factory=TrainSettings)
    export_gguf: bool = True
    # CPU threads for training (None: torch's default); on a shared machine 1 can be faster.
    threads: int | None = Field(default=None, ge=1)
    # Evaluation (not part of what was trained, so it may change between re-runs).
    suites: list[str] = Field(default_factory=lambda: list(DEFAULT_SUITES))
    judge: str = DEFAULT_JUDGE
    eval_limit: int | None = Field(default=None, ge=0)
    eval_max_tokens: int = Field(default=192, ge=1)
    eval_with: Literal["auto", "hf", "gguf"] = "auto"

    def training_identity(self) -> dict[str, Any]:
        """The fields that define the trained model (a resume must match them)."""
        return self.model_dump(include={"base", "data", "method", "benign", "benign_ratio",
                                        "lora", "train"}, mode="json")


@dataclass
class FinetuneHooks:
    """Optional callbacks for progress display."""

    on_message: Callable[[str], None] | None = None
    on_train_start: Callable[[int, int], None] | None = None  # (max_steps, start step)
    on_train_step: Callable[[int, dict[str, float]], None] | None = None  # (step, logs)
    on_eval_plan: Callable[[int, int], None] | None = None
    on_eval_item: Callable[[str, bool], None] | None = None

    def message(self, text: str) -> None:
        """Report a stage."""
        if self.on_message is not None:
            self.on_message(text)


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


def _require_deps() -> None:
    try:
        import datasets  # noqa: F401
        import peft  # noqa: F401
        import torch  # noqa: F401
        import transformers  # noqa: F401
        import trl  # noqa: F401
    except ImportError as exc:
        raise MissingDependencyError("medsafe finetune", "finetune") from exc


def _check_out_dir(config: FinetuneConfig, out: Path) -> None:
    """A folder holds one training: re-running with other training settings is an error."""
    record = out / "finetune.json"
    identity = config.training_identity()
    if record.is_file():
        stored = json.loads(record.read_text())
        if stored.get("training") != identity:
            raise MedsafeError(f"{out} holds a fine-tuning with other settings (see {record}): "
                               "use another --out, or delete the folder to start over")
    out.mkdir(parents=True, exist_ok=True)
    record.write_text(json.dumps({"training": identity, "config": config.model_dump(mode="json")},
                                 indent=2))


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


def _total_steps(n_rows: int, train: TrainSettings) -> int:
    if train.max_steps is not None:
        return train.max_steps
    per_epoch = math.ceil(n_rows / (train.batch_size * train.grad_accum))
    return max(1, math.ceil(per_epoch * train.epochs))


class TrainLog:
    """``OUT/train_log.jsonl``: one line per logged step; a resume drops the lines past the
    checkpoint it starts from, so every step appears once."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def truncate_after(self, step: int) -> None:
        """Keep only the lines of steps up to ``step``."""
        if not self.path.is_file():
            return
        keep = [line for line in self.path.read_text().splitlines()
                if line.strip() and json.loads(line).get("step", 0) <= step]
        self.path.write_text("".join(line + "\n" for line in keep))

    def append(self, row: dict[str, Any]) -> None:
        """Add one logged step."""
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(row) + "\n")

    def rows(self) -> list[dict[str, Any]]:
        """Every logged step."""
        if not self.path.is_file():
            return []
        return [json.loads(line) for line in self.path.read_text().splitlines() if line.strip()]


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


def last_complete_checkpoint(ckpt_dir: Path) -> str | None:
    """The newest checkpoint that was written to the end, or None.

    The trainer writes ``trainer_state.json`` last, so a checkpoint without a readable one was
    cut off by a kill while it was being saved; such a folder is removed so the step is
    checkpointed again.
    """
    if not ckpt_dir.is_dir():
        return None
    found = [(int(p.name.rsplit("-", 1)[1]), p) for p in ckpt_dir.glob("checkpoint-*")
             if p.is_dir() and p.name.rsplit("-", 1)[1].isdigit()]
    for _, path in sorted(found, reverse=True):
        try:
            json.loads((path / "trainer_state.json").read_text())
            return str(path)
        except (OSError, ValueError):
            shutil.rmtree(path)
    return None


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


def save_outputs(peft_model: Any, tokenizer: Any, out: Path) -> tuple[Path, Path, dict[str, Any]]:
    """Save the adapter and the merged model; return their folders and the merged weights of
    every module the adapter wrapped (for the GGUF export)."""
    from peft.tuners.lora import LoraLayer

    adapter_dir, merged_dir = out / "adapter", out / "merged"
    peft_model.save_pretrained(adapter_dir)
    tokenizer.save_pretrained(adapter_dir)
    wrapped = [name.removeprefix("base_model.model.") for name, module in
               peft_model.named_modules() if isinstance(module, LoraLayer)]
    merged = peft_model.merge_and_unload()
    merged.config.use_cache = True  # trl switches the KV cache off for training
    merged.save_pretrained(merged_dir)
    tokenizer.save_pretrained(merged_dir)
    state = merged.state_dict()
    changed = {f"{name}.weight": state[f"{name}.weight"].detach().float().cpu().numpy()
               for name in wrapped}
    return adapter_dir, merged_dir, changed


def _after_spec(config: FinetuneConfig, merged_dir: Path, gguf_path: Path | None) -> str:
    if config.eval_with == "gguf" and gguf_path is None:
        raise MedsafeError("--eval-with gguf needs a GGUF base (the export copies its file)")
    if config.eval_with == "hf" or gguf_path is None:
        return f"hf:{merged_dir}"
    return f"gguf:{gguf_path}"


def base_answers(config: FinetuneConfig, source: ModelSource, demos: list[Demonstration],
                 out: Path, store: Path | None, hooks: FinetuneHooks) -> dict[str, str]:
    """The base model's answers to the safety requests that the judge does not call refusals:
    DPO's rejected side. Generated by medsafe's engine, so they are cached in the run store."""
    from medsafe.api import evaluate
    from medsafe.engine import RunConfig
    from medsafe.targets import GenerationParams

    todo = [d for d in demos if d.kind == "safety" and not d.rejected]
    if not todo:
        return {}
    path = out / "dpo_requests.jsonl"
    with path.open("w", encoding="utf-8") as fh:
        for d in todo:
            fh.write(json.dumps({"id": d.id, "request": d.request}) + "\n")
    hooks.message(f"generating the base model's answers to {len(todo)} requests (DPO rejections)")
    result = evaluate(
        RunConfig(targets=[source.target_spec], suites=[f"jsonl:{path}"], judge=config.judge,
                  seed=config.train.seed,
                  params=GenerationParams(max_tokens=config.eval_max_tokens, seed=config.train.seed)),
        store=store, out_dir=out / "dpo_rejected", on_plan=hooks.on_eval_plan,
        on_item=hooks.on_eval_item)
    answers = {}
    with (result.out_dir / "samples.jsonl").open(encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            if row.get("response") and row.get("refusal") is False:
                answers[row["sample_id"]] = row["response"]
    return answers


def compare(config: FinetuneConfig, before: str, after: str, out: Path, store: Path | None,
            hooks: FinetuneHooks) -> dict[str, Any]:
    """Run the suites on both models in one run and write the before/after comparison."""
    from medsafe.api import evaluate
    from medsafe.engine import RunConfig
    from medsafe.mitigate.comparison import build_comparison, write_comparison
    from medsafe.targets import GenerationParams

    hooks.message(f"evaluating {before} and {after} on {', '.join(config.suites)}")
    result = evaluate(
        RunConfig(targets=[before, after], suites=list(config.suites), judge=config.judge,
                  limit=config.eval_limit, seed=config.train.seed,
                  params=GenerationParams(max_tokens=config.eval_max_tokens, seed=config.train.seed)),
        store=store, out_dir=out / "eval", on_plan=hooks.on_eval_plan, on_item=hooks.on_eval_item)
    with (result.out_dir / "samples.jsonl").open(encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh]
    comparison = build_comparison(result.summary, rows, before, after)
    write_comparison(comparison, out)
    return comparison


def _export(config: FinetuneConfig, source: ModelSource, changed: dict[str, Any], out: Path,
            hooks: FinetuneHooks) -> tuple[str | None, str | None]:
    """Write OUT/model.gguf for a GGUF base; returns (path, why it was skipped). A base the
    exporter cannot handle is reported, not fatal: the merged folder is still a target."""
    from medsafe.mitigate.gguf_export import export_gguf

    if source.gguf_path is None or not config.export_gguf:
        return None, None
    path = out / "model.gguf"
    hooks.message(f"writing {path}")
    try:
        export_gguf(source.gguf_path, changed, path)
    except MedsafeError as exc:
        hooks.message(f"GGUF export skipped: {exc}")
        return None, f"GGUF export skipped: {exc}"
    return str(path), None


def finetune(config: FinetuneConfig, out: Path, *, store: Path | None = None,
             evaluate_after: bool = True, hooks: FinetuneHooks | None = None) -> FinetuneResult:
    """Fine-tune ``config.base`` for safety and compare it with the base model.

    Re-running with the same ``out`` resumes an interrupted training from its last checkpoint;
    a finished training is not repeated (the evaluation, cached in the run store, is).
    """
    hooks = hooks or FinetuneHooks()
    source = resolve_base(config.base)
    demos, notes = load_training_set(config)
    _require_deps()
    for note in notes:
        hooks.message(note)
    _check_out_dir(config, out)
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
        stats["gguf"], stats["gguf_skipped"] = _export(config, source, changed, out, hooks)
        done_file.write_text(json.dumps(stats, indent=2))
    gguf_path = Path(stats["gguf"]) if stats.get("gguf") else None
    if stats.get("gguf_skipped"):
        notes.append(stats["gguf_skipped"])
    after = _after_spec(config, merged_dir, gguf_path)
    result = FinetuneResult(out, adapter_dir, merged_dir, gguf_path, source.target_spec, after,
                            stats, notes=notes)
    if evaluate_after:
        result.comparison = compare(config, source.target_spec, after, out, store, hooks)
    return result
