"""Run files: ``medsafe eval --config run.yaml`` validated key by key, options laid over the file,
``--print-config`` printing the effective file, and the run's metadata keeping it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from conftest import run_cli, write_prompts
from medsafe.runfile import QUICK_LIMIT, RunFile, effective_run_file, run_config
from medsafe.testing import FakeOpenAIServer
from test_cli_errors import assert_one_line_error


def test_a_run_file_round_trips_through_print_config_and_the_run_keeps_it(tmp_path: Path) -> None:
    first = write_prompts(tmp_path / "first.jsonl", 18)
    second = write_prompts(tmp_path / "second.jsonl", 18, prefix="question")
    with FakeOpenAIServer() as server:
        run_yaml = tmp_path / "run.yaml"
        run_yaml.write_text(f"""\
# a checked-in run
targets: ["openai:fake@{server.base_url}"]
suites:
  - jsonl:{first}
  - suite: jsonl:{second}
    limit: 4
limit: 9
judge: mock:refusal
generation:
  max_tokens: 64
concurrency: 4
store: {tmp_path / "store"}
out: {tmp_path / "out"}
gates:
  - jsonl:first.jsonl.refusal_rate <= 1
""")
        printed = run_cli("eval", "--config", str(run_yaml), "--print-config")
        assert printed.returncode == 0, printed.stderr
        effective = yaml.safe_load(printed.stdout)
        assert effective["suites"] == [f"jsonl:{first}", {"suite": f"jsonl:{second}", "limit": 4}]
        assert (effective["limit"], effective["judge"], effective["concurrency"]) == (9, "mock:refusal", 4)
        assert effective["generation"] == {"max_tokens": 64, "temperature": 0.0, "top_p": 1.0}
        assert effective["gates"] == ["jsonl:first.jsonl.refusal_rate <= 1"]
        assert server.app.requests == {}  # printing runs nothing
        # the printed file is itself a run file that prints the same
        again = tmp_path / "effective.yaml"
        again.write_text(printed.stdout)
        reprinted = run_cli("eval", "--config", str(again), "--print-config")
        assert reprinted.stdout == printed.stdout

        done = run_cli("eval", "--config", str(again))
        assert done.returncode == 0, done.stderr
        assert server.app.last_body is not None and server.app.last_body["max_tokens"] == 64
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["meta"]["run_file"] == effective
    assert summary["suites"]["jsonl:first.jsonl"]["n"] == 9
    assert summary["suites"]["jsonl:second.jsonl"]["n"] == 4
    assert "gates: 1 passed, 0 failed" in done.stdout


def test_options_override_the_run_files_keys(tmp_path: Path) -> None:
    run_yaml = tmp_path / "run.yaml"
    run_yaml.write_text("targets: [mock:refuse]\nsuites: [harm, mcq]\nlimit: 9\njudge: mock:1\n"
                        "generation: {max_tokens: 64, temperature: 0.5}\n"
                        "gates: [harm.harmful_rate <= 0.05]\n")
    printed = run_cli("eval", "-c", str(run_yaml), "--print-config", "--judge", "mock:refusal",
                      "--limit", "3", "--limit", "mcq=5", "--max-tokens", "10", "--target",
                      "mock:comply", "--gate", "harm.mean_score < 2")
    assert printed.returncode == 0, printed.stderr
    effective = yaml.safe_load(printed.stdout)
    assert effective["targets"] == ["mock:comply"]
    assert effective["suites"] == ["harm", {"suite": "mcq", "limit": 5}]
    assert (effective["limit"], effective["judge"]) == (3, "mock:refusal")
    assert effective["generation"] == {"max_tokens": 10, "temperature": 0.5, "top_p": 1.0}
    assert effective["gates"] == ["harm.mean_score < 2"]


def test_without_a_file_the_effective_run_is_the_quick_default() -> None:
    quick = effective_run_file(None, {})
    assert quick.limit == QUICK_LIMIT and [s.suite for s in quick.suites] == ["harm"]
    assert effective_run_file(None, {"suites": ["mcq"]}).limit is None  # a suite given: all
    # the CLI's defaults and the file's are the same run (same identity in the store)
    assert run_config(quick) == run_config(RunFile.model_validate(yaml.safe_load(quick.as_yaml())))


@pytest.mark.parametrize(
    ("content", "needles"),
    [
        ("targets: [mock:refuse]\njduge: mock:1\n", ["run.yaml:2", "field 'jduge'", "unknown key",
                                                      "judge"]),
        ("generation:\n  max_tokens: 10\n  temprature: 0.2\n",
         ["run.yaml:3", "field 'generation.temprature'", "unknown key", "temperature"]),
        ("suites:\n  - harm\n  - suite: mcq\n    limt: 3\n",
         ["run.yaml:4", "field 'suites.1.limt'", "known: suite, limit"]),
        ("limit: lots\n", ["run.yaml:1", "field 'limit'", "valid integer", "'lots'"]),
        ("judge: mock:1\nsuites: harm\n", ["run.yaml:2", "field 'suites'", "valid list"]),
        ("judge: mock:1\nlimit: 3\nlimit: 4\n", ["run.yaml:3", "field 'limit'", "given twice"]),
        ("targets: [mock:refuse\n", ["run.yaml:2", "invalid YAML"]),
        ("- harm\n- mcq\n", ["run.yaml:1", "a run file is a mapping"]),
        ("gates:\n  - harm.harmful_rate <= 0.05\n  - harm.harmful_rate =< 0.05\n",
         ["run.yaml:3", "field 'gates.1.gate'", "gate 'harm.harmful_rate =< 0.05'", "SUITE.METRIC"]),
        ("backend: spark\n", ["run.yaml:1", "unknown backend 'spark'"]),
    ],
)
def test_a_mistake_in_a_run_file_is_one_line_naming_file_line_and_key(
        tmp_path: Path, content: str, needles: list[str]) -> None:
    run_yaml = tmp_path / "run.yaml"
    run_yaml.write_text(content)
    with FakeOpenAIServer() as server:
        # the file names a target on the local server: a mistake must stop before any request
        result = run_cli("eval", "--config", str(run_yaml), "--target",
                         f"openai:fake@{server.base_url}", "--store", str(tmp_path / "s"))
        assert server.app.requests == {}
    assert_one_line_error(result, *needles)


def test_a_missing_run_file_and_an_option_out_of_range_are_named(tmp_path: Path) -> None:
    missing = run_cli("eval", "--config", str(tmp_path / "absent.yaml"))
    assert_one_line_error(missing, "cannot read run file", "absent.yaml")
    run_yaml = tmp_path / "run.yaml"
    run_yaml.write_text("concurrency: 4\n")
    zero = run_cli("eval", "--config", str(run_yaml), "--concurrency", "0", "--print-config")
    assert_one_line_error(zero, "--concurrency", "greater than or equal to 1")
    both = run_cli("eval", "--config", str(run_yaml), "--resume", "some-run")
    assert_one_line_error(both, "--resume", "drop --config")
