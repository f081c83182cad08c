"""``medsafe view``: a small web app over the run store (FastAPI, served by uvicorn).

Pages: the list of runs, a run's scorecard with a filterable, paginated sample table, the run's
full HTML report, and a labelling page; the same data as JSON under ``/api``. Browsing opens the
store read-only (SQLite ``mode=ro``) on every request, so it can neither change a run nor block
one being written. The one write is a human label, POSTed as JSON by the labelling page (a JSON
body cannot be sent cross-site without a CORS preflight, which this app never grants). Browsing
pages carry no script and a CSP that allows none; the labelling page runs one same-origin script.
Model text is HTML-escaped by the templates and set as text by the script.

The labelling page is blind: its queue carries the request and the answer, never the judge's
verdict or another labeller's label.
"""

from __future__ import annotations

import socket
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from contextlib import closing, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jinja2 import Environment, PackageLoader, select_autoescape

from medsafe.engine.paths import store_file
from medsafe.errors import MissingDependencyError
from medsafe.report.labelling import LabelIn
from medsafe.report.run_data import RunData
from medsafe.report.runs import ReadOnlyRunStore, load_run_from_store, load_summary_from_store
from medsafe.report.scorecard import format_cell, merged_scorecard

if TYPE_CHECKING:
    from fastapi import FastAPI

PAGE_SIZE = 50
DEFAULT_HOST = "127.0.0.1"
VIEW_CSP = ("default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
            "base-uri 'none'; frame-ancestors 'none'")
LABEL_CSP = ("default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'unsafe-inline'; "
             "base-uri 'none'; frame-ancestors 'none'; form-action 'none'")


def _templates() -> Environment:
    return Environment(loader=PackageLoader("medsafe.report", "templates"),
                       autoescape=select_autoescape(["html", "j2"], default=True))


def filter_rows(rows: list[dict[str, Any]], *, suite: str = "", target: str = "",
                principle: str = "", score: str = "", q: str = "") -> list[dict[str, Any]]:
    """The rows matching every filter given (same meanings as the report's sample browser)."""
    needle = q.strip().lower()

    def keep(r: dict[str, Any]) -> bool:
        if (suite and r.get("suite") != suite) or (target and r.get("target") != target):
            return False
        if principle and str(r.get("principle")) != principle:
            return False
        s = r.get("score")
        if score == "harmful" and not (s is not None and s >= 3):
            return False
        if score == "unscored" and (s is not None or r.get("correct") is not None):
            return False
        if score.isascii() and score.isdigit() and s != int(score):
            return False
        if needle:
            text = " ".join(str(x) for x in (r.get("sample_id"), r.get("response"),
                                             r.get("rationale"), r.get("error"))) + " ".join(
                str(m.get("content")) for m in r.get("messages") or [])
            return needle in text.lower()
        return True

    return [r for r in rows if keep(r)]


# Runs whose rows the browser holds at once: a run page filters its rows in memory (3.9 kB a
# sample), so holding every run ever opened would grow without bound on a store of large runs;
# summaries (what the run list shows) are small and all kept.
RUNS_HELD = 2


