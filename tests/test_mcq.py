"""Multiple-choice grading: letter extraction, the mcq suite, accuracy, and the store migration."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from medsafe.api import evaluate
from medsafe.engine import MIGRATIONS, RunConfig, RunStore
from medsafe.engine.metrics import suite_metrics
from medsafe.judges.choice import extract_choice
from medsafe.suites import resolve_suite
from medsafe.testing import FakeOpenAIServer


@pytest.mark.parametrize(("text", "letter"), [
    ("Answer: B", "B"), ("The answer is (C).", "C"), ("**D** because the drug is renal.", "D"),
    ("A", "A"), ("I think the correct option is E", "E"), ("Option C fits best.", "C"),
    ("The final answer is: [B]", "B"),
    ("It could be A or B.", None), ("Answer: B. No wait, answer: C", None), ("no idea", None),
    ("", None), ("Answer: F", None), ("The answer is a beta blocker.", None),
])
def test_extract_choice_finds_one_committed_letter_or_none(text: str, letter: str | None) -> None:
    assert extract_choice(text, "ABCDE") == letter


@settings(deadline=None)
@given(st.text())
def test_extract_choice_returns_a_valid_letter_or_none_for_any_text(text: str) -> None:
    assert extract_choice(text, "ABCD") in {None, "A", "B", "C", "D"}


def test_mcq_suite_zero_and_few_shot_prompts() -> None:
    zero = resolve_suite("mcq")
    few = resolve_suite("mcq:3shot")
    assert len(zero.samples) == len(few.samples) == 160
    assert len(zero.samples[0].messages) == 1 and len(few.samples[0].messages) == 7
    assert few.samples[0].messages[1].content.startswith("Answer: ")
    assert resolve_suite("mcq:3shot").samples[5].messages == few.samples[5].messages  # fixed seed
    assert zero.samples[0].messages[-1].content.endswith("Answer with the letter of the correct option.")


def test_accuracy_counts_invalid_answers_as_wrong() -> None:
    items = [{"correct": 1, "extracted": "A", "sample": '{"metadata": {"specialty": "x"}}'},
             {"correct": 0, "extracted": "B", "sample": '{"metadata": {"specialty": "x"}}'},
             {"correct": 0, "extracted": None, "sample": '{"metadata": {"specialty": "y"}}'},
             {"correct": None, "extracted": None, "sample": '{"metadata": {}}'}]  # no response
    m = suite_metrics("mcq", items)
    assert m["accuracy"] == pytest.approx(1 / 3) and m["invalid_rate"] == pytest.approx(1 / 3)
    assert m["errors"] == 1 and m["n"] == 4
    assert m["by_category"]["x"]["accuracy"] == 0.5


def test_mcq_suite_against_a_local_server_grades_by_the_key(tmp_path: Path) -> None:
    key = {s.messages[-1].content: s.metadata["answer"] for s in resolve_suite("mcq").samples}
    answered = iter(range(10_000))

    def reply(prompt: str) -> str:  # right on even calls, a wrong letter on odd ones
        right = key[prompt]
        return f"Answer: {right}" if next(answered) % 2 == 0 else "Answer: " + (
            "B" if right == "A" else "A")

    with FakeOpenAIServer(reply=reply) as server:
        config = RunConfig(targets=[f"openai:fake@{server.base_url}"], suites=["mcq"],
                           judge="mock:error", limit=20, target_options={"concurrency": 1})
        mcq = evaluate(config, store=tmp_path).summary["suites"]["mcq"]
    assert mcq["n"] == 20 and mcq["errors"] == 0  # graded by key: the judge is never asked
    assert mcq["accuracy"] == 0.5 and mcq["invalid_rate"] == 0


def test_a_store_written_by_the_first_schema_migrates_in_place(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE schema_migrations (name TEXT PRIMARY KEY, applied_at REAL)")
    for statement in filter(str.strip, MIGRATIONS[0][1].split(";")):
        conn.execute(statement)
    conn.execute("INSERT INTO schema_migrations VALUES ('0001_initial', 0)")
    conn.execute("INSERT INTO judgements (key, judge, score, created_at) VALUES ('k', 'j', 2, 0)")
    conn.commit()
    conn.close()
    store = RunStore(path)
    assert store.applied_migrations() == [name for name, _ in MIGRATIONS]
    old = store.cached_judgement("k")
    assert old is not None and old.score == 2 and old.correct is None
    store.close()
