"""Where a run's generation and judging execute: this process, or Ray workers.

The run store, the pipeline and the metrics are the same for every backend; only the place
where targets and judges run changes. Ray is imported only when the ray backend is chosen.
"""

from __future__ import annotations

import dataclasses
import os

from medsafe.engine import Pipeline, RunConfig, run_items
from medsafe.engine.config import ExecutionOptions
from medsafe.errors import MedsafeError
from medsafe.judges.batching import BatchingJudge, batches_natively


async def execute(pipeline: Pipeline, config: RunConfig, execution: ExecutionOptions) -> None:
    """Bring every pending item of the run to its final state on the chosen backend (the
    items are read from the store as they are taken)."""
    if execution.backend == "local":
        if batches_natively(pipeline.judge):  # e.g. the classifier: one matrix product per turn
            pipeline = dataclasses.replace(pipeline, judge=BatchingJudge.around(pipeline.judge))
        await run_items(pipeline)
        return
    try:
        from medsafe.distributed.ray_backend import RayWorkers, WorkerSet, remote_parts
    except ImportError as exc:
        raise MedsafeError(f"the ray backend needs Ray ({exc}): pip install 'medsafe[ray]'") from exc
    workers = RayWorkers(execution.ray_address, execution.workers)
    try:
        live = WorkerSet(workers.start(config.targets, config.judge, config.target_options))
        targets, judge = remote_parts(pipeline.targets, pipeline.judge, live)
        await run_items(dataclasses.replace(pipeline, targets=targets, judge=judge))
        # Which processes and nodes did the work, and which nodes were lost: a record that this
        # run was executed on the workers, not in the driver, and of where.
        pipeline.store.update_run_meta(pipeline.run_id, ray_work={
            "driver_pid": os.getpid(), **live.log.meta()})
    finally:
        await workers.stop()


__all__ = ["ExecutionOptions", "execute"]
