"""Labelling sheets: a run's drawn items written out for people who label elsewhere (CSV or JSONL),
and their labels read back.

A sheet is blind: it holds the request and the answer, never the judge's verdict or anyone's
labels. Import checks every row before it stores any (one-line errors naming file, row and
field) and stores all of them in one transaction; importing the same sheet twice changes nothing.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from medsafe.data import iter_jsonl
from medsafe.engine.store import RunStore
from medsafe.errors import InputError, MedsafeError
from medsafe.labels.sampling import run_or_error

COLUMNS = ["run_id", "target", "suite", "sample_id", "principle", "request", "response",
           "labeller", "score", "refusal"]
TRUE = {"1", "true", "yes", "y", "refusal", "refused"}
FALSE = {"0", "false", "no", "n"}


def _suffix(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".jsonl"):
        raise MedsafeError(f"{path}: a labelling sheet is .csv or .jsonl")
    return suffix


def conversation_text(messages: list[dict[str, Any]]) -> str:
    """The request as a labeller reads it: the user's text, or every turn of a conversation."""
    if len(messages) == 1:
        return str(messages[0].get("content", ""))
    return "\n\n".join(f"[{m.get('role')}] {m.get('content', '')}" for m in messages)


def sheet_rows(store: RunStore, run_id: str, labeller: str = "") -> list[dict[str, Any]]:
    """The run's drawn items in draw order, with blank label columns."""
    run_or_error(store, run_id)
    drawn = store.label_sample(run_id)
    if not drawn:
        raise MedsafeError(f"run {run_id} has no label sample yet: draw one with "
                           f"`medsafe label sample {run_id}`")
    items = {(i["target"], i["suite"], i["sample_id"]): i for i in store.items(run_id)}
    rows = []
    for d in drawn:
        item = items[(d["target"], d["suite"], d["sample_id"])]
        sample = json.loads(item["sample"])
        rows.append({"run_id": run_id, "target": d["target"], "suite": d["suite"],
                     "sample_id": d["sample_id"], "principle": item.get("principle"),
                     "request": conversation_text(sample["messages"]),
                     "response": item.get("response") or "", "labeller": labeller,
                     "score": "", "refusal": ""})
    return rows


def export_sheet(store: RunStore, run_id: str, out: Path, labeller: str = "") -> int:
    """Write the run's label sample as a blind sheet (.csv or .jsonl); returns the row count."""
    rows = sheet_rows(store, run_id, labeller)
    out.parent.mkdir(parents=True, exist_ok=True)
    if _suffix(out) == ".csv":
        with out.open("w", encoding="utf-8", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=COLUMNS)
            writer.writeheader()
            writer.writerows(rows)
    else:
        with out.open("w", encoding="utf-8") as fh:
            for row in rows:
                fh.write(json.dumps({**row, "score": None, "refusal": None}, ensure_ascii=False) + "\n")
    return len(rows)


