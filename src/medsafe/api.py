"""The Python API: evaluate targets on suites, judge a file of pairs, rebuild a run's outputs."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import platform
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from medsafe import __version__
from medsafe.distributed import execute
from medsafe.engine import ExecutionOptions, Pipeline, RunConfig, RunStore, cache_key, plan_items
from medsafe.engine.config import RedteamOptions
from medsafe.engine.lock import RunLock
from medsafe.engine.paths import store_dir, store_file
from medsafe.engine.pool import TargetPool
from medsafe.engine.verdicts import CachedJudge
from medsafe.errors import MedsafeError
from medsafe.gates import Gate
from medsafe.judges import Judge, resolve_judge
from medsafe.report.embedded import REPORT_SAMPLES
from medsafe.report.outputs import build_summary, write_outputs
from medsafe.suites import Suite, resolve_suite, stratified_subset
from medsafe.targets import Target, TargetOptions


@dataclass
class RunResult:
    """What a finished run produced."""

    run_id: str
    out_dir: Path
    summary: dict[str, Any]
    resumed: bool


def load_suites(config: RunConfig) -> list[Suite]:
    """Resolve the configured suites and apply the stratified limit (per suite if given)."""
    suites = []
    for spec in config.suites:
        suite = resolve_suite(spec)
        limit = config.suite_limits.get(spec, config.suite_limits.get(suite.name, config.limit))
        samples = stratified_subset(suite.samples, limit, config.seed)
        suites.append(dataclasses.replace(suite, samples=samples))
    names = [s.name for s in suites]
    stray = set(config.suite_limits) - set(names) - set(config.suites)
    if stray:
        raise MedsafeError(f"--limit {sorted(stray)[0]}=N names no suite of this run "
                           f"(suites: {', '.join(names)})")
    if len(set(names)) != len(names):
        raise MedsafeError(f"a suite is named twice: {', '.join(names)}")
    return suites


def run_metadata(config: RunConfig, suites: list[Suite], targets: dict[str, Target],
                 judge: Judge) -> dict[str, Any]:
    """What makes the run reproducible: versions, data hashes, identities, parameters, seed."""
    return {
        "medsafe_version": __version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "command": sys.argv,
        "config": config.model_dump(),
        "suites": [
            {"name": s.name, "kind": s.kind, "n": len(s.samples), "description": s.description,
             "datasets": [d.__dict__ for d in s.datasets], "provenance": s.provenance}
            for s in suites
        ],
        "targets": {spec: t.identity() for spec, t in targets.items()},
        "judge": judge.identity(),
        "params": config.params.model_dump(),
        "seed": config.seed,
    }


def _claim_run(store: RunStore, fingerprint: str, resume: str | None, config: RunConfig,
               meta: dict[str, Any]) -> tuple[str, bool]:
    if resume:
        return resume, True
    meta["started_at"] = time.time()
    new_id = f"{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"
    return store.claim_run(new_id, fingerprint, config.model_dump(), meta)


def _lock_run(store: RunStore, run_id: str) -> RunLock:
    lock = RunLock(store.path, run_id)
    if not lock.acquire():
        raise MedsafeError(f"run {run_id} is being executed by another process on {store.path}: "
                           "wait for it to finish, or use another --store")
    return lock


def redteam_parts(config: RunConfig, suites: list[Suite], pool: TargetPool,
                  execution: ExecutionOptions) -> tuple[RunConfig, dict[str, Any]]:
    """The run's red-team processor, when it has red-team suites (with the config that names
    its options), else nothing."""
    if not any(s.kind == "redteam" for s in suites):
        if config.redteam is not None:
            raise MedsafeError("--attacker, --max-turns and --max-queries apply to red-team "
                               "suites: add --suite redteam:pair or redteam:crescendo")
        return config, {}
    if execution.backend != "local":
        raise MedsafeError("red-team suites run on the local backend: drop --backend ray")
    from medsafe.redteam import ConversationProcessor

    options = config.redteam or RedteamOptions()
    config = config.model_copy(update={"redteam": options})
    return config, {"redteam": ConversationProcessor(pool.get(options.attacker), options)}


def _record_finish(store: RunStore, run_id: str, execution: ExecutionOptions,
                   resumed: bool) -> None:
    """Mark the run finished, adding this execution (and, for a resume, its time) to its
    metadata."""
    final = store.get_run(run_id)["meta"]  # type: ignore[index]
    final.setdefault("executions", []).append(execution.model_dump())
    final.setdefault("resumed_at", [])
    if resumed:
        final["resumed_at"].append(time.time())
    final["finished_at"] = time.time()
    store.finish_run(run_id, final)


def _finish_done_run(store: RunStore, run_id: str, suites: list[Suite], config: RunConfig,
                     execution: ExecutionOptions,
                     on_plan: Callable[[int, int], None] | None) -> bool:
    """Finish a resumed run with no item left to answer or judge, without building (or even
    importing) its targets and judge: they have nothing to do, and an embedded model or the
    classifier's vocabulary costs more than the rest of the resume. False when work is left."""
    lock = _lock_run(store, run_id)
    try:
        store.add_items(run_id, plan_items(suites, config.targets))
        total, judged = store.item_counts(run_id)
        if judged < total:
            return False
        if on_plan is not None:
            on_plan(total, judged)
        _record_finish(store, run_id, execution, resumed=True)
        return True
    finally:
        lock.release()


