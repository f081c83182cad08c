"""The OpenAI-compatible target under 429s, 500s, stalls, dropped connections and bad bodies."""

from __future__ import annotations

import asyncio
import email.utils
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from conftest import write_prompts
from medsafe.api import evaluate
from medsafe.engine import RunConfig, RunStore, store_file
from medsafe.targets import GenerationParams, TargetOptions, resolve_target
from medsafe.targets.openai import parse_retry_after
from medsafe.testing import FakeOpenAIServer, FaultPlan

SCRIPT = {
    "number 0": ["429", "429"],
    "number 1": ["500", "503"],
    "number 2": ["stall"],
    "number 3": ["malformed", "truncated"],
    "number 4": ["drop"],
    "number 5": ["500"] * 10,  # never succeeds within the retry budget
    "number 6": ["empty"],
}


def test_faults_are_retried_recorded_and_nothing_is_lost(tmp_path: Path) -> None:
    prompts = write_prompts(tmp_path / "p.jsonl", 9)
    plan = FaultPlan(script=SCRIPT, retry_after_s=0.3, stall_s=3.0)
    with FakeOpenAIServer(plan=plan) as server:
        config = RunConfig(
            targets=[f"openai:fake@{server.base_url}"], suites=[f"jsonl:{prompts}"],
            judge="mock:refusal",
            target_options=TargetOptions(timeout_s=1.0, max_retries=3, backoff_base_s=0.05,
                                         backoff_max_s=1.0),
        )
        result = evaluate(config, store=tmp_path / "s")
        requests = dict(server.app.requests)

    suite = result.summary["suites"]["jsonl:p.jsonl"]
    assert suite["n"] == 9
    assert suite["generation_errors"] == 1 and suite["errors"] == 1
    assert suite["scored"] == 8
    # Each faulty prompt was asked once per fault plus the successful try; the hopeless one
    # exhausted 1 + 3 retries.
    assert requests["request number 0"] == 3
    assert requests["request number 1"] == 3
    assert requests["request number 2"] == 2
    assert requests["request number 3"] == 3
    assert requests["request number 4"] == 2
    assert requests["request number 5"] == 4
    assert requests["request number 6"] == 1
    store = RunStore(store_file(tmp_path / "s"))
    attempts = store.attempts(result.run_id)
    items = {i["sample_id"]: i for i in store.items(result.run_id)}
    store.close()
    errors_by_sample: dict[str, list[str]] = {}
    for a in attempts:
        errors_by_sample.setdefault(a["sample_id"], []).append(a["error"])
    assert [e.split(":")[0] for e in errors_by_sample["s000"]] == ["HTTP 429", "HTTP 429"]
    assert "timed out" in errors_by_sample["s002"][0]
    assert "malformed" in errors_by_sample["s003"][0]
    assert "connection error" in errors_by_sample["s004"][0]
    assert len(errors_by_sample["s005"]) == 4
    assert items["s005"]["gen_error"].startswith("HTTP 500")
    assert items["s005"]["response_key"] is None
    assert items["s006"]["response"] == ""  # an empty answer is an answer, stored verbatim
    assert all(items[f"s00{i}"]["score"] is not None for i in (0, 1, 2, 3, 4, 6, 7, 8))


def test_retry_after_sets_the_floor_of_the_wait() -> None:
    plan = FaultPlan(script={"slow": ["429"]}, retry_after_s=0.8)
    with FakeOpenAIServer(plan=plan) as server:
        target = resolve_target(f"openai:fake@{server.base_url}",
                                TargetOptions(backoff_base_s=0.01, backoff_max_s=5))

        async def go() -> float:
            from medsafe.samples import Message
            from medsafe.targets import generate_with_retries

            start = time.perf_counter()
            await generate_with_retries(target, (Message(role="user", content="slow"),),
                                        GenerationParams())
            await target.aclose()
            return time.perf_counter() - start

        assert asyncio.run(go()) >= 0.8


def test_retry_after_accepts_seconds_and_http_dates() -> None:
    assert parse_retry_after("2") == 2.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    assert 0 <= parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") <= 0.0 + 1e-9


@pytest.fixture
def new_york_clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """This process's local time zone set to UTC-5/-4 (HTTP dates are in GMT whatever it is)."""
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.parametrize("style", ["imf-fixdate", "asctime", "rfc850"])
def test_retry_after_as_a_future_http_date_is_the_seconds_until_then(
        new_york_clock: None, style: str) -> None:
    # An HTTP date names a moment in GMT in all three formats RFC 9110 says to accept; the two
    # obsolete ones carry no zone or the word GMT, and must not be read as local time.
    when = datetime.fromtimestamp(time.time() + 600, tz=UTC)
    header = {"imf-fixdate": email.utils.format_datetime(when, usegmt=True),
              "asctime": when.strftime("%a %b %d %H:%M:%S %Y"),
              "rfc850": when.strftime("%A, %d-%b-%y %H:%M:%S GMT")}[style]
    assert 590 <= parse_retry_after(header) <= 600
