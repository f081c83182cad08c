"""Mitigations: a guard that screens a model's requests and answers, and safety fine-tuning.

Names are imported on first use, so ``import medsafe.mitigate`` loads neither scikit-learn nor
the web server.
"""

from __future__ import annotations

from typing import Any

# Imported eagerly: the function ``finetune`` shares its name with its module, which a lazy
# import would leave in its place. The module imports no training library until it trains.
from medsafe.mitigate.finetune import (
    FinetuneConfig,
    FinetuneHooks,
    FinetuneResult,
    LoraSettings,
    TrainSettings,
    finetune,
)

_LAZY = {
    "Decision": "medsafe.mitigate.guard",
    "Guard": "medsafe.mitigate.guard",
    "GuardOutcome": "medsafe.mitigate.guard",
    "GuardPolicy": "medsafe.mitigate.guard_policy",
    "load_policy": "medsafe.mitigate.guard_policy",
    "RequestClassifier": "medsafe.mitigate.request_classifier",
    "RequestVerdict": "medsafe.mitigate.request_classifier",
    "load_request_classifier": "medsafe.mitigate.request_classifier",
    "ServeConfig": "medsafe.mitigate.guard_server",
    "create_app": "medsafe.mitigate.guard_server",
    "serve": "medsafe.mitigate.guard_server",
}

__all__ = ["FinetuneConfig", "FinetuneHooks", "FinetuneResult", "LoraSettings", "TrainSettings",
           "finetune", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'medsafe.mitigate' has no attribute {name!r}")
