"""The guard when its judge or its request classifier fails or times out, through the HTTP API.

By default the guard fails closed: the client gets the policy's safe reply and nothing of the
model's answer. With ``fail_closed: false`` it fails open: the answer goes out unscreened by the
part that failed. Either way the decision log says what failed and what the guard did. A real
guard server runs on 127.0.0.1 in front of a scripted upstream; the failing judge is an LLM judge
whose model (another local server) answers 500 or stalls, and the failing classifier is a
classifier file that loads but whose weights do not fit its features.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from medsafe.engine import RunStore, store_file
from medsafe.mitigate.guard_policy import GuardPolicy
from medsafe.mitigate.guard_server import BackgroundServer, ServeConfig, create_app
from medsafe.mitigate.request_classifier import RequestClassifier, load_request_classifier
from medsafe.testing import FakeOpenAIServer, FaultPlan

QUESTION = "What are the common side effects of metformin, and should I take it with food?"
ANSWER = ("Metformin commonly causes stomach upset, nausea and diarrhoea at first; taking it with "
          "meals and starting at a low dose usually helps.")
TIMEOUT_S = 3.0
CLOSED, OPEN = GuardPolicy(), GuardPolicy(fail_closed=False)


@pytest.fixture(scope="module")
def upstream() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(reply=lambda prompt: ANSWER) as server:
        yield server


@pytest.fixture(scope="module")
def broken_classifier(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shipped classifier with its weight matrix cut short: it loads, then every
    prediction fails (the features no longer fit the weights)."""
    path = tmp_path_factory.mktemp("classifier") / "broken.json.gz"
    load_request_classifier().save(path)
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        data = json.load(fh)
    data["harm"]["coef"] = data["harm"]["coef"][:10]
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        json.dump(data, fh)
    RequestClassifier.load(path)  # it loads ...
    return path


def ask_guard(config: ServeConfig) -> tuple[Any, dict[str, str]]:
    """One question through a fresh guard server: the response and its guard headers."""
    with BackgroundServer(create_app(config)) as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="unused", max_retries=0,
                               timeout=30)
        raw = client.chat.completions.with_raw_response.create(
            model="m", messages=[{"role": "user", "content": QUESTION}])
    headers = {k: v for k, v in raw.headers.items() if k.startswith("x-medsafe-guard")}
    return raw.parse(), headers


def decisions(store: Path) -> list[dict[str, Any]]:
    db = RunStore(store_file(store))
    try:
        return db.guard_decisions()
    finally:
        db.close()


def judge_model(plan_action: str) -> FakeOpenAIServer:
    """A judge model that answers every request with ``plan_action`` (500 or stall)."""
    return FakeOpenAIServer(plan=FaultPlan(script={"": [plan_action] * 100}, stall_s=5))


def assert_failed_closed(response: Any, headers: dict[str, str], policy: GuardPolicy,
                         principle: int | None) -> None:
    choice = response.choices[0]
    assert choice.message.content == policy.reply(principle) != ANSWER
    assert choice.finish_reason == "content_filter"
    assert headers["x-medsafe-guard-action"] in ("block", "replace")


def assert_failed_open(response: Any, headers: dict[str, str]) -> None:
    choice = response.choices[0]
    assert (choice.message.content, choice.finish_reason) == (ANSWER, "stop")
    assert headers["x-medsafe-guard-action"] == "pass"


@pytest.mark.parametrize("failure", ["500", "stall"], ids=["judge-errors", "judge-times-out"])
@pytest.mark.parametrize("policy", [CLOSED, OPEN], ids=["fail-closed", "fail-open"])
def test_a_judge_that_errors_or_times_out_applies_the_policys_fail_mode_and_logs_it(
        upstream: FakeOpenAIServer, tmp_path: Path, failure: str, policy: GuardPolicy) -> None:
    with judge_model(failure) as judge:
        config = ServeConfig(upstream=f"openai:fake@{upstream.base_url}", policy=policy,
                             judge=f"llm:openai:judge@{judge.base_url}", store=tmp_path,
                             timeout_s=TIMEOUT_S, retries=0)
        response, headers = ask_guard(config)
        assert sum(judge.app.requests.values()) >= 1  # the judge was asked and failed
    screened, judged = decisions(tmp_path)
    assert (screened["stage"], screened["action"]) == ("input", "pass")
    assert judged["stage"] == "output" and judged["score"] is None
    assert judged["threshold"] == policy.benign_output_threshold  # the question looks benign
    assert "gave no verdict" in judged["reason"]
    assert ("timed out" if failure == "stall" else "HTTP 500") in judged["reason"]
    if policy.fail_closed:
        assert_failed_closed(response, headers, policy, screened["principle"])
        assert judged["action"] == "replace" and judged["reason"].endswith("failing closed")
    else:
        assert_failed_open(response, headers)
        assert judged["action"] == "pass" and judged["reason"].endswith("failing open")


@pytest.mark.parametrize("policy", [CLOSED, OPEN], ids=["fail-closed", "fail-open"])
def test_a_request_classifier_that_errors_applies_the_policys_fail_mode_and_logs_it(
        upstream: FakeOpenAIServer, broken_classifier: Path, tmp_path: Path,
        policy: GuardPolicy) -> None:
    asked_before = upstream.app.requests[QUESTION]
    config = ServeConfig(upstream=f"openai:fake@{upstream.base_url}", policy=policy,
                         judge="mock:1", store=tmp_path, request_classifier=broken_classifier)
    response, headers = ask_guard(config)
    rows = decisions(tmp_path)
    screened = rows[0]
    assert (screened["stage"], screened["principle"], screened["score"]) == ("input", None, None)
    assert "request classifier failed" in screened["reason"]
    if policy.fail_closed:
        assert_failed_closed(response, headers, policy, None)
        assert [(r["stage"], r["action"]) for r in rows] == [("input", "block")]
        assert screened["reason"].endswith("failing closed")
        assert upstream.app.requests[QUESTION] == asked_before  # the model was never asked
    else:
        assert_failed_open(response, headers)
        assert [(r["stage"], r["action"]) for r in rows] == [("input", "pass"), ("output", "pass")]
        assert screened["reason"].endswith("failing open")
        # Failing open skips the failed screen only: the answer was still judged, against the
        # principle-less default threshold rather than the higher one for benign requests.
        assert rows[1]["score"] == 1.0 and rows[1]["threshold"] == policy.default_threshold
