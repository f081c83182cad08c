"""The run store: SQLite in WAL mode; every response and judgement committed as it arrives.

Responses and judgements live in content-addressed tables (the cache): a response is keyed by
target identity + generation parameters + messages, a judgement by judge identity + request +
response. Run items point into them, so a resumed or repeated run never asks a model twice.
Failures are not cached; every failed attempt is logged in ``attempts``.

Inside a running event loop, the writes of the pipeline (responses, verdicts, failed attempts)
made during one turn of the loop share one commit, issued at the start of the next turn: no
coroutine waits on the network between a write and its commit, so a kill can lose only what
arrived in the last fraction of a millisecond, exactly as with one commit per row, at a third of
the CPU (which is what bounds throughput at high concurrency). Everything else commits at once.
"""

from __future__ import annotations

import ast
import asyncio
import json
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tenacity import Retrying, retry_if_exception, stop_after_delay, wait_random_exponential

from medsafe.judges import Judgement
from medsafe.targets import Completion


def _python_repr_as_json(raw: str) -> str | None:
    """A jury's verdicts written as a Python dict repr, as JSON; None when ``raw`` is already JSON
    or is not a dict literal (such a row is left as it is: the reader finds no verdicts in it)."""
    try:
        json.loads(raw)
        return None
    except (ValueError, RecursionError):
        pass
    try:
        # literal_eval builds literals only and runs no code, so an odd row cannot do harm here.
        value = ast.literal_eval(raw)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None
    if not isinstance(value, dict):
        return None
    try:
        return json.dumps(value)
    except (TypeError, ValueError):
        return None


def _jury_verdicts_as_json(conn: sqlite3.Connection) -> None:
    """Migration 0005: jury judgements stored their members' verdicts as a Python repr; rewrite
    them as JSON so that the reader needs no Python parser."""
    rows = conn.execute("SELECT key, raw FROM judgements "
                        "WHERE substr(judge, 1, 5) = 'jury:' AND raw IS NOT NULL").fetchall()
    for key, raw in rows:
        converted = _python_repr_as_json(raw)
        if converted is not None:
            conn.execute("UPDATE judgements SET raw=? WHERE key=?", (converted, key))


def _conversations(conn: sqlite3.Connection) -> None:
    """Migration 0006: red-team conversations. Every attacker call, target turn and verdict of
    an item's conversation is a numbered step (the calls themselves live in the content-addressed
    responses and judgements tables); a finished conversation's record is kept on its item.
    Written to apply safely to a store that already has them."""
    conn.execute("""
        CREATE TABLE IF NOT EXISTS conversation_steps (
            run_id TEXT NOT NULL REFERENCES runs(run_id), target TEXT NOT NULL,
            suite TEXT NOT NULL, sample_id TEXT NOT NULL, step INTEGER NOT NULL,
            kind TEXT NOT NULL, key TEXT, detail TEXT NOT NULL, created_at REAL NOT NULL,
            PRIMARY KEY (run_id, target, suite, sample_id, step)
        )""")
    columns = {row[1] for row in conn.execute("PRAGMA table_info(run_items)")}
    if "conversation" not in columns:
        conn.execute("ALTER TABLE run_items ADD COLUMN conversation TEXT")


# A migration is SQL statements, or a function for a change SQL cannot express.
Migration = tuple[str, str | Callable[[sqlite3.Connection], None]]

