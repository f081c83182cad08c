"""An Inspect eval log of a medsafe task, turned into a medsafe run.

The log's samples carry their medsafe sample and its score the judge's whole verdict (see
:mod:`medsafe.interop.inspect_tasks`), so the import stores exactly what a medsafe run of the
same answers stores: each answer as a response, each verdict as a judgement, failures as
errors. Reports, comparisons, labels and calibrated figures then work on it as on any run. The
run id comes from the log (its creation time and eval id), so importing a log twice gives one run.
"""

from __future__ import annotations

import hashlib
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from medsafe import __version__
from medsafe.engine.config import RunConfig
from medsafe.engine.grading import GRADERS
from medsafe.engine.keys import cache_key
from medsafe.engine.paths import store_dir, store_file
from medsafe.engine.runner import judge_request, plan_items
from medsafe.engine.store import RunStore
from medsafe.errors import MedsafeError, MissingDependencyError
from medsafe.interop._inspect_keys import (
    JUDGE_KEY,
    POSITION_KEY,
    SAMPLE_KEY,
    SUITE_KEY,
    TARGET_PREFIX,
    VERDICT_KEY,
)
from medsafe.judges import DEFAULT_JUDGE, Judgement
from medsafe.report.outputs import write_outputs
from medsafe.samples import Sample
from medsafe.suites import DatasetRef, Suite
from medsafe.targets import Completion, GenerationParams


@dataclass
class ImportedRun:
    """The run an Inspect log became; ``new`` is False when the log had been imported before."""

    run_id: str
    out_dir: Path
    summary: dict[str, Any]
    new: bool


def read_log(path: Path) -> Any:
    """The Inspect log at ``path`` (``.eval`` or ``.json``), checked to be one of a medsafe task."""
    try:
        from inspect_ai.log import read_eval_log
    except ImportError:
        raise MissingDependencyError("medsafe import-inspect", "inspect") from None
    if not path.is_file():
        raise MedsafeError(f"{path}: no such Inspect log")
    try:
        log = read_eval_log(str(path))
    except Exception as exc:  # Inspect raises many kinds for a file that is not a log
        raise MedsafeError(f"{path}: not an Inspect eval log ({type(exc).__name__}: {exc})") from None
    if SUITE_KEY not in (log.eval.metadata or {}):
        raise MedsafeError(f"{path}: a log of task '{log.eval.task}', not of a medsafe task; run "
                           "one with `inspect eval medsafe/harm --model ...`")
    if (log.eval.config.epochs or 1) > 1:
        raise MedsafeError(f"{path}: {log.eval.config.epochs} epochs; a medsafe run answers each "
                           "prompt once: run Inspect with --epochs 1")
    if not log.samples:
        raise MedsafeError(f"{path}: the log holds no samples (status {log.status})")
    return log


def _run_id(log: Any) -> str:
    """A run id of medsafe's form, fixed by the log: its local creation time and its eval id."""
    from datetime import datetime

    created = datetime.fromisoformat(str(log.eval.created)).astimezone()
    return f"{created:%Y%m%d-%H%M%S}-{hashlib.sha256(log.eval.eval_id.encode()).hexdigest()[:6]}"


def _params(log: Any, seed: int) -> GenerationParams:
    config = log.plan.config if log.plan is not None else log.eval.model_generate_config
    defaults = GenerationParams()
    return GenerationParams(
        max_tokens=config.max_tokens or defaults.max_tokens,
        temperature=defaults.temperature if config.temperature is None else config.temperature,
        top_p=config.top_p or defaults.top_p,
        seed=seed if config.seed is None else config.seed)


def _verdict(log_sample: Any) -> tuple[Judgement, dict[str, Any]] | None:
    for score in (log_sample.scores or {}).values():
        metadata = score.metadata or {}
        if VERDICT_KEY in metadata:
            return Judgement.model_validate(metadata[VERDICT_KEY]), dict(metadata.get(JUDGE_KEY) or {})
    return None


@dataclass(frozen=True)
class _Plan:
    """What the run is made of, read from the log."""

    suite: Suite
    target: str
    config: RunConfig
    meta: dict[str, Any]
    by_id: dict[str, Any]  # sample id -> the log's sample


