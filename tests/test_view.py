"""`medsafe view`: the read-only run browser served by a real uvicorn on 127.0.0.1."""

from __future__ import annotations

import asyncio
import hashlib
import json
import sqlite3
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from medsafe.engine.paths import store_file
from medsafe.report.runs import ReadOnlyRunStore
from medsafe.report.view import running_view

HOSTILE = "<script>alert(1)</script><img src=x onerror=alert(2)>"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A store with one finished run whose answers echo markup back (mock:echo)."""
    from medsafe.api import evaluate
    from medsafe.engine import RunConfig

    tmp_path = tmp_path_factory.mktemp("view")
    prompts = tmp_path / "p.jsonl"
    with prompts.open("w") as fh:
        for i in range(12):
            text = HOSTILE if i == 0 else f"question number {i}"
            fh.write(json.dumps({"id": f"q{i:02d}", "principle": i % 9 + 1, "request": text}) + "\n")
    result = evaluate(RunConfig(targets=["mock:echo", "mock:refuse"], suites=[f"jsonl:{prompts}"],
                                judge="mock:refusal"), store=tmp_path / "store",
                      out_dir=tmp_path / "out")
    return tmp_path / "store", result.run_id


async def _fetch(base: str, requests: list[tuple[str, str]]) -> list[tuple[int, str, Any]]:
    async with aiohttp.ClientSession() as session:
        out = []
        for method, path in requests:
            async with session.request(method, base + path) as resp:
                out.append((resp.status, await resp.text(), resp.headers))
        return out


def test_view_lists_runs_and_filters_samples_without_writing(store: tuple[Path, str]) -> None:
    folder, run_id = store
    db = store_file(folder)
    before = hashlib.sha256(db.read_bytes()).hexdigest()
    with running_view(folder) as base:
        assert base.startswith("http://127.0.0.1:")
        (index, api_runs, page, filtered, samples, summary, report, missing, post) = asyncio.run(
            _fetch(base, [
                ("GET", "/"), ("GET", "/api/runs"), ("GET", f"/runs/{run_id}"),
                ("GET", f"/runs/{run_id}?target=mock:refuse&principle=3"),
                ("GET", f"/api/runs/{run_id}/samples?target=mock:echo&score=5&limit=5"),
                ("GET", f"/api/runs/{run_id}/summary"), ("GET", f"/runs/{run_id}/report"),
                ("GET", "/runs/no-such-run"), ("POST", "/"),
            ]))
    assert index[0] == 200 and run_id in index[1]
    assert [r["run_id"] for r in json.loads(api_runs[1])] == [run_id]
    assert page[0] == 200 and "24 of 24 samples" in page[1]
    assert "default-src 'none'" in page[2]["Content-Security-Policy"]
    # echoed markup is escaped, never live
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page[1] and "<script" not in page[1]
    assert "<img" not in page[1]
    assert "2 of 24 samples" in filtered[1]  # principle 3: q02 and q11 of mock:refuse
    found = json.loads(samples[1])
    assert found["total"] == 12  # an echo is never a refusal: mock:refusal scores it 5
    assert all(r["target"] == "mock:echo" and r["score"] == 5 for r in found["rows"])
    assert len(found["rows"]) == 5
    assert json.loads(summary[1])["run_id"] == run_id
    assert report[0] == 200 and "Content-Security-Policy" in report[1]
    assert missing[0] == 404 and "no run 'no-such-run'" in missing[1]
    assert post[0] == 405
    assert hashlib.sha256(db.read_bytes()).hexdigest() == before


def test_read_only_store_refuses_writes(store: tuple[Path, str]) -> None:
    folder, run_id = store
    ro = ReadOnlyRunStore(store_file(folder))
    try:
        assert ro.get_run(run_id)["status"] == "finished"
        with pytest.raises(sqlite3.OperationalError, match=r"readonly|read-only|query_only"):
            ro.conn.execute("DELETE FROM runs")
    finally:
        ro.close()


def test_the_browser_holds_the_rows_of_its_last_runs_only_and_every_summary(tmp_path: Path) -> None:
    """A store of many large runs must not end up in the browser's memory: the run list needs
    summaries only, and run pages keep the rows of the last RUNS_HELD runs opened."""
    from medsafe.api import evaluate
    from medsafe.engine import RunConfig
    from medsafe.report.view import RUNS_HELD, RunCache

    prompts = tmp_path / "p.jsonl"
    prompts.write_text("".join(json.dumps({"id": f"q{i}", "principle": i % 9 + 1,
                                           "request": f"question {i}"}) + "\n" for i in range(9)))
    ids = [evaluate(RunConfig(targets=["mock:refuse"], suites=[f"jsonl:{prompts}"],
                              judge="mock:refusal", limit=n), store=tmp_path / "store",
                    out_dir=tmp_path / f"out{n}").run_id for n in (3, 4, 5)]
    cache = RunCache(store_file(tmp_path / "store"))
    summaries = {run_id: cache.summary(run_id) for run_id in ids}
    assert not cache.runs  # the run list read no rows
    for run_id in ids:
        data = cache.run(run_id)
        assert data.summary == summaries[run_id] and len(data.rows) == [3, 4, 5][ids.index(run_id)]
        cache.report(run_id)
    assert RUNS_HELD == 2 and list(cache.runs) == ids[1:]
    assert set(cache.reports) <= set(cache.runs) and set(cache.summaries) == set(ids)
    cache.run(ids[1])  # opening a held run again makes it the newest
    cache.run(ids[0])
    assert list(cache.runs) == [ids[1], ids[0]]
    cache.forget(ids[0])
    assert ids[0] not in cache.runs and ids[0] not in cache.summaries
