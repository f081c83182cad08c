"""Generation and judging on Ray workers; the driver keeps the pipeline and the run store.

Each worker is a Ray actor that builds its own replica of every target and of the judge from
their spec strings (a model per worker, or an HTTP client per worker). The driver runs the same
:class:`~medsafe.engine.Pipeline` as the local backend, with each target and the judge replaced
by a proxy that sends the call to a worker. So the cache keys, retries and backoff, the attempt
log, multiple-choice grading and every store write are the very code the local backend runs:
the numbers are the same by construction, the driver stays the single SQLite writer (no locks
over a network file system), every response is committed as soon as it reaches the driver, and
a killed run resumes exactly as a local one does.

The workers are spread over the cluster's nodes. A worker lost with its node (its actor died)
leaves the rotation and the call it had in flight goes to a surviving worker; the pipeline never
sees the loss, so no sample is lost or stored twice (only the server may see that request twice).
Each reply names the worker's process and Ray node, and the run's metadata counts the answers and
verdicts of each (``ray_work``), so a run shows where its items ran and which nodes it lost.

Generation is one remote call per attempt (so retries stay visible to the driver); judge calls
made in the same event-loop turn travel together as one batch, which lets batching judges (the
classifier) score them in one matrix product on the worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

import ray
from ray.exceptions import RayActorError

from medsafe.engine.pool import TargetPool
from medsafe.errors import MedsafeError
from medsafe.judges import Judge, Judgement, resolve_judge
from medsafe.judges.batching import BatchingJudge
from medsafe.judges.crashes import safe_verdicts
from medsafe.samples import Message
from medsafe.targets import Completion, GenerationParams, Target, TargetError, TargetOptions

JUDGE_BATCH = 32
CLOSE_TIMEOUT_S = 10.0


def _here() -> tuple[int, str]:
    """This worker's process id and Ray node id."""
    return os.getpid(), ray.get_runtime_context().get_node_id()


class Worker:
    """One Ray actor: a replica of each target and of the judge, built from their specs."""

    def __init__(self, target_specs: list[str], judge_spec: str, options: dict[str, Any]) -> None:
        # The worker builds its parts exactly as the driver does.
        self.pool = TargetPool(TargetOptions.model_validate(options))
        self.targets = {spec: self.pool.get(spec) for spec in target_specs}
        self.judge = resolve_judge(judge_spec, self.pool.get)

    async def generate(self, spec: str, messages: list[dict[str, Any]],
                       params: dict[str, Any]) -> tuple[int, str, tuple[Any, ...]]:
        """One attempt, with the worker's process and node ids; a TargetError comes back as
        data so the driver can retry it."""
        try:
            completion = await self.targets[spec].generate(
                tuple(Message.model_validate(m) for m in messages),
                GenerationParams.model_validate(params))
        except TargetError as exc:
            return (*_here(), ("error", str(exc), exc.retryable, exc.retry_after_s))
        return (*_here(), ("ok", completion.model_dump()))

    async def judge_many(self, pairs: list[tuple[str, str]]
                         ) -> tuple[int, str, list[dict[str, Any]]]:
        """The worker's process and node ids and its verdicts for a batch; a judge that crashes
        costs one verdict, not the run."""
        verdicts = [v.model_dump() for v in await safe_verdicts(self.judge, pairs)]
        return (*_here(), verdicts)

    async def close(self) -> None:
        """Release connections and models."""
        await self.judge.aclose()
        await self.pool.aclose()


@dataclass
class WorkLog:
    """What the workers did, kept on the driver for the run's metadata: answers (``generate``)
    and verdicts (``judge``) per worker process and per Ray node, and the nodes whose worker was
    lost mid-run."""

    by_pid: dict[str, Counter[int]] = field(default_factory=lambda: defaultdict(Counter))
    by_node: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    lost: list[str] = field(default_factory=list)

    def add(self, kind: str, pid: int, node: str, n: int) -> None:
        """Count ``n`` results of ``kind`` from worker process ``pid`` on ``node``."""
        self.by_pid[kind][pid] += n
        self.by_node[node][kind] += n

    def meta(self) -> dict[str, Any]:
        """The ``ray_work`` record: ``generate`` and ``judge`` per worker pid, ``nodes`` (per
        node id, both counts) and ``lost_nodes``."""
        return {**{kind: {str(pid): n for pid, n in sorted(counts.items())}
                   for kind, counts in self.by_pid.items()},
                "nodes": {node: dict(counts) for node, counts in sorted(self.by_node.items())},
                "lost_nodes": list(self.lost)}