def _plan(log: Any, path: Path) -> _Plan:
    record = log.eval.metadata[SUITE_KEY]
    ordered = sorted(log.samples, key=lambda s: s.metadata.get(POSITION_KEY, 0))
    samples = [Sample.model_validate(s.metadata[SAMPLE_KEY]) for s in ordered
               if SAMPLE_KEY in s.metadata]
    if len(samples) != len(ordered):
        raise MedsafeError(f"{path}: some samples carry no medsafe sample; was the task changed?")
    suite = Suite(name=record["name"], kind=record["kind"], samples=samples,
                  datasets=[DatasetRef(**d) for d in record.get("datasets", [])],
                  description=record.get("description", ""), provenance=record.get("provenance", {}))
    target = f"{TARGET_PREFIX}{log.eval.model}"
    seed = int(record.get("seed") or 0)
    judge_spec = str(log.eval.task_args.get("judge") or DEFAULT_JUDGE)
    config = RunConfig(targets=[target], suites=[record["spec"]], judge=judge_spec,
                       limit=record.get("limit"), seed=seed, params=_params(log, seed))
    found = next((v for v in map(_verdict, ordered) if v is not None and "grader" not in v[1]), None)
    meta = {
        "medsafe_version": __version__, "python": sys.version.split()[0],
        "platform": platform.platform(), "command": sys.argv, "config": config.model_dump(),
        "suites": [{"name": suite.name, "kind": suite.kind, "n": len(samples),
                    "description": suite.description,
                    "datasets": [d.__dict__ for d in suite.datasets],
                    "provenance": suite.provenance}],
        "targets": {target: {"spec": target, "inspect_model": log.eval.model,
                             "model_base_url": log.eval.model_base_url,
                             "inspect_eval_id": log.eval.eval_id}},
        "judge": found[1] if found else {"spec": judge_spec},
        "params": config.params.model_dump(), "seed": seed,
        "inspect": {"log": str(path.resolve()), "task": log.eval.task, "eval_id": log.eval.eval_id,
                    "run_id": log.eval.run_id, "created": str(log.eval.created),
                    "status": log.status, "task_args": log.eval.task_args,
                    "packages": log.eval.packages, "medsafe_version": record.get("medsafe_version")},
        "started_at": time.time(),
    }
    return _Plan(suite, target, config, meta, {str(s.id): s for s in ordered})


def _store_sample(store: RunStore, run_id: str, plan: _Plan, sample: Sample, log_sample: Any) -> None:
    """One answer and its verdict, stored as the run pipeline stores them."""
    key_item = (plan.target, plan.suite.name, sample.id)
    output = log_sample.output
    if log_sample.error is not None or not output.choices:
        error = log_sample.error.message if log_sample.error is not None else "no answer in the log"
        store.mark_generation_failed(run_id, key_item, f"inspect: {error}")
        return
    usage = output.usage
    completion = Completion(
        text=output.completion, finish_reason=str(output.stop_reason or "") or None,
        prompt_tokens=usage.input_tokens if usage else None,
        completion_tokens=usage.output_tokens if usage else None,
        latency_s=float(log_sample.working_time or log_sample.total_time or 0.0))
    identity = plan.meta["targets"][plan.target]
    response_key = cache_key(identity, plan.config.params.model_dump(),
                             [m.model_dump() for m in sample.messages])
    store.record_response(run_id, key_item, response_key, completion, cached=False)
    found = _verdict(log_sample)
    if found is None:
        store.record_judgement(run_id, key_item, "", Judgement(
            judge=plan.config.judge, error="the Inspect log holds no medsafe verdict for this answer"),
            cached=False)
        return
    verdict, judge_identity = found
    grader = GRADERS.get(plan.suite.kind)
    if grader is not None:
        key = cache_key(grader.name, sample.id, sample.metadata, completion.text)
    else:
        key = cache_key(judge_identity, judge_request(sample), completion.text)
    store.record_judgement(run_id, key_item, key, verdict, cached=False)


def import_inspect_log(path: Path, *, store: Path | None = None,
                       out_dir: Path | None = None) -> ImportedRun:
    """Store an Inspect log of a medsafe task as a finished medsafe run and write its files
    (summary.json, samples.jsonl, report.html) to ``out_dir`` (default ``STORE/RUN_ID``)."""
    log = read_log(path)
    run_id = _run_id(log)
    run_store = RunStore(store_file(store))
    try:
        new = run_store.get_run(run_id) is None
        if new:
            plan = _plan(log, path)
            run_store.claim_run(run_id, cache_key("inspect-log", log.eval.eval_id),
                                plan.config.model_dump(), plan.meta)
            run_store.add_items(run_id, plan_items([plan.suite], [plan.target]))
            for sample in plan.suite.samples:
                _store_sample(run_store, run_id, plan, sample, plan.by_id[sample.id])
            run_store.finish_run(run_id, {**plan.meta, "finished_at": time.time()})
        out = out_dir or store_dir(store) / run_id
        summary = write_outputs(run_store, run_id, out)
        run_store.update_run_meta(run_id, out_dir=str(out.resolve()))
        return ImportedRun(run_id, out, summary, new)
    finally:
        run_store.close()
