"""What a safety fine-tuning is asked to do: the adapter, the optimisation and the evaluation,
as typed settings that reject unknown keys; stored in ``OUT/finetune.json``."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from medsafe.judges import DEFAULT_JUDGE

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