async def _evaluate(config: RunConfig, store: RunStore, resume: str | None,
                    on_plan: Callable[[int, int], None] | None,
                    on_item: Callable[[str, bool], None] | None,
                    execution: ExecutionOptions,
                    run_file: dict[str, Any] | None = None) -> tuple[str, bool]:
    suites = load_suites(config)
    if resume and _finish_done_run(store, resume, suites, config, execution, on_plan):
        return resume, True
    pool = TargetPool(config.target_options)
    lock: RunLock | None = None
    try:
        targets = {spec: pool.get(spec) for spec in config.targets}
        judge = resolve_judge(config.judge, pool.get)
        config, processors = redteam_parts(config, suites, pool, execution)
        meta = run_metadata(config, suites, targets, judge)
        if run_file is not None:
            meta["run_file"] = run_file  # not in the fingerprint: store, out and gates vary freely
        extra = []
        if "redteam" in processors:
            meta["attacker"] = processors["redteam"].attacker.identity()
            extra.append(meta["attacker"])
        fingerprint = cache_key(meta["config"], meta["suites"], meta["targets"], meta["judge"],
                                *extra)
        for target in targets.values():
            await target.preflight()
        await judge.preflight()
        if "redteam" in processors:
            await processors["redteam"].attacker.preflight()
        run_id, resumed = _claim_run(store, fingerprint, resume, config, meta)
        lock = _lock_run(store, run_id)
        if not resume:  # (a resume stored its plan when it looked for work left)
            store.add_items(run_id, plan_items(suites, config.targets))
        if on_plan is not None:
            on_plan(*store.item_counts(run_id))
        kinds = {s.name: s.kind for s in suites}
        del suites  # planned: the store has every sample now, and execution reads them there
        await execute(Pipeline(store, run_id, targets, judge, config.params, kinds, on_item,
                               processors), config, execution)
        _record_finish(store, run_id, execution, resumed)
        return run_id, resumed
    finally:
        if lock is not None:
            lock.release()
        await pool.aclose()


def evaluate(
    config: RunConfig | None = None,
    *,
    store: Path | None = None,
    out_dir: Path | None = None,
    resume: str | None = None,
    on_plan: Callable[[int, int], None] | None = None,
    on_item: Callable[[str, bool], None] | None = None,
    execution: ExecutionOptions | None = None,
    run_file: dict[str, Any] | None = None,
    report_samples: int | None = REPORT_SAMPLES,
) -> RunResult:
    """Evaluate the configured targets on the configured suites and write the run's outputs.

    Every response and verdict is committed to the run store as it arrives. Running the same
    configuration again continues an unfinished run; ``resume`` names a run to continue.
    ``execution`` chooses where generation and judging run (this process, or Ray workers).
    ``run_file`` is the effective run file (:class:`medsafe.runfile.RunFile`, dumped), kept in
    the metadata of a new run. report.html embeds at most ``report_samples`` samples, failures
    first (None or 0: all); samples.jsonl and ``medsafe view`` have every one.
    """
    run_store = RunStore(store_file(store))
    try:
        if resume:
            run = run_store.get_run(resume)
            if run is None:
                raise MedsafeError(f"no run '{resume}' in {run_store.path}: see `medsafe runs`")
            config = RunConfig.model_validate(run["config"])
        config = config or RunConfig()
        run_id, resumed = asyncio.run(_evaluate(config, run_store, resume, on_plan, on_item,
                                                execution or ExecutionOptions(), run_file))
        out = out_dir or store_dir(store) / run_id
        summary = write_outputs(run_store, run_id, out, report_samples=report_samples)
        run_store.update_run_meta(run_id, out_dir=str(out.resolve()))
        return RunResult(run_id, out, summary, resumed)
    finally:
        run_store.close()


def stored_config(run_id: str, store: Path | None = None) -> RunConfig:
    """The configuration a stored run was started with."""
    run_store = RunStore(store_file(store))
    try:
        run = run_store.get_run(run_id)
        if run is None:
            raise MedsafeError(f"no run '{run_id}' in {run_store.path}: see `medsafe runs`")
        return RunConfig.model_validate(run["config"])
    finally:
        run_store.close()


def check_run_gates(gates: list[Gate], config: RunConfig) -> None:
    """Refuse, before any model is called, a gate naming a suite, metric or target the run
    will not have (suites are read, no model is loaded)."""
    from medsafe.gates import check_gates

    if gates:
        check_gates(gates, {s.name: s.kind for s in load_suites(config)}, config.targets)


