"""Mitigations: a guard that screens a model's requests and answers, and safety fine-tuning.

Names are imported on first use, so ``import medsafe.mitigate`` loads neither scikit-learn nor
the web server.
"""

from __future__ import annotations

from typing import Any

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
    "FinetuneConfig": "medsafe.mitigate.finetune",
    "FinetuneHooks": "medsafe.mitigate.finetune",
    "FinetuneResult": "medsafe.mitigate.finetune",
    "LoraSettings": "medsafe.mitigate.finetune",
    "TrainSettings": "medsafe.mitigate.finetune",
    "finetune": "medsafe.mitigate.finetune",
}

__all__ = list(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'medsafe.mitigate' has no attribute {name!r}")
