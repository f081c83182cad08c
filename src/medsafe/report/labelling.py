"""What the labelling page of ``medsafe view`` reads and writes.

The queue is blind by construction: it is built from the run's items with an explicit list of
fields (the request, the answer, the principle), so no verdict, rationale or other labeller's
label can reach the browser through it, whatever the store holds.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from medsafe.engine.store import RunStore
from medsafe.errors import MedsafeError
from medsafe.judges.policy import PRINCIPLES, RUBRIC


class LabelIn(BaseModel):
    """One label as the page sends it."""

    model_config = ConfigDict(extra="forbid")
    target: str
    suite: str
    sample_id: str
    labeller: str = Field(min_length=1, max_length=80)
    score: int = Field(ge=1, le=5)
    refusal: bool


def label_queue(store: RunStore, run_id: str, labeller: str) -> dict[str, Any]:
    """The run's drawn items in draw order, each with this labeller's own label if any."""
    if store.get_run(run_id) is None:
        raise MedsafeError(f"no run '{run_id}' in {store.path}")
    items = {(i["target"], i["suite"], i["sample_id"]): i for i in store.items(run_id)}
    mine = {(lab["target"], lab["suite"], lab["sample_id"]): lab for lab in store.labels(run_id)
            if lab["labeller"] == labeller}
    queue = []
    for drawn in store.label_sample(run_id):
        key = (drawn["target"], drawn["suite"], drawn["sample_id"])
        item = items[key]
        own = mine.get(key)
        queue.append({
            "target": key[0], "suite": key[1], "sample_id": key[2],
            "principle": item.get("principle"),
            "messages": [{"role": m.get("role"), "content": m.get("content")}
                         for m in json.loads(item["sample"])["messages"]],
            "response": item.get("response") or "",
            "mine": None if own is None else {"score": own["score"], "refusal": own["refusal"]},
        })
    return {"run_id": run_id, "labeller": labeller, "items": queue,
            "principles": {str(k): v for k, v in PRINCIPLES.items()}, "rubric": RUBRIC}


def save_label(db: Path, run_id: str, label: LabelIn) -> dict[str, Any]:
    """Store one label from the page (the item must be in the run's label sample)."""
    store = RunStore(db)
    try:
        if store.get_run(run_id) is None:
            raise MedsafeError(f"no run '{run_id}' in {db}")
        drawn = {(d["target"], d["suite"], d["sample_id"]) for d in store.label_sample(run_id)}
        if (label.target, label.suite, label.sample_id) not in drawn:
            raise MedsafeError(f"{label.sample_id!r} is not in run {run_id}'s label sample")
        counts = store.save_labels(run_id, [{**label.model_dump(), "source": "view"}])
        done = sum(1 for lab in store.labels(run_id) if lab["labeller"] == label.labeller)
        return {"saved": True, "changed": counts["new"] + counts["updated"],
                "labelled_by_you": done, "drawn": len(drawn)}
    finally:
        store.close()


def label_progress(store: RunStore, run_id: str) -> dict[str, Any]:
    """How far labelling of a run has got: drawn items, labelled items, labels, labellers."""
    labels = store.labels(run_id)
    return {"drawn": len(store.label_sample(run_id)),
            "labelled": len({(lab["target"], lab["suite"], lab["sample_id"]) for lab in labels}),
            "labels": len(labels), "labellers": sorted({lab["labeller"] for lab in labels})}
