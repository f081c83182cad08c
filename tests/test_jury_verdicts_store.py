"""Jury verdicts in the run store: written as JSON, read as JSON only, and old rows that held a
Python repr of the verdicts migrated to JSON when a newer medsafe opens the store."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

from conftest import write_prompts
from medsafe.api import evaluate
from medsafe.engine import MIGRATIONS, RunConfig, RunStore, store_file
from medsafe.report.reliability import jury_members, reliability_reports
from medsafe.report.runs import ReadOnlyRunStore, load_run_from_store

JURY = "jury:mock:refusal,mock:3"
BEFORE_JSON = [name for name, _ in MIGRATIONS].index("0004_labels") + 1  # the schema before 0005

MEMBERS: dict[str, Any] = {"mock:refusal": {"score": 5, "refusal": False, "error": None},
                           "mock:error": {"score": None, "refusal": None, "error": "boom: it's down"}}


def jury_run(tmp_path: Path) -> tuple[Path, str]:
    """A finished run judged by a jury; returns the store file and the run id."""
    prompts = write_prompts(tmp_path / "p.jsonl", 6)
    result = evaluate(RunConfig(targets=["mock:comply"], suites=[f"jsonl:{prompts}"], judge=JURY),
                      store=tmp_path / "s", out_dir=tmp_path / "r")
    return store_file(tmp_path / "s"), result.run_id


def jury_raws(db: Path) -> list[str]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT raw FROM judgements WHERE judge=?", (JURY,)).fetchall()
    return [raw for (raw,) in rows]


def test_a_jury_run_stores_every_members_verdict_as_json(tmp_path: Path) -> None:
    db, _ = jury_run(tmp_path)
    raws = jury_raws(db)
    assert len(raws) == 6
    for raw in raws:
        assert json.loads(raw) == {"mock:refusal": {"score": 5, "refusal": False, "error": None},
                                   "mock:3": {"score": 3, "refusal": False, "error": None}}


def test_the_reader_takes_json_and_no_python_literal(tmp_path: Path) -> None:
    assert jury_members("jury:mock:refusal,mock:error", json.dumps(MEMBERS)) == MEMBERS
    # A Python repr is no longer parsed: only the migration reads one, once.
    assert jury_members("jury:mock:refusal,mock:error", repr(MEMBERS)) is None


def test_a_store_at_the_previous_schema_has_its_repr_verdicts_migrated_to_json(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE schema_migrations (name TEXT PRIMARY KEY, applied_at REAL)")
    for name, sql in MIGRATIONS[:BEFORE_JSON]:
        assert isinstance(sql, str)
        for statement in filter(str.strip, sql.split(";")):
            conn.execute(statement)
        conn.execute("INSERT INTO schema_migrations VALUES (?, 0)", (name,))
    rows = [("jury-old", "jury:mock:refusal,mock:error", repr(MEMBERS)),
            ("jury-bad", "jury:mock:refusal,mock:error", "not a dict"),
            # Another judge's raw text is the model's own words: never rewritten, even if it
            # happens to look like a Python dict.
            ("llm-old", "llm:judge", "{'score': 5}")]
    conn.executemany("INSERT INTO judgements (key, judge, score, raw, created_at) VALUES (?, ?, 5, ?, 0)",
                     rows)
    conn.commit()
    conn.close()

    store = RunStore(path)
    assert store.applied_migrations() == [name for name, _ in MIGRATIONS]
    migrated = store.cached_judgement("jury-old")
    assert migrated is not None and migrated.raw is not None
    assert json.loads(migrated.raw) == MEMBERS
    assert jury_members(migrated.judge, migrated.raw) == MEMBERS
    assert store.cached_judgement("jury-bad").raw == "not a dict"  # type: ignore[union-attr]
    assert store.cached_judgement("llm-old").raw == "{'score': 5}"  # type: ignore[union-attr]
    store.close()


def test_a_jury_run_written_with_repr_verdicts_keeps_its_agreement_report_after_migrating(
        tmp_path: Path) -> None:
    db, run_id = jury_run(tmp_path)
    with closing(ReadOnlyRunStore(db)) as ro:
        before = load_run_from_store(ro, run_id)
    assert all(r["judge_members"] for r in before.rows)
    conn = sqlite3.connect(db)  # write the verdicts as older medsafe did, at the older schema
    for key, raw in conn.execute("SELECT key, raw FROM judgements WHERE judge=?", (JURY,)).fetchall():
        conn.execute("UPDATE judgements SET raw=? WHERE key=?", (repr(json.loads(raw)), key))
    conn.execute("DELETE FROM schema_migrations WHERE name=?", (MIGRATIONS[BEFORE_JSON][0],))
    conn.commit()
    conn.close()
    assert all(raw.startswith("{'") for raw in jury_raws(db))

    RunStore(db).close()  # any command that opens the store for writing migrates it
    assert [json.loads(raw) for raw in jury_raws(db)] == [
        {"mock:refusal": {"score": 5, "refusal": False, "error": None},
         "mock:3": {"score": 3, "refusal": False, "error": None}}] * 6
    with closing(ReadOnlyRunStore(db)) as ro:
        after = load_run_from_store(ro, run_id)
    assert [r["judge_members"] for r in after.rows] == [r["judge_members"] for r in before.rows]
    [report] = reliability_reports(after.summary, after.rows, n_boot=20)
    assert (report["reference"], report["judge"], report["n"]) == ("mock:refusal", "mock:3", 6)
