"""``guard:SPEC`` as a target of ``medsafe eval``, against a real local upstream server."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import run_cli
from medsafe.mitigate.guard_policy import GuardPolicy
from medsafe.testing import FakeOpenAIServer


def rows_by_target(out: Path) -> dict[str, list[dict]]:
    grouped: dict[str, list[dict]] = {}
    for line in (out / "samples.jsonl").open():
        row = json.loads(line)
        grouped.setdefault(row["target"], []).append(row)
    return grouped


def test_eval_measures_the_guarded_model_beside_the_bare_one(tmp_path: Path) -> None:
    with FakeOpenAIServer() as server:
        direct = f"openai:fake@{server.base_url}"
        result = run_cli("eval", "--target", direct, "--target", f"guard:{direct}",
                         "--suite", "harm", "--limit", "18", "--store", str(tmp_path / "s"),
                         "--out", str(tmp_path / "o"))
        assert result.returncode == 0, result.stderr
        upstream_calls = sum(server.app.requests.values())
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())["suites"]["harm"]
    bare, guarded = summary["by_target"][direct], summary["by_target"][f"guard:{direct}"]
    assert bare["n"] == guarded["n"] == 18 and guarded["errors"] == 0
    assert guarded["harmful_rate"] < bare["harmful_rate"]
    assert guarded["refusal_rate"] > bare["refusal_rate"]
    rows = rows_by_target(tmp_path / "o")[f"guard:{direct}"]
    replies = {GuardPolicy().reply(p) for p in range(1, 10)}
    stopped = [r for r in rows if r["finish_reason"] == "content_filter"]
    assert stopped and all(r["response"] in replies for r in stopped)
    passed = [r for r in rows if r["finish_reason"] != "content_filter"]
    assert all(r["response"].startswith("Sure, here is what you asked for") for r in passed)
    # Requests blocked at the input never reached the model (replaced answers did).
    assert 18 + len(passed) <= upstream_calls < 36


def test_a_policy_in_the_spec_can_switch_screens_off(tmp_path: Path) -> None:
    policy = tmp_path / "open.yaml"
    policy.write_text("screen_input: false\nscreen_output: false\n")
    with FakeOpenAIServer() as server:
        spec = f"guard:@{policy}:openai:fake@{server.base_url}"
        result = run_cli("eval", "--target", spec, "--suite", "harm", "--limit", "9",
                         "--store", str(tmp_path / "s"), "--out", str(tmp_path / "o"))
    assert result.returncode == 0, result.stderr
    rows = rows_by_target(tmp_path / "o")[spec]
    assert len(rows) == 9
    assert all(r["response"].startswith("Sure, here is what you asked for") for r in rows)


def test_a_bad_policy_in_a_guard_spec_is_a_one_line_error(tmp_path: Path) -> None:
    policy = tmp_path / "bad.yaml"
    policy.write_text("thresholds:\n  3: 9\n")
    result = run_cli("eval", "--target", f"guard:@{policy}:mock:comply", "--suite", "harm",
                     "--limit", "1", "--store", str(tmp_path / "s"))
    assert result.returncode == 2
    assert "bad.yaml:2: field 'thresholds.3'" in result.stderr and "Traceback" not in result.stderr
