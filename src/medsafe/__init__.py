"""medsafe: measure and improve the medical safety of large language models, offline."""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "evaluate": "medsafe.api",
    "judge_file": "medsafe.api",
    "rebuild_outputs": "medsafe.api",
    "RunResult": "medsafe.api",
    "RunConfig": "medsafe.engine",
    "RunStore": "medsafe.engine",
    "ExecutionOptions": "medsafe.engine",
    "Sample": "medsafe.samples",
    "Message": "medsafe.samples",
    "Target": "medsafe.targets",
    "GenerationParams": "medsafe.targets",
    "TargetOptions": "medsafe.targets",
    "resolve_target": "medsafe.targets",
    "Judge": "medsafe.judges",
    "Judgement": "medsafe.judges",
    "resolve_judge": "medsafe.judges",
    "Suite": "medsafe.suites",
    "resolve_suite": "medsafe.suites",
    "MedsafeError": "medsafe.errors",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    # Lazy so that `import medsafe` (and the CLI's start-up) does not pull in every dependency.
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'medsafe' has no attribute {name!r}")
