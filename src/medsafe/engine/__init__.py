"""The evaluation engine: run configuration, pipeline, run store and metrics."""

from medsafe.engine.config import ExecutionOptions, RunConfig
from medsafe.engine.keys import cache_key
from medsafe.engine.metrics import mean_sem_ci, suite_metrics, wilson_interval
from medsafe.engine.paths import store_dir, store_file
from medsafe.engine.pool import TargetPool
from medsafe.engine.runner import Pipeline, plan_items, run_items
from medsafe.engine.store import MIGRATIONS, RunStore

__all__ = [
    "MIGRATIONS",
    "ExecutionOptions",
    "Pipeline",
    "RunConfig",
    "RunStore",
    "TargetPool",
    "cache_key",
    "mean_sem_ci",
    "plan_items",
    "run_items",
    "store_dir",
    "store_file",
    "suite_metrics",
    "wilson_interval",
]