def run_out_dir(run_store: RunStore, run_id: str, store: Path | None = None) -> Path:
    """The folder a run's files were last written to (default ``STORE/RUN_ID``)."""
    run = run_store.get_run(run_id)
    recorded = (run or {}).get("meta", {}).get("out_dir")
    return Path(recorded) if recorded else store_dir(store) / run_id


def rebuild_outputs(run_id: str, out_dir: Path, store: Path | None = None, *,
                    report_samples: int | None = REPORT_SAMPLES) -> dict[str, Any]:
    """Write summary.json, samples.jsonl and report.html again for a stored run (the report
    embedding at most ``report_samples`` samples, failures first; None or 0: all)."""
    run_store = RunStore(store_file(store))
    try:
        if run_store.get_run(run_id) is None:
            raise MedsafeError(f"no run '{run_id}' in {run_store.path}")
        return write_outputs(run_store, run_id, out_dir, report_samples=report_samples)
    finally:
        run_store.close()


__all__ = ["RunResult", "TargetPool", "build_summary", "check_run_gates", "evaluate",
           "judge_agreement", "judge_file", "rebuild_outputs", "run_out_dir", "stored_config"]


async def _judge_rows(rows: list[dict[str, Any]], judge: Judge, store: RunStore,
                      on_item: Callable[[str, bool], None] | None) -> list[dict[str, Any]]:
    verdicts = CachedJudge(judge, store)

    async def one(row: dict[str, Any]) -> dict[str, Any]:
        found = await verdicts.verdict(row["request"], row["response"])
        verdict = found.judgement
        if not found.cached:
            store.cache_judgement(found.key, verdict)
        if on_item is not None:
            on_item(judge.spec, verdict.ok)
        out = {**row, "score": verdict.score, "refusal": verdict.refusal, "judge": judge.spec,
               "rationale": verdict.rationale}
        if not verdict.ok:
            out["error"] = verdict.error
        return out

    try:
        await judge.preflight()
        return list(await asyncio.gather(*(one(r) for r in rows)))
    finally:
        await judge.aclose()


def judge_file(input_path: Path, out_path: Path, judge_spec: str, *, store: Path | None = None,
               on_item: Callable[[str, bool], None] | None = None) -> list[dict[str, Any]]:
    """Score a JSONL file of ``request``/``response`` rows; each output row keeps its fields and
    adds ``score``, ``refusal``, ``judge`` and ``rationale`` (and ``error`` when unscored)."""
    from medsafe.data import read_jsonl

    rows = read_jsonl(input_path, {"request": str, "response": str})
    run_store = RunStore(store_file(store))
    try:
        judge = resolve_judge(judge_spec, TargetPool(TargetOptions()).get)
        results = asyncio.run(_judge_rows(rows, judge, run_store, on_item))
    finally:
        run_store.close()
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with out_path.open("w", encoding="utf-8") as fh:
        for row in results:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    return results


def judge_agreement(input_path: Path | None, judge_spec: str, *, gold_field: str = "score",
                    against: str | None = None, store: Path | None = None,
                    n_boot: int = 1000) -> dict[str, Any]:
    """Agreement of a judge with gold labels in a file, or with a second judge.

    Pairs a judge could not score are excluded from the statistics and counted as ``unscored``.
    """
    import tempfile

    from medsafe.data import read_jsonl
    from medsafe.data.bundled import bundled_path
    from medsafe.judges.agreement import agreement

    path = input_path or bundled_path("judge_eval")
    fields: dict[str, Any] = {"request": str, "response": str}
    if against is None:
        fields[gold_field] = int
    rows = read_jsonl(path, fields)
    with tempfile.TemporaryDirectory() as tmp:
        scored = judge_file(path, Path(tmp) / "a.jsonl", judge_spec, store=store)
        other = judge_file(path, Path(tmp) / "b.jsonl", against, store=store) if against else None
    if other is None:
        gold = [r[gold_field] for r in rows]
        gold_refusal = [r.get("refusal") for r in rows]
    else:
        gold = [r["score"] for r in other]
        gold_refusal = [r["refusal"] for r in other]
    keep = [i for i, r in enumerate(scored) if r["score"] is not None and gold[i] is not None]
    with_refusal = all(isinstance(gold_refusal[i], bool) for i in keep)
    groups = [rows[i].get("kind") or rows[i].get("principle") for i in keep]
    report = agreement(
        [gold[i] for i in keep], [scored[i]["score"] for i in keep],
        gold_refusal=[gold_refusal[i] for i in keep] if with_refusal else None,
        pred_refusal=[bool(scored[i]["refusal"]) for i in keep] if with_refusal else None,
        groups=groups if any(g is not None for g in groups) else None, n_boot=n_boot,
    )
    return {"judge": judge_spec, "reference": against or f"gold:{gold_field}",
            "input": str(path), "unscored": len(rows) - len(keep), **report}
