"""Generation and judging on Ray workers; the driver keeps the pipeline and the run store.

Each worker is a Ray actor that builds its own replica of every target and of the judge from
their spec strings (a model per worker, or an HTTP client per worker). The driver runs the same
:class:`~medsafe.engine.Pipeline` as the local backend, with each target and the judge replaced
by a proxy that sends the call to a worker. So the cache keys, retries and backoff, the attempt
log, multiple-choice grading and every store write are the very code the local backend runs:
the numbers are the same by construction, the driver stays the single SQLite writer (no locks
over a network file system), every response is committed as soon as it reaches the driver, and
a killed run resumes exactly as a local one does.

Generation is one remote call per attempt (so retries stay visible to the driver); judge calls
made in the same event-loop turn travel together as one batch, which lets batching judges (the
classifier) score them in one matrix product on the worker.
"""

from __future__ import annotations

import asyncio
import itertools
import os
from typing import Any

import ray

from medsafe.engine.pool import TargetPool
from medsafe.errors import MedsafeError
from medsafe.judges import Judge, Judgement, resolve_judge
from medsafe.judges.batching import BatchingJudge
from medsafe.judges.crashes import safe_verdicts
from medsafe.samples import Message
from medsafe.targets import Completion, GenerationParams, Target, TargetError, TargetOptions

JUDGE_BATCH = 32


class Worker:
    """One Ray actor: a replica of each target and of the judge, built from their specs."""

    def __init__(self, target_specs: list[str], judge_spec: str, options: dict[str, Any]) -> None:
        # The worker builds its parts exactly as the driver does.
        self.pool = TargetPool(TargetOptions.model_validate(options))
        self.targets = {spec: self.pool.get(spec) for spec in target_specs}
        self.judge = resolve_judge(judge_spec, self.pool.get)

    async def generate(self, spec: str, messages: list[dict[str, Any]],
                       params: dict[str, Any]) -> tuple[Any, ...]:
        """One attempt, with the worker's process id; a TargetError comes back as data so the
        driver can retry it."""
        try:
            completion = await self.targets[spec].generate(
                tuple(Message.model_validate(m) for m in messages),
                GenerationParams.model_validate(params))
        except TargetError as exc:
            return ("error", str(exc), exc.retryable, exc.retry_after_s)
        return ("ok", completion.model_dump(), os.getpid())

    async def judge_many(self, pairs: list[tuple[str, str]]) -> tuple[int, list[dict[str, Any]]]:
        """The worker's process id and verdicts for a batch; a judge that crashes costs one
        verdict, not the run."""
        return os.getpid(), [v.model_dump() for v in await safe_verdicts(self.judge, pairs)]

    async def close(self) -> None:
        """Release connections and models."""
        await self.judge.aclose()
        await self.pool.aclose()


# Answers (or verdicts) per worker process id, kept on the driver: the run's metadata records
# it, which shows that the work ran on the workers.
Served = dict[int, int]


class RemoteTarget(Target):
    """Stands in for a target on the driver: each ``generate`` runs on the next worker."""

    def __init__(self, local: Target, workers: list[Any], served: Served | None = None) -> None:
        super().__init__(local.spec, local.options)
        self.served: Served = {} if served is None else served
        self._identity = local.identity()
        self._per_worker = local.concurrency
        self._workers = workers
        self._turn = itertools.cycle(workers)

    @property
    def concurrency(self) -> int:
        """Each worker's replica takes as many requests as the local target would."""
        return self._per_worker * len(self._workers)

    def identity(self) -> dict[str, Any]:
        """The local target's identity: remote and local answers share the cache."""
        return self._identity

    async def generate(self, messages: tuple[Message, ...], params: GenerationParams) -> Completion:
        """Send one attempt to a worker; its failure is raised here, where retries happen."""
        result = await next(self._turn).generate.remote(
            self.spec, [m.model_dump() for m in messages], params.model_dump())
        if result[0] == "error":
            _, message, retryable, retry_after_s = result
            raise TargetError(message, retryable=retryable, retry_after_s=retry_after_s)
        _, completion, pid = result
        self.served[pid] = self.served.get(pid, 0) + 1
        return Completion.model_validate(completion)


def remote_judge(local: Judge, workers: list[Any], batch: int = JUDGE_BATCH,
                 served: Served | None = None) -> BatchingJudge:
    """Stands in for the judge on the driver: the calls of one event-loop turn go to the next
    worker as one batch."""
    turn = itertools.cycle(workers)
    counts: Served = {} if served is None else served

    async def send(pairs: list[tuple[str, str]]) -> list[Judgement]:
        pid, verdicts = await next(turn).judge_many.remote(pairs)
        counts[pid] = counts.get(pid, 0) + len(verdicts)
        return [Judgement.model_validate(v) for v in verdicts]

    return BatchingJudge(local.spec, local.identity(), send, batch=batch,
                         concurrency=max(local.concurrency, batch) * len(workers))


class RayWorkers:
    """Starts (or joins) Ray, places the workers, and tears them down after the run."""

    def __init__(self, address: str | None, workers: int | None) -> None:
        self.address = address
        self.requested = workers
        self.started_ray = False
        self.actors: list[Any] = []

    def start(self, target_specs: list[str], judge_spec: str, options: TargetOptions) -> list[Any]:
        """Connect to the cluster at ``address`` (a local one when None) and start the workers."""
        if not ray.is_initialized():
            try:
                ray.init(address=self.address, include_dashboard=False, log_to_driver=False,
                         configure_logging=False)
            except (ConnectionError, ValueError, RuntimeError) as exc:
                raise MedsafeError(f"cannot start or join Ray at {self.address or 'a local instance'}"
                                   f" ({exc}): check --ray-address") from exc
            self.started_ray = True
        cpus = float(ray.cluster_resources().get("CPU", 1))
        count = self.requested or max(1, int(cpus))
        # A CPU each spreads them over the nodes; more workers than CPUs share them.
        actor = ray.remote(num_cpus=min(1.0, cpus / count))(Worker)
        self.actors = [actor.remote(target_specs, judge_spec, options.model_dump())
                       for _ in range(count)]
        return self.actors

    async def stop(self) -> None:
        """Close each worker's targets, end the actors, and stop Ray if this run started it."""
        if self.actors:
            await asyncio.gather(*(a.close.remote() for a in self.actors), return_exceptions=True)
            for actor in self.actors:
                ray.kill(actor)
            self.actors = []
        if self.started_ray:
            ray.shutdown()
            self.started_ray = False


def remote_parts(targets: dict[str, Target], judge: Judge, workers: list[Any],
                 served: dict[str, Served] | None = None) -> tuple[dict[str, Target], Judge]:
    """The driver-side proxies of the run's targets and judge; ``served`` collects how many
    answers (``generate``) and verdicts (``judge``) each worker process gave."""
    served = served if served is not None else {}
    generated, judged = served.setdefault("generate", {}), served.setdefault("judge", {})
    return ({spec: RemoteTarget(t, workers, generated) for spec, t in targets.items()},
            remote_judge(judge, workers, served=judged))
