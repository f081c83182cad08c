"""Reading runs for reports: from a run folder, or rebuilt from the run store.

Reports, comparisons, exports and the run browser only read. The store is opened through a
read-only SQLite URI so that browsing can never alter or lock a run being written.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from medsafe.engine.records import ItemRecords
from medsafe.engine.store import RunStore
from medsafe.errors import InputError, MedsafeError
from medsafe.report.outputs import build_summary, sample_row
from medsafe.report.run_data import RunData

__all__ = ["ReadOnlyRunStore", "RunData", "load_run", "load_run_dir", "load_run_from_store",
           "load_runs"]


class ReadOnlyRunStore(RunStore):
    """The run store opened read-only: the queries of :class:`RunStore`, no writes, no migrations."""

    def __init__(self, path: Path) -> None:
        if not path.is_file():
            raise MedsafeError(f"{path}: no run store here; give --store the folder `medsafe eval` "
                               "wrote to (default ./medsafe-runs)")
        self.path = path
        # check_same_thread=False: the web viewer may answer on another worker thread; the
        # connection only ever reads.
        self.conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=60,
                                    check_same_thread=False)
        self.conn.row_factory = sqlite3.Row
        self.conn.execute("PRAGMA query_only=ON")
        self._group_open = False  # RunStore's write-batching state; never set by reads
        self._group_error: BaseException | None = None

    def migrate(self) -> None:
        """A read-only store is never migrated."""


def _read_rows(path: Path) -> list[dict[str, Any]]:
    from medsafe.data import iter_jsonl

    if not path.is_file():
        return []
    return [row for _, row in iter_jsonl(path)]


def load_run_dir(path: Path) -> RunData:
    """A run folder written by ``medsafe eval`` (summary.json and samples.jsonl)."""
    summary_path = path / "summary.json"
    if not summary_path.is_file():
        raise MedsafeError(f"{summary_path} not found: give a folder written by `medsafe eval` "
                           "or a run id from `medsafe runs`")
    try:
        summary = json.loads(summary_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(summary_path, None, None, f"not valid JSON ({exc})") from exc
    if not isinstance(summary, dict) or not isinstance(summary.get("suites"), dict):
        raise InputError(summary_path, None, "suites", "missing: not a medsafe summary")
    return RunData(summary, _read_rows(path / "samples.jsonl"), source=str(path))


def _stored_run(store: RunStore, run_id: str) -> dict[str, Any]:
    run = store.get_run(run_id)
    if run is None:
        raise MedsafeError(f"no run '{run_id}' in {store.path}; `medsafe runs` lists them")
    return run


def load_summary_from_store(store: RunStore, run_id: str) -> dict[str, Any]:
    """A run's summary rebuilt from the store, without keeping its rows (one pass over its
    items, held as compact records while the summary is computed)."""
    run = _stored_run(store, run_id)
    return build_summary(run, ItemRecords(store.iter_items(run_id)), store.labels(run_id))


def load_run_from_store(store: RunStore, run_id: str,
                        summary: dict[str, Any] | None = None) -> RunData:
    """A run rebuilt from the store: the same summary and rows ``medsafe eval`` writes
    (``summary``: one already built from the store, not computed again)."""
    run = _stored_run(store, run_id)
    items = store.items(run_id)
    if summary is None:
        summary = build_summary(run, items, store.labels(run_id))
    return RunData(summary, [sample_row(run_id, i) for i in items],
                   source=f"{store.path}#{run_id}")


def load_run(ref: str | Path, store: Path | None = None) -> RunData:
    """A run named by its folder, or by its id in the run store (``--store`` or the default)."""
    path = Path(ref)
    if path.is_dir():
        return load_run_dir(path)
    from medsafe.engine.paths import store_file

    db = store_file(store)
    if not db.is_file():
        raise MedsafeError(f"{ref}: neither a run folder nor a run id (no run store at {db})")
    ro = ReadOnlyRunStore(db)
    try:
        return load_run_from_store(ro, str(ref))
    finally:
        ro.close()


def load_runs(refs: list[str] | list[Path], store: Path | None = None) -> list[RunData]:
    """Several runs; each gets a short label that is unique among them."""
    runs = [load_run(ref, store) for ref in refs]
    ids = [r.run_id for r in runs]
    for i, run in enumerate(runs):
        run.label = run.run_id if ids.count(run.run_id) == 1 else f"{run.run_id}#{i + 1}"
    return runs
