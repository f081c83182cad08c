"""A run's files: summary.json, samples.jsonl and report.html, built from the run store."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, overload

from medsafe.engine.metrics import suite_metrics
from medsafe.engine.records import ItemRecords
from medsafe.engine.store import RunStore
from medsafe.report.embedded import REPORT_SAMPLES
from medsafe.report.html import render_report
from medsafe.report.reliability import jury_members
from medsafe.report.scorecard import derive_scorecard


def sample_row(run_id: str, item: Mapping[str, Any]) -> dict[str, Any]:
    """One line of samples.jsonl: prompt, response, verdict, timings, tokens and errors."""
    sample = json.loads(item["sample"])
    error = item.get("gen_error") if item.get("response_key") is None else item.get("judge_error")
    if item.get("score") is not None or item.get("correct") is not None:
        error = None
    return {
        "run_id": run_id,
        "target": item["target"],
        "suite": item["suite"],
        "sample_id": item["sample_id"],
        "principle": item["principle"],
        "split": sample.get("split"),
        "messages": sample["messages"],
        # Turns sent after the model's answer to ``messages``; ``response`` answers the last.
        "follow_ups": sample.get("follow_ups") or [],
        "reference": sample.get("reference"),
        "metadata": sample.get("metadata", {}),
        "response": item.get("response"),
        "finish_reason": item.get("finish_reason"),
        "score": item.get("score"),
        "refusal": None if item.get("refusal") is None else bool(item["refusal"]),
        "judge": item.get("judge"),
        "rationale": item.get("rationale"),
        "judge_members": jury_members(item.get("judge"), item.get("judge_raw")),
        "extracted": item.get("extracted"),
        "correct": None if item.get("correct") is None else bool(item["correct"]),
        "error": error,
        "error_stage": None if error is None else (
            "generate" if item.get("response_key") is None else "judge"),
        "response_cached": bool(item.get("response_cached")),
        "generation_attempts": item.get("gen_attempts"),
        "gen_latency_s": item.get("gen_latency_s"),
        "judge_latency_s": item.get("judge_latency_s"),
        "prompt_tokens": item.get("prompt_tokens"),
        "completion_tokens": item.get("completion_tokens"),
        **({"conversation": json.loads(item["conversation"])} if item.get("conversation") else {}),
    }


def build_summary(run: dict[str, Any], items: Iterable[Mapping[str, Any]],
                  labels: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Metrics per suite (first target at top level, every target under ``by_target``); with
    human labels, each judge-scored suite also carries its calibrated figures."""
    meta = run["meta"]
    kinds = {s["name"]: s["kind"] for s in meta["suites"]}
    targets = meta["config"]["targets"]
    groups: dict[tuple[str, str], list[Mapping[str, Any]]] = defaultdict(list)
    for item in items:
        groups[(item["suite"], item["target"])].append(item)
    labelled: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for label in labels or []:
        labelled[(label["suite"], label["target"])].append(label)
    suites: dict[str, Any] = {}
    for name, kind in kinds.items():
        by_target = {t: suite_metrics(kind, groups[(name, t)]) for t in targets}
        for t, block in by_target.items():
            if not labelled[(name, t)]:
                continue  # (medsafe.labels brings numpy and scipy: imported only when needed)
            from medsafe.labels import calibrated_block

            calibrated = calibrated_block(kind, groups[(name, t)], labelled[(name, t)])
            if calibrated is not None:
                block["calibrated"] = calibrated
        suites[name] = {"kind": kind, "target": targets[0], **by_target[targets[0]],
                        "by_target": by_target}
    return {
        "run_id": run["run_id"],
        "status": run["status"],
        "medsafe_version": meta["medsafe_version"],
        "targets": targets,
        "judge": meta["config"]["judge"],
        "suites": suites,
        "scorecard": derive_scorecard({"suites": suites}),
        "labels": {"count": len(labels or []),
                   "labellers": sorted({lab["labeller"] for lab in labels or []})},
        "meta": meta,
    }


def write_outputs(store: RunStore, run_id: str, out_dir: Path, *,
                  report_samples: int | None = REPORT_SAMPLES) -> dict[str, Any]:
    """Write the three files of a run and return its summary; report.html embeds at most
    ``report_samples`` samples (None or 0: all), samples.jsonl has every one."""
    run = store.get_run(run_id)
    if run is None:
        raise KeyError(run_id)
    out_dir.mkdir(parents=True, exist_ok=True)
    # One pass over the store: each row is written as it is read, and the items are kept as
    # compact records; the report's rows are made from them when read (see SampleRows).
    items = ItemRecords()
    with (out_dir / "samples.jsonl").open("w", encoding="utf-8") as fh:
        for item in store.iter_items(run_id):
            fh.write(json.dumps(sample_row(run_id, item), ensure_ascii=False) + "\n")
            items.append(item)
    summary = build_summary(run, items, store.labels(run_id))
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False))
    html = render_report(summary, SampleRows(run_id, items), max_samples=report_samples,
                         store=store.path.parent)
    (out_dir / "report.html").write_text(html, encoding="utf-8")
    return summary


class SampleRows(Sequence[dict[str, Any]]):
    """A run's samples.jsonl rows, each made from its item when read: the report reads every
    row a few times (figures, failures, conversations) but keeps only the few it embeds, so a
    large run's rows never exist all at once."""

    def __init__(self, run_id: str, items: Sequence[Mapping[str, Any]]) -> None:
        self._run_id = run_id
        self._items = items

    def __len__(self) -> int:
        return len(self._items)

    @overload
    def __getitem__(self, index: int) -> dict[str, Any]: ...

    @overload
    def __getitem__(self, index: slice) -> list[dict[str, Any]]: ...

    def __getitem__(self, index: int | slice) -> dict[str, Any] | list[dict[str, Any]]:
        if isinstance(index, slice):
            return [sample_row(self._run_id, item) for item in self._items[index]]
        return sample_row(self._run_id, self._items[index])

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for item in self._items:
            yield sample_row(self._run_id, item)
