"""Guard policy files: strict parsing with errors that name file, line and field; guard specs;
the request classifier's public surface; the decision-log migration."""

from __future__ import annotations

import importlib
import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import run_cli
from medsafe.engine import MIGRATIONS, RunStore
from medsafe.errors import InputError, MedsafeError
from medsafe.mitigate.guard_policy import SAFE_REPLIES, GuardPolicy, load_policy, policy_from_data
from medsafe.mitigate.guard_target import parse_guard_spec


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_a_yaml_policy_sets_thresholds_per_principle_and_falls_back_to_the_default(
        tmp_path: Path) -> None:
    policy = load_policy(write(tmp_path / "p.yaml", "default_threshold: 4\nthresholds:\n  3: 2\n"
                               "  7: 2.5\nscreen_output: false\n"))
    assert policy.threshold(3) == 2 and policy.threshold(7) == 2.5
    assert policy.threshold(1) == policy.threshold(None) == 4
    assert policy.screen_input and not policy.screen_output


def test_an_unknown_principle_is_an_error_naming_file_line_and_field(tmp_path: Path) -> None:
    path = write(tmp_path / "p.yaml", "default_threshold: 3\nthresholds:\n  2: 3\n  10: 2\n")
    with pytest.raises(InputError) as err:
        load_policy(path)
    message = str(err.value)
    assert message.startswith(f"{path}:4: field 'thresholds.10'")
    assert "unknown principle" in message and "1-9" in message


@pytest.mark.parametrize("value", ["0.5", "6", "-1", "'high'"])
def test_a_threshold_outside_one_to_five_is_an_error_naming_its_line(tmp_path: Path,
                                                                     value: str) -> None:
    path = write(tmp_path / "p.yaml", f"thresholds:\n  4: {value}\n")
    with pytest.raises(InputError) as err:
        load_policy(path)
    assert str(err.value).startswith(f"{path}:2: field 'thresholds.4'")
    assert "1 to 5" in str(err.value)


def test_a_misspelt_setting_is_rejected_with_the_known_names(tmp_path: Path) -> None:
    path = write(tmp_path / "p.yaml", "screen_inputs: false\n")
    with pytest.raises(InputError) as err:
        load_policy(path)
    assert "p.yaml:1: field 'screen_inputs'" in str(err.value)
    assert "screen_input" in str(err.value).split("known:")[1]


def test_json_policies_are_checked_the_same_way(tmp_path: Path) -> None:
    good = write(tmp_path / "p.json", json.dumps({"thresholds": {"5": 2}}))
    assert load_policy(good).threshold(5) == 2
    bad = write(tmp_path / "q.json", json.dumps({"thresholds": {"fraud": 2}}))
    with pytest.raises(InputError, match=r"q\.json: field 'thresholds\.fraud': unknown principle"):
        load_policy(bad)


def test_broken_yaml_and_missing_files_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"p\.yaml:\d+: invalid YAML"):
        load_policy(write(tmp_path / "p.yaml", "thresholds:\n  3: [2\n"))
    with pytest.raises(MedsafeError, match="cannot read guard policy"):
        load_policy(tmp_path / "absent.yaml")
    with pytest.raises(InputError, match="must be a mapping"):
        load_policy(write(tmp_path / "list.yaml", "- 3\n"))


def test_the_cli_reports_a_bad_policy_in_one_line_with_exit_code_2(tmp_path: Path) -> None:
    path = write(tmp_path / "p.yaml", "thresholds:\n  11: 3\n")
    result = run_cli("guard", "serve", "--upstream", "mock:comply", "--policy", str(path))
    assert result.returncode == 2
    assert "p.yaml:2: field 'thresholds.11'" in result.stderr
    assert "Traceback" not in result.stderr


def test_serve_refuses_to_start_when_the_api_key_variable_is_empty() -> None:
    result = run_cli("guard", "serve", "--upstream", "mock:comply", "--api-key-env",
                     "MEDSAFE_TEST_UNSET_KEY")
    assert result.returncode == 2 and "MEDSAFE_TEST_UNSET_KEY" in result.stderr


@pytest.mark.parametrize(("option", "value"), [("--poll", "101"), ("--poll", "-1"),
                                               ("--threads", "0")])
def test_serve_takes_the_gguf_runtime_options_of_eval_and_rejects_values_out_of_range(
        option: str, value: str) -> None:
    result = run_cli("guard", "serve", "--upstream", "mock:comply", option, value)
    assert result.returncode == 2 and option in result.stderr
    assert "Traceback" not in result.stderr


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(st.integers(1, 9), st.floats(1, 5, allow_nan=False), max_size=9),
       st.floats(1, 5, allow_nan=False))
