"""Labels on a run's own answers: the seeded sample, blind sheets, all-or-nothing import, and the
calibrated figures they give, end to end through the CLI against a local server."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import run_cli, write_prompts
from medsafe.api import evaluate
from medsafe.engine import RunConfig, RunStore, store_file
from medsafe.errors import InputError, MedsafeError
from medsafe.labels import draw_sample, export_sheet, import_sheet, ppi_mean
from medsafe.labels.sheet import _score
from medsafe.testing import FakeOpenAIServer


def reply(prompt: str) -> str:
    number = int(prompt.rsplit(" ", 1)[-1])
    return "I can't help with that." if number % 3 == 0 else "Sure, here is how to do it."


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A finished run of 45 scored answers (a harm-kind suite) plus a rule-graded mcq suite."""
    tmp = tmp_path_factory.mktemp("labels")
    prompts = write_prompts(tmp / "p.jsonl", 45)
    result = evaluate(RunConfig(targets=["mock:echo"], suites=[f"jsonl:{prompts}", "mcq"],
                                judge="mock:refusal", suite_limits={"mcq": 9}), store=tmp / "store",
                      out_dir=tmp / "out")
    return tmp / "store", result.run_id


def _fresh_store(run: tuple[Path, str], tmp_path: Path) -> tuple[RunStore, str]:
    """A private copy of the module's store, so each test labels from scratch."""
    import shutil

    folder, run_id = run
    shutil.copytree(folder, tmp_path / "store")
    return RunStore(store_file(tmp_path / "store")), run_id


def test_sample_is_seeded_and_extends_as_a_larger_random_sample(run, tmp_path) -> None:
    store, run_id = _fresh_store(run, tmp_path)
    first = draw_sample(store, run_id, n=10, seed=4)
    assert (first.eligible, first.drawn, first.new, first.suites) == (45, 10, 10, ["jsonl:p.jsonl"])
    ten = [r["sample_id"] for r in store.label_sample(run_id)]
    again = draw_sample(store, run_id, n=10, seed=4)
    assert again.new == 0 and [r["sample_id"] for r in store.label_sample(run_id)] == ten
    with pytest.raises(MedsafeError, match="drawn with seed 4"):
        draw_sample(store, run_id, n=20, seed=5)
    with pytest.raises(MedsafeError, match="graded by rule"):
        draw_sample(store, run_id, n=5, suites=["mcq"])
    with pytest.raises(MedsafeError, match="no such suite"):
        draw_sample(store, run_id, n=5, suites=["nope"])
    store.close()


def _finished_run(tmp_path: Path, n: int, judge: str = "mock:refusal") -> tuple[RunStore, str]:
    """A finished run of ``n`` echoed prompts in ``tmp_path/s``, and its store opened."""
    prompts = write_prompts(tmp_path / "p.jsonl", n)
    result = evaluate(RunConfig(targets=["mock:echo"], suites=[f"jsonl:{prompts}"], judge=judge),
                      store=tmp_path / "s", out_dir=tmp_path / "o")
    return RunStore(store_file(tmp_path / "s")), result.run_id


def test_larger_sample_with_the_same_seed_is_a_superset(tmp_path) -> None:
    store, run_id = _finished_run(tmp_path, 40)
    draw_sample(store, run_id, n=10, seed=1)
    small = {r["sample_id"] for r in store.label_sample(run_id)}
    grown = draw_sample(store, run_id, n=25, seed=1)
    big = {r["sample_id"] for r in store.label_sample(run_id)}
    assert grown.new == 15 and small < big and len(big) == 25
    # the same seed from scratch draws the same 25: the extension is the prefix of one permutation
    other = tmp_path / "s2"
    import shutil

    shutil.copytree(tmp_path / "s", other)
    fresh = RunStore(store_file(other))
    fresh.conn.execute("DELETE FROM label_sample")
    draw_sample(fresh, run_id, n=25, seed=1)
    assert {r["sample_id"] for r in fresh.label_sample(run_id)} == big
    store.close()
    fresh.close()


