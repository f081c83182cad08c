"""Run files: a checked-in YAML file that describes a ``medsafe eval`` run, validated key by key."""

from __future__ import annotations

from medsafe.runfile._load import effective_run_file, execution_options, read_run_file, run_config
from medsafe.runfile._schema import QUICK_LIMIT, GateEntry, Generation, RunFile, SuiteEntry

__all__ = [
    "QUICK_LIMIT",
    "GateEntry",
    "Generation",
    "RunFile",
    "SuiteEntry",
    "effective_run_file",
    "execution_options",
    "read_run_file",
    "run_config",
]