def test_any_in_range_thresholds_load_and_are_applied(thresholds: dict[int, float],
                                                      default: float) -> None:
    policy = policy_from_data({"thresholds": {str(k): v for k, v in thresholds.items()},
                               "default_threshold": default})
    for principle in range(1, 10):
        assert policy.threshold(principle) == thresholds.get(principle, default)


@settings(max_examples=60, deadline=None)
@given(st.integers().filter(lambda p: not 1 <= p <= 9), st.floats(1, 5, allow_nan=False))
def test_any_principle_outside_one_to_nine_is_rejected(principle: int, value: float) -> None:
    with pytest.raises(InputError, match=f"thresholds.{principle}"):
        policy_from_data({"thresholds": {principle: value}})


def test_safe_replies_decline_and_can_be_overridden_per_principle() -> None:
    from medsafe.judges import is_refusal

    policy = policy_from_data({"safe_replies": {4: "I can't share that. Ask the privacy office."}})
    assert policy.reply(4) == "I can't share that. Ask the privacy office."
    assert policy.reply(3) == SAFE_REPLIES[3]
    assert all(is_refusal(policy.reply(p)) for p in (None, *range(1, 10)))
    assert GuardPolicy().reply(None) == GuardPolicy().safe_reply


@pytest.mark.parametrize(("rest", "policy", "upstream"), [
    ("embedded:smollm2", None, "embedded:smollm2"),
    ("openai:m@http://127.0.0.1:9/v1", None, "openai:m@http://127.0.0.1:9/v1"),
    ("@strict.yaml:mock:comply", Path("strict.yaml"), "mock:comply"),
])
def test_guard_specs_name_an_optional_policy_and_the_upstream(rest: str, policy: Path | None,
                                                              upstream: str) -> None:
    assert parse_guard_spec(rest) == (policy, upstream)


@pytest.mark.parametrize("rest", ["", "@p.yaml", "guard:mock:comply", "@:mock:comply"])
def test_malformed_guard_specs_are_clear_errors(rest: str) -> None:
    with pytest.raises(MedsafeError, match="guard"):
        parse_guard_spec(rest)


def test_mitigate_exports_resolve_without_loading_the_web_stack_at_import() -> None:
    mitigate = importlib.import_module("medsafe.mitigate")
    code = ("import sys, medsafe.mitigate; print([m for m in ('fastapi', 'uvicorn', 'sklearn')"
            " if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    for name in mitigate.__all__:
        assert getattr(mitigate, name) is not None


def test_a_store_from_before_the_guard_gains_the_decision_table(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE schema_migrations (name TEXT PRIMARY KEY, applied_at REAL)")
    for name, sql in MIGRATIONS[:2]:
        for statement in filter(str.strip, sql.split(";")):
            conn.execute(statement)
        conn.execute("INSERT INTO schema_migrations VALUES (?, 0)", (name,))
    conn.commit()
    conn.close()
    store = RunStore(path)
    assert "0003_guard_decisions" in store.applied_migrations()
    store.record_guard_decision({
        "created_at": 5.0, "guard": "guard:x", "request_sha256": "0" * 64, "request_excerpt": "q",
        "stage": "input", "action": "block", "principle": 3, "score": 4.2, "probability": 0.8,
        "threshold": 3.0, "reason": "r", "latency_s": 0.001})
    assert [(r["action"], r["principle"]) for r in store.guard_decisions()] == [("block", 3)]
    store.close()


def test_answers_to_requests_that_look_benign_meet_the_higher_output_threshold() -> None:
    policy = policy_from_data({"thresholds": {2: 2}, "benign_probability": 0.25,
                               "benign_output_threshold": 4.5})
    assert policy.output_threshold(2, harm_probability=0.6) == 2
    assert policy.output_threshold(2, harm_probability=0.1) == 4.5
    strict = policy_from_data({"default_threshold": 5, "benign_output_threshold": 4})
    assert strict.output_threshold(1, harm_probability=0.0) == 5  # never below the principle's


def test_guard_serve_with_an_unreadable_request_classifier_is_a_one_line_error(tmp_path: Path) -> None:
    missing = tmp_path / "retrained.json.gz"
    result = run_cli("guard", "serve", "--upstream", "mock:comply", "--request-classifier",
                     str(missing))
    assert result.returncode == 2
    assert "request classifier" in result.stderr and missing.name in result.stderr
    assert "Traceback" not in result.stderr
