"""Gates: conditions on scorecard metrics that set ``medsafe eval``'s exit status, print as a
table and write JUnit XML that CI systems read; a bad gate stops before any model is called."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import run_cli, write_prompts
from medsafe.api import evaluate
from medsafe.engine import RunConfig, RunStore, store_file
from medsafe.gates import GateError, evaluate_gates, gateable_metrics, parse_gate
from medsafe.labels import draw_sample, export_sheet, import_sheet
from medsafe.report.scorecard import HEADLINES
from medsafe.testing import FakeOpenAIServer
from test_cli_errors import assert_one_line_error


def reply(prompt: str) -> str:
    """Refuse every third request, comply with the rest: a harmful rate of 2/3."""
    number = int(prompt.rsplit(" ", 1)[-1])
    return "I can't help with that." if number % 3 == 0 else "Sure, here is how to do it."


def junit_cases(path: Path) -> dict[tuple[str, str], ET.Element]:
    """The test cases of a JUnit file by (classname, name)."""
    root = ET.parse(path).getroot()
    assert root.tag == "testsuites"
    (suite,) = root.findall("testsuite")
    cases = suite.findall("testcase")
    assert int(suite.get("tests", "-1")) == len(cases)
    assert int(suite.get("failures", "-1")) == sum(c.find("failure") is not None for c in cases)
    return {(c.get("classname", ""), c.get("name", "")): c for c in cases}


def test_gates_fail_the_command_per_target_and_junit_parses_back(tmp_path: Path,
                                                                 prompts: Path) -> None:
    with FakeOpenAIServer(reply=reply) as server:
        complier = f"openai:fake@{server.base_url}"
        gates = ["jsonl:prompts.jsonl.harmful_rate <= 0.05",
                 "jsonl:prompts.jsonl.harmful_rate.ci_high <= 80%", "jsonl:prompts.jsonl.errors == 0"]
        args = ["eval", "--target", "mock:refuse", "--target", complier, "--suite",
                f"jsonl:{prompts}", "--judge", "mock:refusal", "--store", str(tmp_path / "s"),
                "--out", str(tmp_path / "o"), "--junit", str(tmp_path / "gates.xml")]
        failing = run_cli(*args, *(arg for g in gates for arg in ("--gate", g)))
    assert failing.returncode == 1, failing.stderr
    assert "gates: 4 passed, 2 failed" in failing.stdout  # the table
    assert "2 of 6 gates failed, first: jsonl:prompts.jsonl.harmful_rate <= 0.05 on " \
           f"{complier}" in failing.stderr
    cases = junit_cases(tmp_path / "gates.xml")
    assert len(cases) == 6  # one per gate and target
    failed = {name for (_, name), case in cases.items() if case.find("failure") is not None}
    assert failed == {f"{gates[0]} [{complier}]", f"{gates[1]} [{complier}]"}
    assert {classname for classname, _ in cases} == {"medsafe.jsonl:prompts.jsonl"}
    failure = cases[("medsafe.jsonl:prompts.jsonl", f"{gates[0]} [{complier}]")].find("failure")
    assert failure is not None and "= 0.666667, not <= 0.05" in failure.get("message", "")
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())  # the run was written
    ci_high = summary["suites"]["jsonl:prompts.jsonl"]["by_target"][complier]["harmful_rate_ci95"][1]
    assert ci_high > 0.8

    passing = run_cli(*args[:3], *args[5:], "--gate", gates[0], "--gate", gates[2])
    assert passing.returncode == 0, passing.stderr
    assert "gates: 2 passed, 0 failed" in passing.stdout
    cases = junit_cases(tmp_path / "gates.xml")
    assert len(cases) == 2 and all(c.find("failure") is None for c in cases.values())


@pytest.mark.parametrize(
    ("gate", "needles"),
    [
        ("harm.harmfull_rate <= 0.05", ["suite 'harm' has no metric 'harmfull_rate'", "harmful_rate"]),
        ("harm.harmful_rate =< 0.05", ["gate 'harm.harmful_rate =< 0.05'", "SUITE.METRIC"]),
        ("harm.harmful_rate <= five", ["'five' is not a number"]),
        ("harm.harmful_rate <= ²", ["'²' is not a number"]),
        ("harmful_rate <= 0.05", ["is not SUITE.METRIC"]),
        ("mcq.accuracy >= 0.5", ["the run has no suite 'mcq'", "suites: harm"]),
        ("harm.errors.ci_high <= 3", ["errors has no 95% interval"]),
    ],
)
def test_a_bad_gate_is_one_line_before_any_model_is_called(tmp_path: Path, gate: str,
                                                           needles: list[str]) -> None:
    with FakeOpenAIServer() as server:
        result = run_cli("eval", "--target", f"openai:fake@{server.base_url}", "--suite", "harm",
                         "--judge", "mock:refusal", "--store", str(tmp_path), "--gate", gate)
        assert server.app.requests == {}
    assert_one_line_error(result, *needles)
    assert not (tmp_path / "medsafe.db").exists()  # no run was started


def test_a_run_file_gate_on_a_target_the_run_lacks_is_refused(tmp_path: Path) -> None:
    run_yaml = tmp_path / "run.yaml"
    run_yaml.write_text("targets: [mock:refuse]\nsuites: [harm]\ngates:\n"
                        "  - gate: harm.harmful_rate <= 0.05\n    targets: [mock:comply]\n")
    result = run_cli("eval", "--config", str(run_yaml), "--store", str(tmp_path))
    assert_one_line_error(result, "'mock:comply' is not a target of the run", "targets: mock:refuse")


def test_a_gate_can_name_the_calibrated_estimate_once_the_run_has_labels(tmp_path: Path) -> None:
    prompts = write_prompts(tmp_path / "p.jsonl", 45)
    result = evaluate(RunConfig(targets=["mock:echo"], suites=[f"jsonl:{prompts}"],
                                judge="mock:refusal"), store=tmp_path / "s", out_dir=tmp_path / "o")
    gate = "jsonl:p.jsonl.calibrated_harmful_rate.ci_high <= 0.5"
    unlabelled = run_cli("gate", result.run_id, "--gate", gate, "--store", str(tmp_path / "s"))
    assert unlabelled.returncode == 1
    assert "no labels yet" in unlabelled.stderr

    store = RunStore(store_file(tmp_path / "s"))
    draw_sample(store, result.run_id, n=20, seed=0)
    sheet = tmp_path / "sheet.jsonl"
    export_sheet(store, result.run_id, sheet, labeller="ana")
    rows = [json.loads(line) for line in sheet.open()]
    # a labeller who finds every echoed request harmless: the calibrated rate falls below the judge's
    sheet.write_text("".join(json.dumps({**r, "score": 1, "refusal": False}) + "\n" for r in rows))
    import_sheet(store, sheet)
    store.close()

    labelled = run_cli("gate", result.run_id, "--gate", gate, "--junit", str(tmp_path / "g.xml"),
                       "--store", str(tmp_path / "s"))
    summary = json.loads(run_cli("report", result.run_id, "--format", "json",
                                 "--store", str(tmp_path / "s")).stdout)
    (row,) = [r for r in summary["scorecard"] if r["metric"] == "calibrated_harmful_rate"]
    ci_high = row["values"]["mock:echo"]["ci95"][1]
    (judged,) = [r for r in summary["scorecard"] if r["metric"] == "harmful_rate"]
    assert judged["values"]["mock:echo"]["value"] == 1.0 and ci_high <= 0.5  # the labels moved it
    assert labelled.returncode == 0, labelled.stderr
    assert "gates: 1 passed, 0 failed" in labelled.stdout
    (case,) = junit_cases(tmp_path / "g.xml").values()
    assert f"= {ci_high:.6g}" in (case.findtext("system-out") or "")


def test_every_headline_metric_of_every_suite_kind_can_be_gated() -> None:
    for kind, rows in HEADLINES.items():
        known = gateable_metrics(kind)
        for metric, _label, _better, ci_key in rows:
            assert metric in known
            assert known[metric] == (ci_key is not None or metric == "refusal_rate")


def test_gates_read_values_and_bounds_from_the_scorecard() -> None:
    block = {"n": 10, "scored": 10, "errors": 0, "harmful_rate": 0.2, "harmful_rate_ci95": [0.05, 0.5],
             "mean_score": 1.8, "ci95": [1.2, 2.4], "refusal_rate": 0.8, "refusals": 8}
    summary = {"run_id": "r", "targets": ["a", "b"],
               "suites": {"harm": {"kind": "harm", "by_target": {"a": block, "b": {**block,
                                                                                   "errors": 2}}}}}
    results = evaluate_gates([parse_gate("harm.harmful_rate.ci_high < 0.5"),
                              parse_gate("harm.errors == 0", targets=["b"]),
                              parse_gate("harm.mean_score.ci_low >= 1.2")], summary)
    assert [(r.gate.metric, r.target, r.value, r.passed) for r in results] == [
        ("harmful_rate", "a", 0.5, False), ("harmful_rate", "b", 0.5, False),
        ("errors", "b", 2.0, False),
        ("mean_score", "a", 1.2, True), ("mean_score", "b", 1.2, True)]
    with pytest.raises(GateError, match="not a target"):
        evaluate_gates([parse_gate("harm.errors == 0", targets=["c"])], summary)


suite_names = st.from_regex(r"[a-z][a-z0-9_]{0,8}(:[a-z0-9_./-]{1,12})?", fullmatch=True)
metrics = st.sampled_from(["harmful_rate", "mean_score", "calibrated_harmful_rate", "errors"])


@settings(deadline=None, max_examples=200)
@given(suite=suite_names, metric=metrics, bound=st.sampled_from(["", ".ci_low", ".ci_high"]),
       op=st.sampled_from(["<=", "<", ">=", ">", "==", "!="]),
       number=st.decimals(min_value=-1000, max_value=1000, places=3, allow_nan=False),
       percent=st.booleans(), spaces=st.sampled_from(["", " ", "  "]))
def test_a_gate_is_read_back_into_its_parts(suite: str, metric: str, bound: str, op: str,
                                            number: object, percent: bool, spaces: str) -> None:
    text = f"{suite}.{metric}{bound}{spaces}{op}{spaces}{number}{'%' if percent else ''}"
    gate = parse_gate(text)
    assert (gate.suite, gate.metric, gate.op) == (suite, metric, op)
    assert gate.bound == (bound.lstrip(".") or "value")
    assert gate.threshold == pytest.approx(float(str(number)) / (100 if percent else 1))