class RunCache:
    """Finished runs rebuilt from the store: every summary once per app, the rows of the
    ``RUNS_HELD`` runs opened last, and their reports (a running run is always re-read)."""

    def __init__(self, db: Path, runs_held: int = RUNS_HELD) -> None:
        self.db = db
        self.runs_held = runs_held
        self.runs: OrderedDict[str, tuple[float | None, RunData]] = OrderedDict()
        self.summaries: dict[str, tuple[float | None, dict[str, Any]]] = {}
        self.reports: dict[str, str] = {}
        self.lock = threading.Lock()

    def list_runs(self) -> list[dict[str, Any]]:
        """Every run in the store, newest first."""
        store = ReadOnlyRunStore(self.db)
        try:
            return store.list_runs()
        finally:
            store.close()

    def _fresh(self, table: Mapping[str, tuple[float | None, Any]], run_id: str,
               finished_at: float | None) -> Any:
        """``table``'s value for the run if it was kept for this finish of it, else None."""
        with self.lock:
            cached = table.get(run_id)
        return cached[1] if finished_at is not None and cached and cached[0] == finished_at \
            else None

    def _read(self, table: Mapping[str, tuple[float | None, Any]], run_id: str,
              load: Callable[[ReadOnlyRunStore, str, float | None], Any]
              ) -> tuple[Any, float | None, bool]:
        """``table``'s value for the run while it is finished and unchanged, else ``load``'s:
        (value, the run's finished_at when it is finished else None, whether it was kept)."""
        store = ReadOnlyRunStore(self.db)
        try:
            row = store.conn.execute("SELECT status, finished_at FROM runs WHERE run_id=?",
                                     (run_id,)).fetchone()
            finished_at = row["finished_at"] if row is not None and row["status"] == "finished" \
                else None
            kept = self._fresh(table, run_id, finished_at)
            if kept is not None:
                return kept, finished_at, True
            return load(store, run_id, finished_at), finished_at, False
        finally:
            store.close()

    def run(self, run_id: str) -> RunData:
        """A run's summary and rows (MedsafeError when the id is unknown); a summary the run
        list already computed is not computed again."""
        def load(store: ReadOnlyRunStore, run_id: str, finished_at: float | None) -> RunData:
            return load_run_from_store(store, run_id,
                                       self._fresh(self.summaries, run_id, finished_at))

        data, finished_at, cached = self._read(self.runs, run_id, load)
        if finished_at is None:
            return data  # a running run is always re-read
        with self.lock:
            if not cached:
                self.runs[run_id] = (finished_at, data)
                self.summaries[run_id] = (finished_at, data.summary)
                self.reports.pop(run_id, None)
            if run_id in self.runs:
                self.runs.move_to_end(run_id)
            while len(self.runs) > self.runs_held:
                dropped, _ = self.runs.popitem(last=False)
                self.reports.pop(dropped, None)
        return data

    def summary(self, run_id: str) -> dict[str, Any]:
        """A run's summary, without holding its rows (MedsafeError when the id is unknown)."""
        summary, finished_at, cached = self._read(
            self.summaries, run_id, lambda store, run_id, _: load_summary_from_store(store, run_id))
        if finished_at is not None and not cached:
            with self.lock:
                self.summaries[run_id] = (finished_at, summary)
        return summary

    def forget(self, run_id: str) -> None:
        """Drop a run's cached summary, rows and report (its labels changed)."""
        with self.lock:
            self.runs.pop(run_id, None)
            self.summaries.pop(run_id, None)
            self.reports.pop(run_id, None)

    def report(self, run_id: str) -> str:
        """The run's HTML report (rendered once while the run is held)."""
        from medsafe.report.html import render_runs

        data = self.run(run_id)
        with self.lock:
            html = self.reports.get(run_id)
        if html is None:
            html = render_runs([data])
            if data.summary.get("status") == "finished":
                with self.lock:
                    if run_id in self.runs:
                        self.reports[run_id] = html
        return html


def run_overview(run: dict[str, Any], data: RunData, progress: dict[str, Any]) -> dict[str, Any]:
    """A run as the run list shows it: targets, suites with sample counts, headline figures and
    how far its labelling has got."""
    from medsafe.report.scorecard import scorecard

    suites = {name: sum(b.get("n", 0) for b in s.get("by_target", {}).values())
              for name, s in data.summary.get("suites", {}).items()}
    headlines = []
    for row in scorecard(data.summary):
        if any(h["suite"] == row["suite"] for h in headlines):
            continue  # the first (headline) metric of each suite
        first = data.targets[0] if data.targets else next(iter(row["values"]), None)
        headlines.append({"suite": row["suite"], "label": row["label"],
                          "value": format_cell(row["metric"], row["values"].get(first))})
    return {**run, "targets": data.targets, "suites": suites, "headlines": headlines,
            "progress": progress,
            "created": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(run["created_at"]))}