def test_run_without_scored_items_cannot_be_sampled(tmp_path) -> None:
    store, run_id = _finished_run(tmp_path, 4, judge="mock:error")
    with pytest.raises(MedsafeError, match="no judge-scored items"):
        draw_sample(store, run_id, n=5)
    store.close()


def test_sheet_is_blind_and_import_is_idempotent(run, tmp_path) -> None:
    store, run_id = _fresh_store(run, tmp_path)
    draw_sample(store, run_id, n=6, seed=0)
    sheet = tmp_path / "sheet.csv"
    assert export_sheet(store, run_id, sheet, labeller="ana") == 6
    text = sheet.read_text()
    assert "refusal detector" not in text and "mock:refusal" not in text  # no verdict, no judge
    rows = list(csv.DictReader(sheet.open()))
    assert [r["score"] for r in rows] == [""] * 6
    for k, row in enumerate(rows[:4]):
        row["score"], row["refusal"] = str(k + 1), "yes" if k == 0 else "no"
    with sheet.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    first = import_sheet(store, sheet)
    assert (first.new, first.updated, first.unchanged, first.blank) == (4, 0, 0, 2)
    again = import_sheet(store, sheet)
    assert (again.new, again.updated, again.unchanged) == (0, 0, 4)
    stored = store.labels(run_id)
    assert sorted(lab["score"] for lab in stored) == [1, 2, 3, 4]
    assert [lab["refusal"] for lab in stored if lab["score"] == 1] == [True]
    store.close()


def _sheet_with(tmp_path: Path, store: RunStore, run_id: str, edit) -> Path:
    sheet = tmp_path / "bad.jsonl"
    export_sheet(store, run_id, sheet, labeller="ana")
    rows = [json.loads(line) for line in sheet.open()]
    for row in rows:
        row["score"], row["refusal"] = 2, False
    edit(rows)
    sheet.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return sheet


@pytest.mark.parametrize(("edit", "where"), [
    (lambda rows: rows[2].update(score=7), r"bad.jsonl:3: field 'score': '7' is not a score 1-5"),
    (lambda rows: rows[1].update(sample_id="nope"), r"bad.jsonl:2: field 'sample_id': no item 'nope'"),
    (lambda rows: rows.append(dict(rows[0])), r"bad.jsonl:6: field 'sample_id': duplicate of line 1"),
    (lambda rows: rows[3].update(refusal="maybe"), r"bad.jsonl:4: field 'refusal': 'maybe'"),
    (lambda rows: [r.update(run_id="other-run") for r in rows], r"field 'run_id': no run 'other-run'"),
    (lambda rows: rows[4].update(run_id="x"), r"bad.jsonl:5: field 'run_id': 'x': a sheet holds one run"),
    (lambda rows: rows[0].update(labeller=""), r"bad.jsonl:1: field 'labeller': missing"),
])
def test_bad_sheet_rows_name_file_line_and_field_and_import_nothing(run, tmp_path, edit, where):
    store, run_id = _fresh_store(run, tmp_path)
    draw_sample(store, run_id, n=5, seed=0)
    sheet = _sheet_with(tmp_path, store, run_id, edit)
    with pytest.raises(InputError, match=where):
        import_sheet(store, sheet)
    assert store.labels(run_id) == []  # nothing half-imported
    store.close()


def test_an_item_outside_the_drawn_sample_is_refused(run, tmp_path) -> None:
    store, run_id = _fresh_store(run, tmp_path)
    draw_sample(store, run_id, n=3, seed=0)
    drawn = {r["sample_id"] for r in store.label_sample(run_id)}
    outside = next(i["sample_id"] for i in store.items(run_id)
                   if i["suite"] == "jsonl:p.jsonl" and i["sample_id"] not in drawn)
    sheet = _sheet_with(tmp_path, store, run_id, lambda rows: rows[0].update(sample_id=outside))
    with pytest.raises(InputError, match="not in the run's label sample"):
        import_sheet(store, sheet)
    with pytest.raises(InputError, match="the sheet is for run"):
        import_sheet(store, sheet, run_id="another")
    store.close()


@settings(deadline=None, max_examples=200)
@given(st.one_of(st.text(max_size=6), st.integers(-10, 20), st.floats(allow_nan=True),
                 st.booleans(), st.none(), st.sampled_from(["²", "٣", "４", " 3 "])))
