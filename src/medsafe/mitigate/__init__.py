"""Mitigations: safety fine-tuning (and, from the guard work, a guard in front of a model)."""

from medsafe.mitigate.finetune import (
    FinetuneConfig,
    FinetuneHooks,
    FinetuneResult,
    LoraSettings,
    TrainSettings,
    finetune,
)

__all__ = [
    "FinetuneConfig",
    "FinetuneHooks",
    "FinetuneResult",
    "LoraSettings",
    "TrainSettings",
    "finetune",
]
