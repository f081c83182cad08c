"""The labelling page of `medsafe view`, served by a real uvicorn on 127.0.0.1: blind queue,
validated writes, the run list's labelling progress, and keyboard labelling in headless Chromium."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from conftest import write_prompts
from medsafe.api import evaluate
from medsafe.engine import RunConfig, RunStore, store_file
from medsafe.labels import draw_sample
from medsafe.report.view import running_view
from medsafe.testing.browser import chromium_paths

VERDICT_MARKS = ("refusal detector", "mock:refusal")  # the mock judge's rationale and name


def _run(tmp_path: Path, n_draw: int = 8) -> tuple[Path, str]:
    prompts = write_prompts(tmp_path / "p.jsonl", 20)
    result = evaluate(RunConfig(targets=["mock:echo"], suites=[f"jsonl:{prompts}"],
                                judge="mock:refusal"), store=tmp_path / "store",
                      out_dir=tmp_path / "out")
    store = RunStore(store_file(tmp_path / "store"))
    draw_sample(store, result.run_id, n=n_draw, seed=2)
    store.close()
    return tmp_path / "store", result.run_id


async def _call(base: str, calls: list[tuple[str, str, Any]]) -> list[tuple[int, str, Any]]:
    """Each call's status, text and headers; a body given as a string goes as text/plain (what a
    cross-site form may send without a preflight)."""
    async with aiohttp.ClientSession() as session:
        out = []
        for method, path, body in calls:
            kwargs: dict[str, Any] = ({"data": body, "headers": {"Content-Type": "text/plain"}}
                                      if isinstance(body, str) else {"json": body})
            async with session.request(method, base + path, **kwargs) as resp:
                out.append((resp.status, await resp.text(), resp.headers))
        return out


def test_queue_is_blind_and_writes_are_validated(tmp_path: Path) -> None:
    folder, run_id = _run(tmp_path)
    store = RunStore(store_file(folder))
    drawn = store.label_sample(run_id)
    # another labeller's label must not reach this labeller's queue
    store.save_labels(run_id, [{**{k: drawn[0][k] for k in ("target", "suite", "sample_id")},
                                "labeller": "other", "score": 5, "refusal": False}])
    outside = next(i for i in store.items(run_id)
                   if i["sample_id"] not in {d["sample_id"] for d in drawn})
    store.close()
    key = {k: drawn[1][k] for k in ("target", "suite", "sample_id")}
    with running_view(folder) as base:
        (queue, page, bad_score, extra, not_drawn, plain_text, good, again, index,
         summary) = asyncio.run(_call(base, [
                ("GET", f"/api/runs/{run_id}/label/queue?labeller=ana", None),
                ("GET", f"/runs/{run_id}/label", None),
                ("POST", f"/api/runs/{run_id}/labels", {**key, "labeller": "ana", "score": 7,
                                                        "refusal": False}),
                ("POST", f"/api/runs/{run_id}/labels", {**key, "labeller": "ana", "score": 2,
                                                        "refusal": False, "judge_score": 1}),
                ("POST", f"/api/runs/{run_id}/labels", {
                    "target": outside["target"], "suite": outside["suite"],
                    "sample_id": outside["sample_id"], "labeller": "ana", "score": 2,
                    "refusal": False}),
                ("POST", f"/api/runs/{run_id}/labels", json.dumps(
                    {**key, "labeller": "ana", "score": 3, "refusal": False})),
                ("POST", f"/api/runs/{run_id}/labels", {**key, "labeller": "ana", "score": 2,
                                                        "refusal": True}),
                ("GET", f"/api/runs/{run_id}/label/queue?labeller=ana", None),
                ("GET", "/", None),
                ("GET", f"/api/runs/{run_id}/summary", None),
            ]))
    data = json.loads(queue[1])
    assert len(data["items"]) == 8
    assert set(data["items"][0]) == {"target", "suite", "sample_id", "principle", "messages",
                                     "response", "mine"}
    assert all(item["mine"] is None for item in data["items"])  # "other"'s label is not shown
    for mark in VERDICT_MARKS:
        assert mark not in queue[1] and mark not in page[1]
    assert "script-src 'self'" in page[2]["Content-Security-Policy"]
    assert bad_score[0] == 422 and extra[0] == 422
    assert (not_drawn[0], "label sample" in not_drawn[1]) == (404, True), not_drawn[1]
    assert plain_text[0] == 422  # a body that is not declared JSON is never read as a label
    assert good[0] == 200 and json.loads(good[1])["labelled_by_you"] == 1
    mine = [i["mine"] for i in json.loads(again[1])["items"] if i["mine"]]
    assert mine == [{"score": 2, "refusal": True}]
    assert "2 of 8 drawn items labelled (ana, other)" in index[1]
    assert "<code>mock:echo</code>" in index[1] and "jsonl:p.jsonl (20)" in index[1]
    assert "harmful" in index[1] or "mean harm score" in index[1]
    calibrated = json.loads(summary[1])["suites"]["jsonl:p.jsonl"]["calibrated"]
    assert calibrated["labelled_items"] == 2 and calibrated["labels"] == 2


@pytest.mark.skipif(chromium_paths() is None, reason="needs chromium and chromedriver")
def test_labelling_five_items_by_keyboard_in_chromium_stores_them_blind(tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    from medsafe.testing.browser import HeadlessChromium

    folder, run_id = _run(tmp_path, n_draw=6)
    keys = [("3", False), ("1", True), ("5", False), ("2", True), ("4", False)]
    with running_view(folder) as base, HeadlessChromium() as browser:
        driver = browser.driver
        driver.get(f"{base}/runs/{run_id}/label")
        name = driver.find_element(By.ID, "labeller")
        name.send_keys("dr-okafor", Keys.ENTER)
        browser.wait_for("document.getElementById('response').textContent.length > 0", 30)
        body = driver.find_element(By.TAG_NAME, "body")
        shown = []
        for k, (score, refusal) in enumerate(keys):
            # before this label is saved, nothing of the judge's verdict is in the page
            source = driver.page_source
            assert all(mark not in source for mark in VERDICT_MARKS)
            shown.append(browser.js("return document.getElementById('request').textContent"))
            body.send_keys(score)
            if refusal:
                body.send_keys("r")
            body.send_keys(Keys.ENTER)
            browser.wait_for(f"document.getElementById('status').textContent.startsWith("
                             f"'saved: {k + 1} of 6')", 30)
        load = browser.collect(f"{base}/runs/{run_id}/label")
        assert load.console_errors == []
        # back goes to the last saved item and shows its label
        body.send_keys("b")
        assert browser.js("return document.getElementById('score-4').classList.contains("
                          "'selected')")
    assert len(set(shown)) == 5  # five different items, in turn
    store = RunStore(store_file(folder))
    labels = {lab["sample_id"]: lab for lab in store.labels(run_id)}
    order = [d["sample_id"] for d in store.label_sample(run_id)][:5]
    store.close()
    assert [(labels[s]["score"], labels[s]["refusal"]) for s in order] == [
        (int(score), refusal) for score, refusal in keys]
    assert {lab["labeller"] for lab in labels.values()} == {"dr-okafor"}
    # every response the page fetched is free of the verdict (fetched again to read the bodies)
    gets = [u for u in load.requests if u.startswith(base)]
    assert any("/label/queue" in u for u in gets)
    with running_view(folder) as again:
        bodies = asyncio.run(_call(again, [("GET", u.replace(base, ""), None) for u in gets
                                           if "/labels" not in u]))
    for status, text, _ in bodies:
        assert status == 200
        assert all(mark not in text for mark in VERDICT_MARKS)