def test_score_parser_accepts_exactly_the_integers_one_to_five(value) -> None:
    valid = (not isinstance(value, bool) and isinstance(value, int | str)
             and str(value).strip() in {"1", "2", "3", "4", "5"})
    if valid:
        assert _score(value, Path("s.csv"), 2) == int(str(value).strip())
    else:
        with pytest.raises(InputError, match=r"s.csv:2: field 'score'"):
            _score(value, Path("s.csv"), 2)


def test_label_cli_round_trip_gives_calibrated_figures_equal_to_the_stored_rows(tmp_path) -> None:
    """eval against a local server, draw a sample, export a sheet, fill it, import it: the
    calibrated figures in summary.json are the estimator applied to the stored rows."""
    prompts = write_prompts(tmp_path / "p.jsonl", 54)
    store, out = tmp_path / "store", tmp_path / "out"
    with FakeOpenAIServer(reply=reply) as server:
        done = run_cli("eval", "--target", f"openai:fake@{server.base_url}", "--suite",
                       f"jsonl:{prompts}", "--judge", "mock:refusal", "--store", str(store),
                       "--out", str(out))
    assert done.returncode == 0, done.stderr
    run_id = json.loads((out / "summary.json").read_text())["run_id"]
    assert "calibrated" not in json.loads((out / "summary.json").read_text())["suites"][
        "jsonl:p.jsonl"]
    drawn = run_cli("label", "sample", run_id, "--n", "24", "--seed", "3", "--store", str(store))
    assert drawn.returncode == 0, drawn.stderr
    assert "24 of 54 scored items" in drawn.stderr
    sheet = tmp_path / "sheet.csv"
    exported = run_cli("label", "export", run_id, "--out", str(sheet), "--store", str(store))
    assert exported.returncode == 0, exported.stderr
    rows = list(csv.DictReader(sheet.open()))
    # a labeller who reads refusals as the judge does, but calls every third compliance harmless
    for k, row in enumerate(rows):
        refused = row["response"].startswith("I can't")
        row["score"] = "1" if refused else ("2" if k % 3 == 0 else "4")
        row["refusal"] = "yes" if refused else "no"
    with sheet.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    imported = run_cli("label", "import", str(sheet), "--labeller", "dr-lee", "--store", str(store))
    assert imported.returncode == 0, imported.stderr
    assert "24 new labels" in imported.stderr
    assert "calibrated (24 labels)" in imported.stdout  # the terminal scorecard

    summary = json.loads((out / "summary.json").read_text())
    block = summary["suites"]["jsonl:p.jsonl"]["calibrated"]
    db = RunStore(store_file(store))
    items = [i for i in db.items(run_id) if i["score"] is not None]
    labels = {lab["sample_id"]: lab for lab in db.labels(run_id)}
    db.close()
    inside = [i for i in items if i["sample_id"] in labels]
    outside = [i for i in items if i["sample_id"] not in labels]
    y = np.array([labels[i["sample_id"]]["score"] >= 3 for i in inside], dtype=float)
    f = np.array([i["score"] >= 3 for i in inside], dtype=float)
    f_u = np.array([i["score"] >= 3 for i in outside], dtype=float)
    expected = ppi_mean(y, f, f_u, bounds=(0, 1))
    harmful = block["metrics"]["harmful_rate"]
    assert harmful["calibrated"]["value"] == pytest.approx(expected.value)
    assert harmful["calibrated"]["ci95"] == pytest.approx(list(expected.ci95))
    assert harmful["judge"]["value"] == pytest.approx(np.mean([i["score"] >= 3 for i in items]))
    assert harmful["labelled"]["value"] == pytest.approx(y.mean())
    assert block["labelled_items"] == 24 and block["labellers"] == ["dr-lee"]
    assert block["agreement"]["refusal_accuracy"] == 1.0
    card = {r["metric"]: r for r in summary["scorecard"]}
    assert card["calibrated_harmful_rate"]["values"][f"openai:fake@{server.base_url}"]["value"] \
        == pytest.approx(expected.value)
    # the report shows the calibrated section
    assert "Calibrated estimates" in (out / "report.html").read_text()
    # importing the same sheet again changes nothing
    again = run_cli("label", "import", str(sheet), "--labeller", "dr-lee", "--store", str(store))
    assert "0 new labels, 0 changed, 24 unchanged" in again.stderr
    # bad input: one line naming the file, line and field
    rows[5]["score"] = "9"
    with sheet.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    bad = run_cli("label", "import", str(sheet), "--labeller", "dr-lee", "--store", str(store))
    assert bad.returncode == 2
    assert f"{sheet}:7: field 'score': '9' is not a score 1-5" in bad.stderr.replace("\n", "")
    assert "Traceback" not in bad.stderr


