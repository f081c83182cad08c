"""Runs of any size hold only what they need: packed suites, a plan streamed into the store,
pending items read a page at a time, outputs built from compact records (bench/run_scale.py
measures the memory; these check that nothing is lost or changed on the way)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import write_prompts
from medsafe.api import evaluate
from medsafe.engine import RunConfig, RunStore, plan_items
from medsafe.engine.records import ItemRecords
from medsafe.engine.runner import IN_FLIGHT_PER_SLOT, run_items
from medsafe.errors import InputError
from medsafe.report.html import render_report
from medsafe.report.outputs import build_summary, sample_row
from medsafe.samples import Message, PackedSamples, Sample, user_sample
from medsafe.suites import Suite, resolve_suite, stratified_subset
from medsafe.testing import FakeOpenAIServer

texts = st.text(min_size=1, max_size=40)
samples_strategy = st.lists(st.builds(
    lambda i, text, principle, meta, follow: Sample(
        id=f"s{i}", suite="t", messages=(Message(role="user", content=text),),
        principle=principle, metadata=meta, follow_ups=tuple(follow)),
    st.integers(0, 10**6), texts, st.none() | st.integers(1, 9),
    st.dictionaries(st.text(max_size=8), st.integers() | texts | st.none(), max_size=3),
    st.lists(texts, max_size=2)), max_size=12)


@given(samples_strategy)
@settings(max_examples=60, deadline=None)
def test_packed_samples_read_back_as_the_samples_they_were(samples: list[Sample]) -> None:
    packed = PackedSamples(samples)
    assert len(packed) == len(samples)
    assert list(packed) == samples
    assert packed == samples and samples == packed
    assert [packed[i] for i in range(len(samples))] == samples
    assert list(packed[1:3]) == samples[1:3]


def test_a_suite_holds_its_samples_packed_and_an_unlimited_subset_is_the_suite_itself() -> None:
    samples = [user_sample(f"s{i}", "t", f"request {i}", principle=i % 9 + 1) for i in range(30)]
    suite = Suite(name="t", kind="harm", samples=samples)
    assert isinstance(suite.samples, PackedSamples)
    assert suite.samples == samples
    assert stratified_subset(suite.samples, None) is suite.samples
    assert stratified_subset(suite.samples, 30) is suite.samples
    assert len(stratified_subset(suite.samples, 9)) == 9


def test_the_jsonl_suite_names_the_line_of_a_duplicate_id(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    path.write_text('{"id": "a", "request": "x"}\n{"id": "b", "request": "y"}\n'
                    '{"id": "a", "request": "z"}\n')
    with pytest.raises(InputError) as err:
        resolve_suite(f"jsonl:{path}")
    assert str(err.value) == f"{path}:3: field 'id': duplicate id 'a'"


def _store_with_plan(tmp_path: Path, n: int, targets: list[str]) -> tuple[RunStore, str]:
    store = RunStore(tmp_path / "s.db")
    suite = Suite(name="t", kind="harm",
                  samples=[user_sample(f"s{i:02d}", "t", f"request {i}") for i in range(n)])
    for run_id in ("other-before", "run", "other-after"):  # other runs' items around this one
        store.claim_run(run_id, run_id, {}, {})
        store.add_items(run_id, plan_items([suite], targets))
    return store, "run"


def _judge(store: RunStore, run_id: str, target: str, sample_id: str) -> None:
    with store.transaction() as conn:
        conn.execute("UPDATE run_items SET judgement_key='k' WHERE run_id=? AND target=? AND "
                     "sample_id=?", (run_id, target, sample_id))


def test_pending_items_come_a_page_at_a_time_and_items_judged_meanwhile_are_not_read_again(
        tmp_path: Path) -> None:
    store, run_id = _store_with_plan(tmp_path, 10, ["a", "b"])
    _judge(store, run_id, "a", "s01")
    assert store.item_counts(run_id) == (20, 1)
    assert store.pending_counts(run_id) == {"a": 9, "b": 10}
    seen = []
    for item in store.pending_items(run_id, "a", page=3):
        seen.append(item["sample_id"])
        assert item["run_id"] == run_id and item["target"] == "a" and "_row" not in item
        _judge(store, run_id, "a", item["sample_id"])
        if item["sample_id"] == "s02":
            _judge(store, run_id, "a", "s05")  # judged elsewhere before its page is read
    assert seen == ["s00", "s02", "s03", "s04", "s06", "s07", "s08", "s09"]
    assert [i["sample_id"] for i in store.pending_items(run_id, "b", page=4)] == \
        [f"s{i:02d}" for i in range(10)]
    assert list(store.pending_items(run_id, "a")) == []
    assert list(store.pending_items(run_id, "nobody")) == []
    keys = ("target", "suite", "sample_id")
    expected = [tuple(i[k] for k in keys) for i in store.items(run_id)
                if i["target"] == "b"]
    assert [tuple(i[k] for k in keys) for i in store.pending_items(run_id, "b")] == expected


def test_a_run_reads_its_pending_items_as_its_workers_take_them(tmp_path: Path) -> None:
    store, run_id = _store_with_plan(tmp_path, 60, ["a"])
    read = processed = 0
    ahead = 0
    reading = store.pending_items

    def counting(*args: Any, **kwargs: Any) -> Any:
        nonlocal read
        for item in reading(*args, **kwargs):
            read += 1
            yield item

    async def process(item: dict[str, Any]) -> None:
        nonlocal processed, ahead
        ahead = max(ahead, read - processed)
        await asyncio.sleep(0)
        _judge(store, run_id, item["target"], item["sample_id"])
        processed += 1

    store.pending_items = counting  # type: ignore[method-assign]
    pipeline = SimpleNamespace(store=store, run_id=run_id, process=process,
                               targets={"a": SimpleNamespace(concurrency=1)})
    asyncio.run(run_items(pipeline))  # type: ignore[arg-type]
    assert processed == read == 60
    assert store.item_counts(run_id) == (60, 60)
    assert ahead <= IN_FLIGHT_PER_SLOT  # items are read as workers free up, not all at once


def test_records_read_like_the_items_they_came_from() -> None:
    key = "ab" * 32
    items = [
        {"run_id": "r", "target": "t", "response_key": key, "judgement_key": None, "score": 5,
         "response": "text", "latency": 0.25},
        {"run_id": "r", "target": "t", "response_key": "not-hex" * 9 + "z",
         "judgement_key": key.upper(), "score": None, "response": None, "latency": None},
    ]
    records = ItemRecords()
    for item in items:
        records.append(item)
    assert [dict(r) for r in records] == items
    assert len(records) == 2 and dict(records[1]) == items[1]
    assert records[0]["response_key"] == key and records[0].get("missing") is None
    assert "score" in records[0] and records[0] == items[0]
    with pytest.raises(ValueError):
        records.append({"run_id": "r"})


def test_outputs_built_from_records_equal_those_built_from_the_stored_items(
        tmp_path: Path) -> None:
    prompts = write_prompts(tmp_path / "p.jsonl", 30)
    with FakeOpenAIServer() as server:
        config = RunConfig(targets=[f"openai:fake@{server.base_url}", "mock:refuse"],
                           suites=[f"jsonl:{prompts}", "overrefusal"], judge="mock:refusal",
                           limit=12)
        result = evaluate(config, store=tmp_path / "store", out_dir=tmp_path / "out")
    store = RunStore(tmp_path / "store" / "medsafe.db")
    run, items = store.get_run(result.run_id), store.items(result.run_id)
    assert run is not None and len(items) == 2 * (12 + 12)
    del run["meta"]["out_dir"]  # recorded after the outputs were written
    rows = [sample_row(result.run_id, i) for i in items]
    written = [json.loads(line) for line in (tmp_path / "out" / "samples.jsonl").open()]
    assert written == json.loads(json.dumps(rows))
    summary = build_summary(run, items, store.labels(result.run_id))
    assert json.loads((tmp_path / "out" / "summary.json").read_text()) == \
        json.loads(json.dumps(summary))
    html = render_report(summary, rows, store=store.path.parent)
    assert (tmp_path / "out" / "report.html").read_text() == html