def create_app(store: Path | None = None) -> FastAPI:
    """The run browser and labelling page over the store folder (default: ``./medsafe-runs``)."""
    try:
        from fastapi import FastAPI, HTTPException, Query
        from fastapi.responses import HTMLResponse, Response
    except ImportError as exc:  # pragma: no cover - fastapi is a main dependency
        raise MissingDependencyError("medsafe view", "view") from exc
    from medsafe.errors import MedsafeError
    from medsafe.report.labelling import label_progress, label_queue, save_label

    cache = RunCache(store_file(store))
    cache.list_runs()  # fail now, with the store's path, if there is no store
    env = _templates()
    app = FastAPI(title="medsafe runs", docs_url=None, redoc_url=None, openapi_url=None)

    def page(template: str = "view.html.j2", csp: str = VIEW_CSP, **context: Any) -> HTMLResponse:
        html = env.get_template(template).render(**context)
        return HTMLResponse(html, headers={"Content-Security-Policy": csp,
                                           "X-Content-Type-Options": "nosniff",
                                           "Referrer-Policy": "no-referrer"})

    def reading() -> closing[ReadOnlyRunStore]:
        return closing(ReadOnlyRunStore(cache.db))

    def get_run(run_id: str) -> RunData:
        try:
            return cache.run(run_id)
        except MedsafeError as exc:
            raise HTTPException(404, str(exc)) from exc

    @app.get("/", response_class=HTMLResponse)
    def index() -> HTMLResponse:
        with reading() as ro:
            runs = [(r, label_progress(ro, r["run_id"])) for r in ro.list_runs()]
        overviews = [run_overview(r, RunData(cache.summary(r["run_id"]), []), progress)
                     for r, progress in runs]
        return page(mode="index", runs=overviews, store=str(cache.db))

    @app.get("/runs/{run_id}/label", response_class=HTMLResponse)
    def label_page(run_id: str) -> HTMLResponse:
        data = get_run(run_id)
        with reading() as ro:
            progress = label_progress(ro, run_id)
        return page("label.html.j2", LABEL_CSP, run=data, progress=progress)

    @app.get("/static/label.js")
    def label_script() -> Response:
        from importlib.resources import files

        script = files("medsafe.report").joinpath("templates/label.js").read_text("utf-8")
        return Response(script, media_type="text/javascript",
                        headers={"X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"})

    @app.get("/api/runs/{run_id}/label/queue")
    def api_label_queue(run_id: str, labeller: str = Query(..., min_length=1, max_length=80)
                        ) -> dict[str, Any]:
        with reading() as ro:
            try:
                return label_queue(ro, run_id, labeller)
            except MedsafeError as exc:
                raise HTTPException(404, str(exc)) from exc

    @app.post("/api/runs/{run_id}/labels")
    def api_save_label(run_id: str, label: LabelIn) -> dict[str, Any]:
        try:
            saved = save_label(cache.db, run_id, label)
        except MedsafeError as exc:
            raise HTTPException(404, str(exc)) from exc
        cache.forget(run_id)
        return saved

    @app.get("/runs/{run_id}", response_class=HTMLResponse)
    def run_page(run_id: str, suite: str = "", target: str = "", principle: str = "",
                 score: str = "", q: str = "", page_no: int = Query(1, alias="page", ge=1)
                 ) -> HTMLResponse:
        data = get_run(run_id)
        rows = filter_rows(data.rows, suite=suite, target=target, principle=principle,
                           score=score, q=q)
        pages = max(1, -(-len(rows) // PAGE_SIZE))
        page_no = min(page_no, pages)
        columns, card = merged_scorecard([data])
        return page(
            mode="run", run=data, columns=columns,
            scorecard=[{**r, "cells": [format_cell(r["metric"], r["values"].get(c))
                                       for c in columns]} for r in card],
            rows=rows[(page_no - 1) * PAGE_SIZE: page_no * PAGE_SIZE], total=len(data.rows),
            matched=len(rows), page_no=page_no, pages=pages,
            filters={"suite": suite, "target": target, "principle": principle, "score": score,
                     "q": q},
            options={"suites": sorted({str(r.get("suite")) for r in data.rows}),
                     "targets": data.targets,
                     "principles": sorted({str(r["principle"]) for r in data.rows
                                           if r.get("principle") is not None},
                                          key=lambda p: (len(p), p))},
        )

    @app.get("/runs/{run_id}/report", response_class=HTMLResponse)
    def run_report(run_id: str) -> HTMLResponse:
        get_run(run_id)
        return HTMLResponse(cache.report(run_id), headers={"X-Content-Type-Options": "nosniff"})

    @app.get("/api/runs")
    def api_runs() -> list[dict[str, Any]]:
        return cache.list_runs()

    @app.get("/api/runs/{run_id}/summary")
    def api_summary(run_id: str) -> dict[str, Any]:
        return get_run(run_id).summary

    @app.get("/api/runs/{run_id}/samples")
    def api_samples(run_id: str, suite: str = "", target: str = "", principle: str = "",
                    score: str = "", q: str = "", offset: int = Query(0, ge=0),
                    limit: int = Query(100, ge=1, le=1000)) -> dict[str, Any]:
        rows = filter_rows(get_run(run_id).rows, suite=suite, target=target,
                           principle=principle, score=score, q=q)
        return {"total": len(rows), "offset": offset, "rows": rows[offset: offset + limit]}

    return app


def free_port(host: str = DEFAULT_HOST) -> int:
    """A TCP port free on this host right now."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def serve(store: Path | None = None, host: str = DEFAULT_HOST, port: int = 8765) -> None:
    """Serve the run browser until interrupted."""
    import uvicorn

    uvicorn.run(create_app(store), host=host, port=port, log_level="warning")


@contextmanager
def running_view(store: Path | None = None, host: str = DEFAULT_HOST,
                 port: int | None = None) -> Iterator[str]:
    """The run browser served by uvicorn in a thread; yields its base URL."""
    import uvicorn

    port = port or free_port(host)
    server = uvicorn.Server(uvicorn.Config(create_app(store), host=host, port=port,
                                           log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"the run browser did not start on {host}:{port}")
        time.sleep(0.02)
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