def _read(path: Path) -> list[tuple[int, dict[str, Any]]]:
    """(line, row) pairs of a sheet; CSV lines are those where each record starts."""
    if not path.is_file():
        raise InputError(path, None, None, "file not found")
    if _suffix(path) == ".jsonl":
        return list(iter_jsonl(path))
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(path, None, None, f"not valid UTF-8 ({exc.reason})") from exc
    reader = csv.DictReader(text.splitlines(keepends=True))
    missing = [c for c in ("run_id", "target", "suite", "sample_id", "score", "refusal")
               if c not in (reader.fieldnames or [])]
    if missing:
        raise InputError(path, 1, missing[0], "missing column (export a sheet with "
                         "`medsafe label export` to see the expected columns)")
    rows, start = [], 2
    for row in reader:
        rows.append((start, row))
        start = reader.line_num + 1
    return rows


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _score(value: Any, path: Path, line: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise InputError(path, line, "score", f"{value!r} is not a score 1-5")
    text = str(value).strip()
    # Compared as text: str.isdigit() accepts characters such as "²" that int() refuses.
    if text not in {"1", "2", "3", "4", "5"}:
        raise InputError(path, line, "score", f"{text!r} is not a score 1-5")
    return int(text)


def _refusal(value: Any, path: Path, line: int) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in TRUE:
        return True
    if text in FALSE:
        return False
    raise InputError(path, line, "refusal", f"{value!r}: write yes or no")


@dataclass(frozen=True)
class Imported:
    """What an import did."""

    run_id: str
    new: int
    updated: int
    unchanged: int
    blank: int  # rows left unlabelled in the sheet


def parse_sheet(store: RunStore, path: Path, *, labeller: str | None = None,
                run_id: str | None = None) -> tuple[str, list[dict[str, Any]], int]:
    """Check every row of a filled sheet; returns the run, the labels and the blank-row count."""
    rows = _read(path)
    if not rows:
        raise InputError(path, None, None, "no rows: the sheet is empty")
    runs = {str(r.get("run_id") or "") for _, r in rows}
    sheet_run = str(rows[0][1].get("run_id") or "")
    if run_id is not None and sheet_run != run_id:
        raise InputError(path, rows[0][0], "run_id",
                         f"the sheet is for run {sheet_run or '(none)'}, not {run_id}")
    run = store.get_run(sheet_run)
    if run is None:
        raise InputError(path, rows[0][0], "run_id", f"no run '{sheet_run}' in {store.path}")
    sampled = {(d["target"], d["suite"], d["sample_id"]) for d in store.label_sample(sheet_run)}
    items = {(i["target"], i["suite"], i["sample_id"]) for i in store.items(sheet_run)}
    labels: list[dict[str, Any]] = []
    seen: dict[tuple[str, str, str, str], int] = {}
    blank = 0
    for line, row in rows:
        if len(runs) > 1 and str(row.get("run_id") or "") != sheet_run:
            raise InputError(path, line, "run_id",
                             f"{row.get('run_id')!r}: a sheet holds one run ({sheet_run})")
        if _blank(row.get("score")) and _blank(row.get("refusal")):
            blank += 1
            continue
        for name in ("target", "suite", "sample_id", "score", "refusal"):
            if _blank(row.get(name)):
                raise InputError(path, line, name, "missing")
        key = (str(row["target"]), str(row["suite"]), str(row["sample_id"]))
        if key not in items:
            raise InputError(path, line, "sample_id",
                             f"no item {key[2]!r} of suite {key[1]!r} and target {key[0]!r} "
                             f"in run {sheet_run}")
        if key not in sampled:
            raise InputError(path, line, "sample_id",
                             f"{key[2]!r} is not in the run's label sample (only drawn items may "
                             "be labelled, or the estimate loses its validity)")
        who = labeller or str(row.get("labeller") or "").strip()
        if not who:
            raise InputError(path, line, "labeller", "missing: fill the column or pass --labeller")
        score, refusal = _score(row["score"], path, line), _refusal(row["refusal"], path, line)
        if (*key, who) in seen:
            raise InputError(path, line, "sample_id",
                             f"duplicate of line {seen[(*key, who)]} (same item and labeller)")
        seen[(*key, who)] = line
        labels.append({"target": key[0], "suite": key[1], "sample_id": key[2], "labeller": who,
                       "score": score, "refusal": refusal, "source": f"sheet:{path.name}"})
    return sheet_run, labels, blank


def import_sheet(store: RunStore, path: Path, *, labeller: str | None = None,
                 run_id: str | None = None) -> Imported:
    """Store a filled sheet's labels: all of them, or none when any row is wrong."""
    sheet_run, labels, blank = parse_sheet(store, path, labeller=labeller, run_id=run_id)
    counts = store.save_labels(sheet_run, labels) if labels else {"new": 0, "updated": 0,
                                                                  "unchanged": 0}
    return Imported(sheet_run, counts["new"], counts["updated"], counts["unchanged"], blank)
