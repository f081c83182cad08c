"""Drawing the items of a run that people label: a seeded simple random sample of scored items.

Prediction-powered estimates are valid only when the labelled items are a random subset of the
scored ones, so items are never picked by hand: the sample is a prefix of a seeded random
permutation of the run's scored items (per scope of suites), stored in the run store. Drawing
again with a larger ``n`` and the same seed extends the same permutation, so the larger sample is
still a simple random sample.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from medsafe.engine.store import RunStore
from medsafe.errors import MedsafeError
from medsafe.labels.calibrated import JUDGED_KINDS

ItemKey = tuple[str, str, str]  # (target, suite, sample_id)


@dataclass(frozen=True)
class Draw:
    """What one ``label sample`` did."""

    run_id: str
    suites: list[str]
    eligible: int  # scored items in scope
    drawn: int  # items in the sample within scope after this draw
    new: int  # items added by this draw
    seed: int


def run_or_error(store: RunStore, run_id: str) -> dict[str, Any]:
    """The stored run, or a one-line error naming the store."""
    run = store.get_run(run_id)
    if run is None:
        raise MedsafeError(f"no run '{run_id}' in {store.path}; `medsafe runs` lists them")
    return run


def judged_suites(run: dict[str, Any]) -> dict[str, str]:
    """The run's suites whose items a judge scored, name -> kind."""
    return {s["name"]: s["kind"] for s in run["meta"]["suites"] if s["kind"] in JUDGED_KINDS}


def eligible_items(store: RunStore, run: dict[str, Any], suites: list[str] | None
                   ) -> tuple[list[str], list[ItemKey]]:
    """The suites in scope and their scored items, sorted by key (a stable base to permute)."""
    kinds = {s["name"]: s["kind"] for s in run["meta"]["suites"]}
    judged = judged_suites(run)
    for name in suites or []:
        if name not in kinds:
            raise MedsafeError(f"--suite {name}: run {run['run_id']} has no such suite "
                               f"(its suites: {', '.join(kinds)})")
        if name not in judged:
            raise MedsafeError(f"--suite {name}: a {kinds[name]} suite is graded by rule, not by "
                               "a judge; there is nothing to calibrate")
    scope = list(suites) if suites else list(judged)
    keys = sorted((i["target"], i["suite"], i["sample_id"]) for i in store.items(run["run_id"])
                  if i["suite"] in scope and i.get("score") is not None)
    if not keys:
        raise MedsafeError(f"run {run['run_id']} has no judge-scored items to label in "
                           f"{', '.join(scope) or 'any suite'}")
    return scope, keys


def draw_sample(store: RunStore, run_id: str, *, n: int, seed: int = 0,
                suites: list[str] | None = None) -> Draw:
    """Draw (or extend to) ``n`` items of the run's scored items for labelling."""
    if n < 1:
        raise MedsafeError(f"--n {n}: draw at least one item")
    run = run_or_error(store, run_id)
    scope, keys = eligible_items(store, run, suites)
    existing = {(r["target"], r["suite"], r["sample_id"]): r for r in store.label_sample(run_id)}
    in_scope = [existing[k] for k in keys if k in existing]
    seeds = {r["seed"] for r in in_scope}
    if seeds and seeds != {seed}:
        raise MedsafeError(f"run {run_id}'s label sample was drawn with seed {min(seeds)}; "
                           f"extend it with --seed {min(seeds)} (another seed would make the "
                           "labelled items no longer a simple random sample)")
    order = np.random.default_rng(seed).permutation(len(keys))
    chosen = [keys[k] for k in order[:min(n, len(keys))]]
    start = max((r["rank"] for r in existing.values()), default=-1) + 1
    fresh = [k for k in chosen if k not in existing]
    rows = [{"target": t, "suite": s, "sample_id": i, "rank": start + k, "seed": seed}
            for k, (t, s, i) in enumerate(fresh)]
    new = store.add_label_sample(run_id, rows) if rows else 0
    return Draw(run_id, scope, len(keys), len(in_scope) + new, new, seed)