def test_compare_uses_calibrated_estimates_when_both_runs_have_labels(tmp_path) -> None:
    from medsafe.report import load_runs
    from medsafe.report.compare import compare_runs

    prompts = write_prompts(tmp_path / "p.jsonl", 30)
    store_dir = tmp_path / "s"
    ids = []
    for target in ("mock:echo", "mock:refuse"):
        result = evaluate(RunConfig(targets=[target], suites=[f"jsonl:{prompts}"],
                                    judge="mock:refusal"), store=store_dir, out_dir=tmp_path / target)
        ids.append(result.run_id)
    store = RunStore(store_file(store_dir))
    unlabelled = compare_runs(load_runs(ids, store_dir))[0]
    assert not any(r.get("calibrated") for r in unlabelled["rows"])
    for run_id, score in zip(ids, (4, 1), strict=True):
        draw_sample(store, run_id, n=12, seed=0)
        store.save_labels(run_id, [{**{k: d[k] for k in ("target", "suite", "sample_id")},
                                    "labeller": "ana", "score": score, "refusal": score == 1}
                                   for d in store.label_sample(run_id)])
    store.close()
    runs = load_runs(ids, store_dir)
    rows = [r for r in compare_runs(runs)[0]["rows"] if r.get("calibrated")]
    assert [r["metric"] for r in rows] == ["mean_score", "harmful_rate"]
    before = runs[0].summary["suites"]["jsonl:p.jsonl"]["calibrated"]["metrics"]["mean_score"]
    after = runs[1].summary["suites"]["jsonl:p.jsonl"]["calibrated"]["metrics"]["mean_score"]
    assert rows[0]["diff"] == pytest.approx(after["calibrated"]["value"]
                                            - before["calibrated"]["value"])
    assert rows[0]["n"] == 24 and rows[0]["verdict"] == "better"


def test_a_store_from_before_labels_reads_as_unlabelled_and_migrates_on_write(tmp_path) -> None:
    import sqlite3

    from medsafe.engine.store import MIGRATIONS
    from medsafe.report.runs import ReadOnlyRunStore, load_run_from_store

    prompts = write_prompts(tmp_path / "p.jsonl", 6)
    result = evaluate(RunConfig(targets=["mock:echo"], suites=[f"jsonl:{prompts}"],
                                judge="mock:refusal"), store=tmp_path / "s", out_dir=tmp_path / "o")
    db = store_file(tmp_path / "s")
    conn = sqlite3.connect(db)  # take the store back to the schema before labels
    conn.executescript("DROP TABLE labels; DROP TABLE label_sample; "
                       "DELETE FROM schema_migrations WHERE name >= '0004_labels';")
    conn.close()
    # Only a data migration and one that re-applies safely (0006) follow 0004, so dropping its
    # tables takes the store back before it.
    assert [name for name, _ in MIGRATIONS[3:]] == ["0004_labels", "0005_jury_verdicts_json",
                                                    "0006_conversations"]
    old = ReadOnlyRunStore(db)
    assert old.labels(result.run_id) == [] and old.label_sample(result.run_id) == []
    assert "calibrated" not in load_run_from_store(old, result.run_id).summary["suites"][
        "jsonl:p.jsonl"]
    old.close()
    store = RunStore(db)
    assert "0004_labels" in store.applied_migrations()
    assert draw_sample(store, result.run_id, n=3).new == 3
    store.close()
