"""User mistakes end in one line naming the problem, exit code 2 and no traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import run_cli


def assert_one_line_error(result, *needles: str) -> None:
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
    assert "Traceback" not in result.stderr
    text = " ".join(lines)
    assert text.startswith("error:")
    for needle in needles:
        assert needle in text


def test_unknown_target_kind_lists_the_known_ones(tmp_path: Path, prompts: Path) -> None:
    result = run_cli("eval", "--target", "nosuch:model", "--suite", f"jsonl:{prompts}",
                     "--judge", "mock:1", "--store", str(tmp_path))
    assert_one_line_error(result, "unknown target kind 'nosuch'", "openai")


def test_unreachable_server_is_named(tmp_path: Path, prompts: Path) -> None:
    result = run_cli("eval", "--target", "openai:m@http://127.0.0.1:9/v1", "--suite",
                     f"jsonl:{prompts}", "--judge", "mock:1", "--store", str(tmp_path))
    assert_one_line_error(result, "cannot reach", "http://127.0.0.1:9/v1")


def test_missing_model_file_is_named(tmp_path: Path, prompts: Path) -> None:
    result = run_cli("eval", "--target", f"gguf:{tmp_path}/absent.gguf", "--suite",
                     f"jsonl:{prompts}", "--judge", "mock:1", "--store", str(tmp_path))
    assert_one_line_error(result, "GGUF model file not found", "absent.gguf")


def test_unknown_judge_is_named(tmp_path: Path, prompts: Path) -> None:
    result = run_cli("eval", "--target", "mock:refuse", "--suite", f"jsonl:{prompts}",
                     "--judge", "oracle:x", "--store", str(tmp_path))
    assert_one_line_error(result, "unknown judge kind 'oracle'")


@pytest.mark.parametrize(
    ("content", "needles"),
    [
        ('{"request": "a"}\n{"request": "b"\n', ["p.jsonl:2", "invalid JSON"]),
        ('{"request": "a"}\n{"text": "b"}\n', ["p.jsonl:2", "field 'request'", "missing"]),
        ('{"request": 5}\n', ["p.jsonl:1", "field 'request'", "expected str"]),
        ("", ["p.jsonl", "empty"]),
        ('{"request": "a", "principle": 12}\n', ["p.jsonl:1", "field 'principle'"]),
        ('["a"]\n', ["p.jsonl:1", "JSON object"]),
    ],
)
def test_malformed_suite_files_name_file_line_and_field(tmp_path: Path, content: str,
                                                        needles: list[str]) -> None:
    path = tmp_path / "p.jsonl"
    path.write_text(content)
    result = run_cli("eval", "--target", "mock:refuse", "--suite", f"jsonl:{path}",
                     "--judge", "mock:1", "--store", str(tmp_path))
    assert_one_line_error(result, *needles)


def test_invalid_utf8_is_named(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    path.write_bytes(b'{"request": "ok"}\n{"request": "\xff\xfe"}\n')
    result = run_cli("eval", "--target", "mock:refuse", "--suite", f"jsonl:{path}",
                     "--judge", "mock:1", "--store", str(tmp_path))
    assert_one_line_error(result, "p.jsonl:2", "UTF-8")


def test_judge_input_with_wrong_columns_is_named(tmp_path: Path) -> None:
    path = tmp_path / "pairs.jsonl"
    path.write_text(json.dumps({"prompt": "x", "answer": "y"}) + "\n")
    result = run_cli("judge", "--input", str(path), "--out", str(tmp_path / "o.jsonl"),
                     "--judge", "mock:1", "--store", str(tmp_path))
    assert_one_line_error(result, "pairs.jsonl:1", "field 'request'")


def test_resume_of_unknown_run_is_named(tmp_path: Path) -> None:
    result = run_cli("eval", "--resume", "nope", "--store", str(tmp_path))
    assert_one_line_error(result, "no run 'nope'")


def test_a_per_suite_limit_naming_no_suite_of_the_run_is_a_one_line_error(tmp_path: Path) -> None:
    result = run_cli("eval", "--target", "mock:refuse", "--suite", "mcq", "--limit", "mqc=3",
                     "--store", str(tmp_path))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].endswith("names no suite of this run (suites: mcq)")


@pytest.mark.parametrize("limit", ["²", "mcq=٣"])
def test_a_limit_in_non_ascii_digits_is_a_one_line_error(tmp_path: Path, limit: str) -> None:
    result = run_cli("eval", "--target", "mock:refuse", "--suite", "mcq", "--limit", limit,
                     "--store", str(tmp_path))
    assert_one_line_error(result, f"--limit {limit}: use a number N or SUITE=N")


def test_per_suite_limits_override_the_overall_limit(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = run_cli("eval", "--target", "mock:refuse", "--judge", "mock:1", "--suite", "mcq",
                     "--suite", "hallucination", "--limit", "4", "--limit", "hallucination=2",
                     "--store", str(tmp_path), "--out", str(out))
    assert result.returncode == 0, result.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert (summary["suites"]["mcq"]["n"], summary["suites"]["hallucination"]["n"]) == (4, 2)


def test_square_brackets_in_an_error_are_printed_as_written(tmp_path: Path) -> None:
    # e.g. "pip install 'medsafe[inspect]'": rich would read [inspect] as markup and drop it
    result = run_cli("eval", "--target", "mock:refuse", "--suite", "harm", "--limit", "x[y]=3",
                     "--store", str(tmp_path))
    assert_one_line_error(result, "--limit x[y]=N names no suite of this run")