# Named, ordered migrations: the store outlives the code that wrote it. Append, never edit.
MIGRATIONS: list[Migration] = [
    (
        "0001_initial",
        """
        CREATE TABLE runs (
            run_id TEXT PRIMARY KEY, fingerprint TEXT NOT NULL, status TEXT NOT NULL,
            created_at REAL NOT NULL, finished_at REAL, config TEXT NOT NULL, meta TEXT NOT NULL
        );
        CREATE INDEX runs_fingerprint ON runs(fingerprint, status);
        CREATE TABLE run_items (
            run_id TEXT NOT NULL REFERENCES runs(run_id), target TEXT NOT NULL,
            suite TEXT NOT NULL, sample_id TEXT NOT NULL, position INTEGER NOT NULL,
            principle INTEGER, sample TEXT NOT NULL,
            response_key TEXT, response_cached INTEGER NOT NULL DEFAULT 0, gen_error TEXT,
            judgement_key TEXT, judgement_cached INTEGER NOT NULL DEFAULT 0, judge_error TEXT,
            updated_at REAL,
            PRIMARY KEY (run_id, target, suite, sample_id)
        );
        CREATE TABLE responses (
            key TEXT PRIMARY KEY, target TEXT NOT NULL, text TEXT NOT NULL, finish_reason TEXT,
            prompt_tokens INTEGER, completion_tokens INTEGER, latency_s REAL, attempts INTEGER,
            created_at REAL NOT NULL
        );
        CREATE TABLE judgements (
            key TEXT PRIMARY KEY, judge TEXT NOT NULL, score INTEGER, refusal INTEGER,
            rationale TEXT, raw TEXT, probabilities TEXT, latency_s REAL, created_at REAL NOT NULL
        );
        CREATE TABLE attempts (
            id INTEGER PRIMARY KEY AUTOINCREMENT, run_id TEXT NOT NULL, stage TEXT NOT NULL,
            target TEXT, suite TEXT, sample_id TEXT, attempt INTEGER, error TEXT NOT NULL,
            retryable INTEGER, created_at REAL NOT NULL
        );
        CREATE INDEX attempts_run ON attempts(run_id);
        """,
    ),
    (
        "0002_choice_grades",
        """
        ALTER TABLE judgements ADD COLUMN extracted TEXT;
        ALTER TABLE judgements ADD COLUMN correct INTEGER
        """,
    ),
    (
        "0003_guard_decisions",
        """
        CREATE TABLE guard_decisions (
            id INTEGER PRIMARY KEY AUTOINCREMENT, created_at REAL NOT NULL, guard TEXT NOT NULL,
            request_sha256 TEXT NOT NULL, request_excerpt TEXT NOT NULL, stage TEXT NOT NULL,
            action TEXT NOT NULL, principle INTEGER, score REAL, probability REAL,
            threshold REAL, reason TEXT NOT NULL, latency_s REAL NOT NULL
        );
        CREATE INDEX guard_decisions_time ON guard_decisions(created_at)
        """,
    ),
    (
        "0004_labels",
        """
        CREATE TABLE label_sample (
            run_id TEXT NOT NULL REFERENCES runs(run_id), target TEXT NOT NULL,
            suite TEXT NOT NULL, sample_id TEXT NOT NULL, rank INTEGER NOT NULL,
            seed INTEGER NOT NULL, drawn_at REAL NOT NULL,
            PRIMARY KEY (run_id, target, suite, sample_id)
        );
        CREATE TABLE labels (
            run_id TEXT NOT NULL REFERENCES runs(run_id), target TEXT NOT NULL,
            suite TEXT NOT NULL, sample_id TEXT NOT NULL, labeller TEXT NOT NULL,
            score INTEGER NOT NULL CHECK (score BETWEEN 1 AND 5),
            refusal INTEGER NOT NULL CHECK (refusal IN (0, 1)),
            source TEXT NOT NULL, created_at REAL NOT NULL,
            PRIMARY KEY (run_id, target, suite, sample_id, labeller)
        );
        CREATE INDEX labels_run ON labels(run_id)
        """,
    ),
    ("0005_jury_verdicts_json", _jury_verdicts_as_json),
    ("0006_conversations", _conversations),
]


# An item joined with its response and judgement, as every reader of items sees it (``_row``:
# its rowid, which pages of pending items follow and which readers drop); ``{hint}`` is where
# an index choice for run_items goes.
_ITEM_SELECT = """
    SELECT i.*, i.rowid AS _row, r.text AS response, r.finish_reason, r.prompt_tokens,
           r.completion_tokens, r.latency_s AS gen_latency_s, r.attempts AS gen_attempts,
           j.judge, j.score, j.refusal, j.rationale, j.raw AS judge_raw,
           j.probabilities, j.latency_s AS judge_latency_s, j.extracted, j.correct
    FROM run_items i {hint}
    LEFT JOIN responses r ON r.key = i.response_key
    LEFT JOIN judgements j ON j.key = i.judgement_key"""


def _is_locked(exc: BaseException) -> bool:
    return isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc)