class WorkerSet:
    """The run's live workers, taken in turn (a turn per method, so that answers and verdicts
    each spread over all of them). A worker whose actor died (with its node, say) leaves the
    set, and the call it failed is sent again to the next live worker."""

    def __init__(self, actors: list[Any], log: WorkLog | None = None) -> None:
        self.live = list(actors)
        self.log = WorkLog() if log is None else log
        self._turns: Counter[str] = Counter()
        self._node: dict[int, str] = {}  # actor (by id) -> node it answered from

    def __len__(self) -> int:
        return len(self.live)

    async def call(self, method: str, *args: Any) -> tuple[int, str, Any]:
        """Run ``method`` on the next live worker: its process id, node id and result."""
        while True:
            if not self.live:
                raise MedsafeError("every Ray worker was lost: the answers so far are stored; "
                                   "rerun the same command to resume")
            actor = self.live[self._turns[method] % len(self.live)]
            self._turns[method] += 1
            try:
                pid, node, result = await getattr(actor, method).remote(*args)
            except RayActorError:
                self._lose(actor)
                continue
            self._node[id(actor)] = node
            return pid, node, result

    def _lose(self, actor: Any) -> None:
        if any(a is actor for a in self.live):
            self.live = [a for a in self.live if a is not actor]
            self.log.lost.append(self._node.get(id(actor), "unknown"))


class RemoteTarget(Target):
    """Stands in for a target on the driver: each ``generate`` runs on the next worker."""

    def __init__(self, local: Target, workers: WorkerSet) -> None:
        super().__init__(local.spec, local.options)
        self._identity = local.identity()
        self._per_worker = local.concurrency
        self._workers = workers
        self._size = len(workers)  # at the start: capacity is not lowered when a node is lost

    @property
    def concurrency(self) -> int:
        """Each worker's replica takes as many requests as the local target would."""
        return self._per_worker * self._size

    def identity(self) -> dict[str, Any]:
        """The local target's identity: remote and local answers share the cache."""
        return self._identity

    async def generate(self, messages: tuple[Message, ...], params: GenerationParams) -> Completion:
        """Send one attempt to a worker; its failure is raised here, where retries happen."""
        pid, node, result = await self._workers.call(
            "generate", self.spec, [m.model_dump() for m in messages],
            params.model_dump())
        if result[0] == "error":
            _, message, retryable, retry_after_s = result
            raise TargetError(message, retryable=retryable, retry_after_s=retry_after_s)
        self._workers.log.add("generate", pid, node, 1)
        return Completion.model_validate(result[1])


def remote_judge(local: Judge, workers: WorkerSet, batch: int = JUDGE_BATCH) -> BatchingJudge:
    """Stands in for the judge on the driver: the calls of one event-loop turn go to the next
    worker as one batch."""

    async def send(pairs: list[tuple[str, str]]) -> list[Judgement]:
        pid, node, verdicts = await workers.call("judge_many", pairs)
        workers.log.add("judge", pid, node, len(verdicts))
        return [Judgement.model_validate(v) for v in verdicts]

    return BatchingJudge(local.spec, local.identity(), send, batch=batch,
                         concurrency=max(local.concurrency, batch) * len(workers))


class RayWorkers:
    """Starts (or joins) Ray, places the workers, and tears them down after the run."""

    def __init__(self, address: str | None, workers: int | None) -> None:
        # The option first, then Ray's own variable; neither: Ray's default (a cluster
        # started with `ray start` on this machine, else a new local instance).
        self.address = address or os.environ.get("RAY_ADDRESS") or None
        self.requested = workers
        self.started_ray = False
        self.actors: list[Any] = []

    def start(self, target_specs: list[str], judge_spec: str, options: TargetOptions) -> list[Any]:
        """Connect to the cluster at ``address`` (a local one when None) and start the workers
        (each on the node with the fewest so far)."""
        if not ray.is_initialized():
            try:
                ray.init(address=self.address, include_dashboard=False, log_to_driver=False,
                         configure_logging=False)
            except (ConnectionError, ValueError, RuntimeError) as exc:
                raise MedsafeError(f"cannot start or join Ray at {self.address or 'a local instance'}"
                                   f" ({exc}): check --ray-address or RAY_ADDRESS") from exc
            self.started_ray = True
        cpus = float(ray.cluster_resources().get("CPU", 1))
        count = self.requested or max(1, int(cpus))
        # Spread over the nodes, a CPU each; more workers than CPUs share them.
        actor = ray.remote(num_cpus=min(1.0, cpus / count), scheduling_strategy="SPREAD")(Worker)
        self.actors = [actor.remote(target_specs, judge_spec, options.model_dump())
                       for _ in range(count)]
        return self.actors

    async def stop(self) -> None:
        """Close each worker's targets, end the actors, and stop Ray if this run started it."""
        if self.actors:
            # A worker on a node that died after its last call may not be known dead yet:
            # its close would wait for Ray to find out, so the wait is bounded.
            closing = asyncio.gather(*(a.close.remote() for a in self.actors),
                                     return_exceptions=True)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(closing, CLOSE_TIMEOUT_S)
            for actor in self.actors:
                ray.kill(actor)
            self.actors = []
        if self.started_ray:
            ray.shutdown()
            self.started_ray = False


def remote_parts(targets: dict[str, Target], judge: Judge, workers: WorkerSet
                 ) -> tuple[dict[str, Target], Judge]:
    """The driver-side proxies of the run's targets and judge, sharing the live ``workers``
    (whose log counts what each worker process and node did)."""
    return ({spec: RemoteTarget(t, workers) for spec, t in targets.items()},
            remote_judge(judge, workers))