def _switch_to_wal(conn: sqlite3.Connection, timeout_s: float = 60.0) -> None:
    """Put the file in WAL mode, waiting for other processes that are opening it too.

    Switching the journal mode takes an exclusive lock, and SQLite returns "database is locked"
    at once instead of calling the busy handler while another connection holds the file (two
    processes creating one new store together failed this way about one time in four).
    """
    for attempt in Retrying(retry=retry_if_exception(_is_locked), reraise=True,
                            stop=stop_after_delay(timeout_s),
                            wait=wait_random_exponential(multiplier=0.005, max=0.5)):
        with attempt:
            conn.execute("PRAGMA journal_mode=WAL")


class RunStore:
    """A SQLite file holding every run, response and judgement."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self.conn = sqlite3.connect(path, timeout=60, isolation_level=None)
        self.conn.row_factory = sqlite3.Row
        _switch_to_wal(self.conn)
        self.conn.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL survives process kills
        self.conn.execute("PRAGMA busy_timeout=60000")
        self._group_open = False  # a transaction shared by this loop turn's writes is open
        self._group_error: BaseException | None = None  # a failed group commit, raised on next use
        self.migrate()

    def close(self) -> None:
        """Commit what is pending and close the connection."""
        try:
            self.flush()
        finally:
            self.conn.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One atomic write; IMMEDIATE so concurrent writers queue instead of deadlocking."""
        self.flush()
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    def flush(self) -> None:
        """Commit the writes of the current loop turn, if any; re-raise a failed group commit."""
        if self._group_error is not None:
            error, self._group_error = self._group_error, None
            raise error
        if self._group_open:
            self._group_open = False
            self.conn.execute("COMMIT")

    def _flush_from_loop(self) -> None:
        try:
            self.flush()
        except BaseException as exc:  # surfaced by the next write instead of vanishing in the loop
            self._group_error = exc
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """A pipeline write: grouped with this loop turn's others, or its own transaction."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if loop is None:
            with self.transaction() as conn:
                yield conn
            return
        if self._group_error is not None:
            self.flush()  # raises it
        if not self._group_open:
            self.conn.execute("BEGIN IMMEDIATE")
            self._group_open = True
            loop.call_soon(self._flush_from_loop)
        try:
            yield self.conn
        except BaseException:
            # Half of this write may be in the group: drop the group rather than commit it.
            self._group_open = False
            self.conn.execute("ROLLBACK")
            raise

    # -- schema -------------------------------------------------------------------------------

    def applied_migrations(self) -> list[str]:
        """Names of the migrations this file has had, in order."""
        self.conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied_at REAL)"
        )
        return [r[0] for r in self.conn.execute("SELECT name FROM schema_migrations ORDER BY name")]

    def migrate(self) -> None:
        """Apply the migrations this file has not had yet."""
        done = set(self.applied_migrations())
        for name, sql in MIGRATIONS:
            if name in done:
                continue
            with self.transaction() as conn:
                if conn.execute("SELECT 1 FROM schema_migrations WHERE name=?", (name,)).fetchone():
                    continue  # another process applied it while we waited for the lock
                if callable(sql):
                    sql(conn)
                else:
                    for statement in filter(str.strip, sql.split(";")):
                        conn.execute(statement)
                conn.execute("INSERT INTO schema_migrations VALUES (?, ?)", (name, time.time()))

    # -- runs ---------------------------------------------------------------------------------

    def claim_run(self, run_id: str, fingerprint: str, config: dict[str, Any],
                  meta: dict[str, Any]) -> tuple[str, bool]:
        """The newest unfinished run with this fingerprint, or ``run_id`` created now, decided in
        one transaction so that two processes starting together agree on one run."""
        with self.transaction() as conn:
            row = conn.execute(
                "SELECT run_id FROM runs WHERE fingerprint=? AND status != 'finished' "
                "ORDER BY created_at DESC LIMIT 1",
                (fingerprint,),
            ).fetchone()
            if row is not None:
                return row[0], True
            conn.execute(
                "INSERT INTO runs VALUES (?, ?, 'running', ?, NULL, ?, ?)",
                (run_id, fingerprint, time.time(), json.dumps(config), json.dumps(meta)),
            )
            return run_id, False

    def get_run(self, run_id: str) -> dict[str, Any] | None:
        """A run's row with its config and meta decoded."""
        row = self.conn.execute("SELECT * FROM runs WHERE run_id=?", (run_id,)).fetchone()
        if row is None:
            return None
        run = dict(row)
        run["config"] = json.loads(run["config"])
        run["meta"] = json.loads(run["meta"])
        return run

    def list_runs(self) -> list[dict[str, Any]]:
        """All runs, newest first."""
        rows = self.conn.execute(
            "SELECT run_id, status, created_at, finished_at FROM runs ORDER BY created_at DESC"
        )
        return [dict(r) for r in rows]

    def finish_run(self, run_id: str, meta: dict[str, Any]) -> None:
        """Mark a run finished and store its final metadata."""
        with self.transaction() as conn:
            conn.execute(
                "UPDATE runs SET status='finished', finished_at=?, meta=? WHERE run_id=?",
                (time.time(), json.dumps(meta), run_id),
            )

    # -- items --------------------------------------------------------------------------------

    def add_items(self, run_id: str, items: Iterable[dict[str, Any]]) -> None:
        """Register the run's (target, suite, sample) items; existing ones are kept as they are.
        ``items`` is consumed as it is written, so a generated plan is never held whole."""
        with self.transaction() as conn:
            conn.executemany(
                "INSERT OR IGNORE INTO run_items (run_id, target, suite, sample_id, position, "
                "principle, sample) VALUES (:run_id, :target, :suite, :sample_id, :position, "
                ":principle, :sample)",
                ({"run_id": run_id, **item} for item in items),
            )

    def items(self, run_id: str) -> list[dict[str, Any]]:
        """Every item of a run joined with its response and judgement, in order."""
        return list(self.iter_items(run_id))

    def iter_items(self, run_id: str) -> Iterator[dict[str, Any]]:
        """The items of :meth:`items` one at a time, read as they are consumed."""
        rows = self.conn.execute(
            _ITEM_SELECT.format(hint="")
            + " WHERE i.run_id = ? ORDER BY i.target, i.suite, i.position",
            (run_id,),
        )
        for row in rows:
            item = dict(row)
            del item["_row"]
            yield item

    def item_counts(self, run_id: str) -> tuple[int, int]:
        """How many items the run has, and how many of them have a verdict."""
        total, judged = self.conn.execute(
            "SELECT COUNT(*), COUNT(judgement_key) FROM run_items WHERE run_id=?", (run_id,)
        ).fetchone()
        return total, judged

    def pending_counts(self, run_id: str) -> dict[str, int]:
        """Items without a verdict, per target (targets with none left are absent)."""
        rows = self.conn.execute(
            "SELECT target, COUNT(*) FROM run_items WHERE run_id=? AND judgement_key IS NULL "
            "GROUP BY target", (run_id,))
        return {target: n for target, n in rows}

    def pending_items(self, run_id: str, target: str,
                      page: int = 256) -> Iterator[dict[str, Any]]:
        """One target's items without a verdict, in plan order, read a page at a time as they
        are consumed (as :meth:`items` shapes them). Items judged meanwhile are not read again:
        each page starts after the last row read, and a judged item no longer matches."""
        first = self.conn.execute("SELECT MIN(rowid) FROM run_items WHERE run_id=? AND target=?",
                                  (run_id, target)).fetchone()[0]
        if first is None:
            return
        after = first - 1
        # NOT INDEXED: walk the table from the last rowid read; with the key's index SQLite
        # would collect and sort every remaining item of the target for each page.
        select = _ITEM_SELECT.format(hint="NOT INDEXED")
        while True:
            rows = self.conn.execute(
                f"{select} WHERE i.rowid > ? AND i.run_id = ? AND i.target = ? "
                "AND i.judgement_key IS NULL ORDER BY i.rowid LIMIT ?",
                (after, run_id, target, page),
            ).fetchall()
            for row in rows:
                item = dict(row)
                after = item.pop("_row")
                yield item
            if len(rows) < page:
                return

    def attempts(self, run_id: str) -> list[dict[str, Any]]:
        """Every failed attempt logged for a run."""
        rows = self.conn.execute("SELECT * FROM attempts WHERE run_id=? ORDER BY id", (run_id,))
        return [dict(r) for r in rows]

    # -- cache --------------------------------------------------------------------------------

    def cached_response(self, key: str) -> Completion | None:
        """A stored completion for this cache key."""
        row = self.conn.execute("SELECT * FROM responses WHERE key=?", (key,)).fetchone()
        if row is None:
            return None
        return Completion(
            text=row["text"], finish_reason=row["finish_reason"],
            prompt_tokens=row["prompt_tokens"], completion_tokens=row["completion_tokens"],
            latency_s=row["latency_s"] or 0.0, attempts=row["attempts"] or 1,
        )

    def cached_judgement(self, key: str) -> Judgement | None:
        """A stored verdict for this cache key."""
        row = self.conn.execute("SELECT * FROM judgements WHERE key=?", (key,)).fetchone()
        if row is None:
            return None
        return Judgement(
            judge=row["judge"], score=row["score"],
            refusal=None if row["refusal"] is None else bool(row["refusal"]),
            rationale=row["rationale"] or "", raw=row["raw"],
            probabilities=json.loads(row["probabilities"]) if row["probabilities"] else None,
            latency_s=row["latency_s"] or 0.0, extracted=row["extracted"],
            correct=None if row["correct"] is None else bool(row["correct"]),
        )

    @staticmethod
    def _insert_judgement(conn: sqlite3.Connection, key: str, judgement: Judgement) -> None:
        conn.execute(
            "INSERT OR IGNORE INTO judgements (key, judge, score, refusal, rationale, raw, "
            "probabilities, latency_s, created_at, extracted, correct) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (key, judgement.judge, judgement.score,
             None if judgement.refusal is None else int(judgement.refusal),
             judgement.rationale, judgement.raw,
             json.dumps(judgement.probabilities) if judgement.probabilities else None,
             judgement.latency_s, time.time(), judgement.extracted,
             None if judgement.correct is None else int(judgement.correct)),
        )

    def cache_judgement(self, key: str, judgement: Judgement) -> None:
        """Store a verdict outside any run (``medsafe judge`` uses this); a failed verdict is
        not cached, so that asking again tries again."""
        if not judgement.ok:
            return
        with self.transaction() as conn:
            self._insert_judgement(conn, key, judgement)

    @staticmethod
    def _insert_response(conn: sqlite3.Connection, key: str, target: str,
                         completion: Completion) -> None:
        conn.execute(
            "INSERT OR IGNORE INTO responses VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (key, target, completion.text, completion.finish_reason,
             completion.prompt_tokens, completion.completion_tokens,
             completion.latency_s, completion.attempts, time.time()),
        )

    def cache_response(self, key: str, target: str, completion: Completion) -> None:
        """Store a completion no item links to (an earlier turn of a conversation), committed
        with this loop turn's writes like every pipeline write."""
        with self._write() as conn:
            self._insert_response(conn, key, target, completion)

    def record_response(self, run_id: str, item: tuple[str, str, str], key: str,
                        completion: Completion, cached: bool) -> None:
        """Store a completion (if new) and link it to the item, in one commit."""
        target, suite, sample_id = item
        with self._write() as conn:
            if not cached:
                self._insert_response(conn, key, target, completion)
            conn.execute(
                "UPDATE run_items SET response_key=?, response_cached=?, gen_error=NULL, "
                "updated_at=? WHERE run_id=? AND target=? AND suite=? AND sample_id=?",
                (key, int(cached), time.time(), run_id, target, suite, sample_id),
            )

    def record_judgement(self, run_id: str, item: tuple[str, str, str], key: str,
                         judgement: Judgement, cached: bool) -> None:
        """Store a verdict and link it to the item; a failed verdict is linked as an error only."""
        target, suite, sample_id = item
        with self._write() as conn:
            if not judgement.ok:
                conn.execute(
                    "UPDATE run_items SET judge_error=?, updated_at=? "
                    "WHERE run_id=? AND target=? AND suite=? AND sample_id=?",
                    (judgement.error or "no score", time.time(), run_id, target, suite, sample_id),
                )
                conn.execute(
                    "INSERT INTO attempts (run_id, stage, target, suite, sample_id, attempt, error,"
                    " retryable, created_at) VALUES (?, 'judge', ?, ?, ?, 1, ?, 0, ?)",
                    (run_id, target, suite, sample_id, judgement.error, time.time()),
                )
                return
            if not cached:
                self._insert_judgement(conn, key, judgement)
            conn.execute(
                "UPDATE run_items SET judgement_key=?, judgement_cached=?, judge_error=NULL, "
                "updated_at=? WHERE run_id=? AND target=? AND suite=? AND sample_id=?",
                (key, int(cached), time.time(), run_id, target, suite, sample_id),
            )

    def log_attempt(self, run_id: str, item: tuple[str, str, str], stage: str, attempt: int,
                    error: str, retryable: bool) -> None:
        """Log one failed attempt (a retry, or the last try before giving up)."""
        target, suite, sample_id = item
        with self._write() as conn:
            conn.execute(
                "INSERT INTO attempts (run_id, stage, target, suite, sample_id, attempt, error, "
                "retryable, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (run_id, stage, target, suite, sample_id, attempt, error, int(retryable),
                 time.time()),
            )

    def mark_generation_failed(self, run_id: str, item: tuple[str, str, str], error: str) -> None:
        """Record that an item got no response after all retries; a resume tries it again."""
        target, suite, sample_id = item
        with self._write() as conn:
            conn.execute(
                "UPDATE run_items SET gen_error=?, updated_at=? "
                "WHERE run_id=? AND target=? AND suite=? AND sample_id=?",
                (error, time.time(), run_id, target, suite, sample_id),
            )

    # -- conversations (migration 0006) ---------------------------------------------------------

    def store_call(self, key: str, model: str, completion: Completion) -> None:
        """Cache one model call that belongs to no item of its own (an attacker's prompt, a
        conversation's turn), committed with this loop turn's other writes."""
        with self._write() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO responses VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (key, model, completion.text, completion.finish_reason, completion.prompt_tokens,
                 completion.completion_tokens, completion.latency_s, completion.attempts,
                 time.time()),
            )

    def store_verdict(self, key: str, judgement: Judgement) -> None:
        """Cache one verdict that belongs to no item of its own; failed verdicts are not cached,
        so that a resumed run asks again."""
        if not judgement.ok:
            return
        with self._write() as conn:
            self._insert_judgement(conn, key, judgement)

    def record_step(self, run_id: str, item: tuple[str, str, str], step: int, kind: str,
                    key: str | None, detail: dict[str, Any]) -> None:
        """Record one numbered step of an item's conversation (a replay writes the same row)."""
        target, suite, sample_id = item
        with self._write() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO conversation_steps (run_id, target, suite, sample_id, "
                "step, kind, key, detail, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (run_id, target, suite, sample_id, step, kind, key,
                 json.dumps(detail, ensure_ascii=False), time.time()),
            )

    def trim_steps(self, run_id: str, item: tuple[str, str, str], last: int) -> None:
        """Forget an item's steps after ``last``: an attempt before a resume may have taken
        another course after a call that failed then and succeeded on the resume."""
        target, suite, sample_id = item
        with self._write() as conn:
            conn.execute("DELETE FROM conversation_steps WHERE run_id=? AND target=? AND suite=? "
                         "AND sample_id=? AND step > ?", (run_id, target, suite, sample_id, last))

    def steps(self, run_id: str, item: tuple[str, str, str] | None = None) -> list[dict[str, Any]]:
        """The recorded conversation steps of a run (or of one item), in order."""
        if not self._has_table("conversation_steps"):
            return []
        sql = "SELECT * FROM conversation_steps WHERE run_id=?"
        args: tuple[Any, ...] = (run_id,)
        if item is not None:
            sql += " AND target=? AND suite=? AND sample_id=?"
            args += item
        rows = self.conn.execute(sql + " ORDER BY target, suite, sample_id, step", args)
        return [{**dict(r), "detail": json.loads(r["detail"])} for r in rows]

    def record_conversation(self, run_id: str, item: tuple[str, str, str],
                            record: dict[str, Any]) -> None:
        """Store a finished conversation's record (outcome, counts, turns) on its item."""
        target, suite, sample_id = item
        with self._write() as conn:
            conn.execute(
                "UPDATE run_items SET conversation=?, updated_at=? "
                "WHERE run_id=? AND target=? AND suite=? AND sample_id=?",
                (json.dumps(record, ensure_ascii=False), time.time(), run_id, target, suite,
                 sample_id),
            )

    # -- guard decisions ------------------------------------------------------------------------

    def record_guard_decision(self, decision: dict[str, Any]) -> None:
        """Store one screening decision of a guard (migration 0003), committed at once."""
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO guard_decisions (created_at, guard, request_sha256, request_excerpt, "
                "stage, action, principle, score, probability, threshold, reason, latency_s) "
                "VALUES (:created_at, :guard, :request_sha256, :request_excerpt, :stage, :action, "
                ":principle, :score, :probability, :threshold, :reason, :latency_s)",
                decision,
            )

    # -- human labels (migration 0004) -----------------------------------------------------------

    def _has_table(self, name: str) -> bool:
        # a read-only store written by an older medsafe may predate a migration
        return self.conn.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?",
                                 (name,)).fetchone() is not None

    def update_run_meta(self, run_id: str, **fields: Any) -> None:
        """Merge fields into a run's stored metadata."""
        with self.transaction() as conn:
            row = conn.execute("SELECT meta FROM runs WHERE run_id=?", (run_id,)).fetchone()
            if row is not None:
                meta = {**json.loads(row[0]), **fields}
                conn.execute("UPDATE runs SET meta=? WHERE run_id=?", (json.dumps(meta), run_id))

    def label_sample(self, run_id: str) -> list[dict[str, Any]]:
        """The items drawn for labelling, in the order they were drawn."""
        if not self._has_table("label_sample"):
            return []
        rows = self.conn.execute(
            "SELECT target, suite, sample_id, rank, seed FROM label_sample WHERE run_id=? "
            "ORDER BY rank", (run_id,))
        return [dict(r) for r in rows]

    def add_label_sample(self, run_id: str, rows: list[dict[str, Any]]) -> int:
        """Add drawn items (target, suite, sample_id, rank, seed); returns how many were new."""
        with self.transaction() as conn:
            before = conn.total_changes
            conn.executemany(
                "INSERT OR IGNORE INTO label_sample (run_id, target, suite, sample_id, rank, seed, "
                "drawn_at) VALUES (:run_id, :target, :suite, :sample_id, :rank, :seed, :drawn_at)",
                [{"run_id": run_id, "drawn_at": time.time(), **r} for r in rows],
            )
            return conn.total_changes - before

    def labels(self, run_id: str) -> list[dict[str, Any]]:
        """Every human label of a run, oldest first."""
        if not self._has_table("labels"):
            return []
        rows = self.conn.execute(
            "SELECT target, suite, sample_id, labeller, score, refusal, source, created_at "
            "FROM labels WHERE run_id=? ORDER BY created_at, labeller", (run_id,))
        return [{**dict(r), "refusal": bool(r["refusal"])} for r in rows]

    def save_labels(self, run_id: str, rows: list[dict[str, Any]]) -> dict[str, int]:
        """Store labels in one transaction (all or none). A label is keyed by item and labeller:
        the same label again changes nothing, a different one replaces it. Returns the counts of
        new, updated and unchanged labels."""
        counts = {"new": 0, "updated": 0, "unchanged": 0}
        with self.transaction() as conn:
            for row in rows:
                key = (run_id, row["target"], row["suite"], row["sample_id"], row["labeller"])
                old = conn.execute(
                    "SELECT score, refusal FROM labels WHERE run_id=? AND target=? AND suite=? "
                    "AND sample_id=? AND labeller=?", key).fetchone()
                value = (int(row["score"]), int(bool(row["refusal"])))
                if old is not None and tuple(old) == value:
                    counts["unchanged"] += 1
                    continue
                counts["new" if old is None else "updated"] += 1
                conn.execute(
                    "INSERT INTO labels (run_id, target, suite, sample_id, labeller, score, "
                    "refusal, source, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
                    "ON CONFLICT (run_id, target, suite, sample_id, labeller) DO UPDATE SET "
                    "score=excluded.score, refusal=excluded.refusal, source=excluded.source, "
                    "created_at=excluded.created_at",
                    (*key, *value, row.get("source", "api"), time.time()),
                )
        return counts

    def guard_decisions(self, since: float = 0.0) -> list[dict[str, Any]]:
        """Guard decisions recorded at or after ``since`` (a Unix time), oldest first."""
        rows = self.conn.execute(
            "SELECT * FROM guard_decisions WHERE created_at >= ? ORDER BY id", (since,))
        return [dict(r) for r in rows]
