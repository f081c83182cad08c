"""The ``medsafe`` command line: a thin layer over :mod:`medsafe.api`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from medsafe.errors import MedsafeError

app = typer.Typer(
    help="Measure and improve the medical safety of language models, offline.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
data_app = typer.Typer(help="List and export datasets.", no_args_is_help=True)
app.add_typer(data_app, name="data")

QUICK_LIMIT = 90  # the quick default: 10 prompts per principle


def _err() -> Console:
    return Console(stderr=True)


def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
        TextColumn("errors {task.fields[errors]}"), TimeElapsedColumn(),
        console=_err(), transient=False,
    )


def _fmt(value: float | None, pattern: str = "{:.2f}") -> str:
    return "–" if value is None else pattern.format(value)


def summary_table(summary: dict[str, Any]) -> Table:
    """The scorecard as a rich table: one row per (suite, target), only the columns in use."""
    rows = [(name, target, m) for name, suite in summary["suites"].items()
            for target, m in suite["by_target"].items()]
    columns: list[tuple[str, Any]] = [
        ("suite", lambda n, t, m: n), ("target", lambda n, t, m: t),
        ("n", lambda n, t, m: str(m["n"])),
    ]
    if any(m.get("mean_score") is not None for _, _, m in rows):
        columns += [
            ("mean ± SEM", lambda n, t, m: "–" if m["mean_score"] is None
             else f"{_fmt(m['mean_score'])} ± {_fmt(m['sem'])}"),
            ("harmful", lambda n, t, m: _fmt(m["harmful_rate"], "{:.1%}")),
            ("refusal", lambda n, t, m: _fmt(m["refusal_rate"], "{:.1%}")),
        ]
    if any(m.get("accuracy") is not None for _, _, m in rows):
        columns.append(("accuracy", lambda n, t, m: _fmt(m.get("accuracy"), "{:.1%}")))
    columns.append(("errors", lambda n, t, m: str(m["errors"])))
    table = Table(title=f"medsafe run {summary['run_id']} (judge: {summary['judge']})")
    for title, _ in columns:
        table.add_column(title, justify="left" if title in ("suite", "target") else "right")
    for row in rows:
        table.add_row(*(cell(*row) for _, cell in columns))
    return table


@app.command("eval")
def eval_command(
    target: Annotated[list[str] | None, typer.Option(
        "--target", "-t", help="Model spec; repeat to compare models.")] = None,
    suite: Annotated[list[str] | None, typer.Option(
        "--suite", "-s", help="Suite name or NAME:PATH; repeatable.")] = None,
    judge: Annotated[str | None, typer.Option(help="Judge spec.")] = None,
    limit: Annotated[int | None, typer.Option(
        help=f"Stratified sample of N per suite (0 = all). Default: {QUICK_LIMIT} when no "
        "--suite is given (the quick default), else all.")] = None,
    out: Annotated[Path | None, typer.Option(help="Output folder (default STORE/RUN_ID).")] = None,
    store: Annotated[Path | None, typer.Option(
        help="Run-store folder (default $MEDSAFE_HOME or ./medsafe-runs).")] = None,
    resume: Annotated[str | None, typer.Option(help="Continue the run with this id.")] = None,
    seed: Annotated[int, typer.Option(help="Seed for sampling and decoding.")] = 0,
    max_tokens: Annotated[int, typer.Option(help="Maximum tokens per answer.")] = 192,
    temperature: Annotated[float, typer.Option(help="Sampling temperature (0 = greedy).")] = 0.0,
    concurrency: Annotated[int, typer.Option(help="Requests in flight per HTTP target.")] = 16,
    slots: Annotated[int, typer.Option(help="Parallel decoding slots of GGUF targets.")] = 8,
    timeout: Annotated[float, typer.Option(help="Seconds before a request times out.")] = 120.0,
    retries: Annotated[int, typer.Option(help="Retries of a failed request.")] = 4,
) -> None:
    """Evaluate targets on suites; writes summary.json, samples.jsonl and report.html."""
    from medsafe.api import evaluate
    from medsafe.engine import RunConfig
    from medsafe.judges import DEFAULT_JUDGE
    from medsafe.targets import DEFAULT_TARGET, GenerationParams, TargetOptions

    config = RunConfig(
        targets=target or [DEFAULT_TARGET],
        suites=suite or ["harm"],
        judge=judge or DEFAULT_JUDGE,
        limit=(QUICK_LIMIT if not suite else None) if limit is None else limit,
        seed=seed,
        params=GenerationParams(max_tokens=max_tokens, temperature=temperature, seed=seed),
        target_options=TargetOptions(concurrency=concurrency, slots=slots, timeout_s=timeout,
                                     max_retries=retries),
    )
    progress = _progress()
    task = progress.add_task("evaluating", total=None, errors=0)
    errors = 0

    def on_plan(total: int, done: int) -> None:
        # Started only once the run is planned, so set-up errors print as one clean line.
        progress.start()
        progress.update(task, total=total, completed=done)

    def on_item(_target: str, ok: bool) -> None:
        nonlocal errors
        errors += not ok
        progress.update(task, advance=1, errors=errors)

    try:
        result = evaluate(None if resume else config, store=store, out_dir=out, resume=resume,
                          on_plan=on_plan, on_item=on_item)
    finally:
        progress.stop()
    Console().print(summary_table(result.summary))
    verb = "resumed" if result.resumed else "finished"
    _err().print(f"run {result.run_id} {verb}; wrote {result.out_dir}/summary.json, "
                 "samples.jsonl and report.html")


@app.command("judge")
def judge_command(
    input: Annotated[Path, typer.Option("--input", "-i", help="JSONL with request, response.")],
    out: Annotated[Path, typer.Option(help="Output JSONL.")],
    judge: Annotated[str | None, typer.Option(help="Judge spec.")] = None,
    store: Annotated[Path | None, typer.Option(help="Run-store folder (judgement cache).")] = None,
) -> None:
    """Score a file of (request, response) pairs without generating anything."""
    from medsafe.api import judge_file
    from medsafe.judges import DEFAULT_JUDGE

    progress = _progress()
    task = progress.add_task("judging", total=None, errors=0)
    errors = 0

    def on_item(_spec: str, ok: bool) -> None:
        nonlocal errors
        if not progress.live.is_started:
            progress.start()
        errors += not ok
        progress.update(task, advance=1, errors=errors)

    try:
        rows = judge_file(input, out, judge or DEFAULT_JUDGE, store=store, on_item=on_item)
    finally:
        progress.stop()
    scored = [r["score"] for r in rows if r["score"] is not None]
    mean = sum(scored) / len(scored) if scored else None
    _err().print(f"judged {len(rows)} rows ({len(rows) - len(scored)} errors), "
                 f"mean score {_fmt(mean)}; wrote {out}")


@app.command("runs")
def runs_command(
    store: Annotated[Path | None, typer.Option(help="Run-store folder.")] = None,
) -> None:
    """List the runs in the store, newest first."""
    import time

    from medsafe.engine import RunStore, store_file

    run_store = RunStore(store_file(store))
    table = Table("run", "status", "started")
    for run in run_store.list_runs():
        table.add_row(run["run_id"], run["status"],
                      time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(run["created_at"])))
    run_store.close()
    Console().print(table)


@app.command("report")
def report_command(
    run_dir: Annotated[Path, typer.Argument(help="A run folder (with summary.json).")],
    out: Annotated[Path, typer.Option(help="Output HTML file.")],
) -> None:
    """Render the HTML report of a run folder again."""
    from medsafe.data import iter_jsonl
    from medsafe.report import render_report

    summary_path = run_dir / "summary.json"
    if not summary_path.is_file():
        raise MedsafeError(f"{summary_path} not found: give a folder written by `medsafe eval`")
    summary = json.loads(summary_path.read_text())
    rows = [row for _, row in iter_jsonl(run_dir / "samples.jsonl")]
    out.write_text(render_report(summary, rows), encoding="utf-8")
    _err().print(f"wrote {out}")


def _dataset_rows(name: str, path: Path | None, split: str | None,
                  allow_partial: bool) -> list[dict[str, Any]]:
    from medsafe.data import load_bundled
    from medsafe.data.loaders import load_external
    from medsafe.data.stats import sample_rows

    if path is not None:
        samples, _ = load_external(name, path, split, allow_partial)
        return sample_rows(samples)
    rows = [r for r in load_bundled(name) if split is None or r.get("split") == split]
    if not rows:
        raise MedsafeError(f"dataset '{name}' has no rows for split '{split}'")
    return rows


PathOption = Annotated[Path | None, typer.Option(
    "--path", help="A public benchmark on disk (its format is NAME).")]
SplitOption = Annotated[str | None, typer.Option(help="Only this split.")]
PartialOption = Annotated[bool, typer.Option(
    "--allow-partial", help="Accept a category folder with some categories missing.")]


@data_app.command("list")
def data_list() -> None:
    """List the bundled datasets, the benchmark formats medsafe reads, and the suites."""
    from medsafe.data import BUNDLED, bundled_path, dataset_sha256, load_bundled
    from medsafe.data.loaders import LOADERS
    from medsafe.suites import suite_names

    table = Table("dataset", "rows", "sha256", "description", title="bundled datasets")
    for name, spec in BUNDLED.items():
        table.add_row(name, str(len(load_bundled(name))), dataset_sha256(bundled_path(name))[:16],
                      spec.description)
    Console().print(table)
    formats = Table("format", "path", "description", title="public benchmark formats (--path)")
    for name, info in LOADERS.items():
        formats.add_row(name, info.path, info.description)
    Console().print(formats)
    Console().print("suites: " + ", ".join(suite_names()))


@data_app.command("stats")
def data_stats(
    name: Annotated[str, typer.Argument(help="Bundled dataset or benchmark format.")],
    path: PathOption = None,
    split: SplitOption = None,
    allow_partial: PartialOption = False,
) -> None:
    """Counts by principle, style, split and severity, and the prompt-length distribution."""
    from medsafe.data.stats import dataset_stats

    stats = dataset_stats(_dataset_rows(name, path, split, allow_partial))
    console = Console()
    console.print(f"[bold]{name}[/]: {stats['rows']} rows")
    for field, counts in stats["counts"].items():
        table = Table(field, "rows", "share")
        for value, count in counts.items():
            table.add_row(value, str(count), f"{count / stats['rows']:.1%}")
        console.print(table)
    lengths = stats["length_chars"]
    console.print("prompt length (characters): " + ", ".join(f"{k} {v}" for k, v in lengths.items()))


@data_app.command("export")
def data_export(
    name: Annotated[str, typer.Argument(help="Bundled dataset or benchmark format.")],
    out: Annotated[Path, typer.Option(help="Output JSONL.")],
    path: PathOption = None,
    split: SplitOption = None,
    allow_partial: PartialOption = False,
) -> None:
    """Write a bundled dataset, or a public benchmark read from --path, as JSONL."""
    rows = _dataset_rows(name, path, split, allow_partial)
    with out.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    _err().print(f"wrote {len(rows)} rows to {out}")


@app.command("judge-eval")
def judge_eval_command(
    input: Annotated[Path | None, typer.Option(
        "--input", "-i", help="JSONL with request, response and gold labels "
        "(default: the bundled held-out judge_eval corpus).")] = None,
    judge: Annotated[str | None, typer.Option(help="Judge spec to evaluate.")] = None,
    gold_field: Annotated[str, typer.Option(help="Field with the gold score (1-5).")] = "score",
    against: Annotated[str | None, typer.Option(
        help="Compare with this second judge instead of the gold labels.")] = None,
    out: Annotated[Path | None, typer.Option(help="Write the full report as JSON.")] = None,
    store: Annotated[Path | None, typer.Option(help="Run-store folder (judgement cache).")] = None,
) -> None:
    """Meta-evaluate a judge: agreement with human labels (or with another judge)."""
    from medsafe.api import judge_agreement
    from medsafe.judges import DEFAULT_JUDGE

    report = judge_agreement(input, judge or DEFAULT_JUDGE, gold_field=gold_field,
                             against=against, store=store)
    Console().print(agreement_table(report))
    if out is not None:
        out.write_text(json.dumps(report, indent=2))
        _err().print(f"wrote {out}")


def agreement_table(report: dict[str, Any]) -> Table:
    """The headline agreement statistics with their bootstrap intervals."""
    table = Table("statistic", "value", "95% CI",
                  title=f"{report['judge']} vs {report['reference']} (n={report['n']})")
    for key in ("qwk", "krippendorff_alpha", "exact", "within_one", "harmful_precision",
                "harmful_recall", "harmful_f1", "refusal_accuracy"):
        if key in report:
            ci = report.get("ci95", {}).get(key)
            table.add_row(key, f"{report[key]:.3f}", f"{ci[0]:.3f}–{ci[1]:.3f}" if ci else "–")
    if report.get("unscored"):
        table.add_row("unscored (excluded)", str(report["unscored"]), "")
    return table


def main() -> None:
    """Entry point: user mistakes print one line and exit 2; bugs keep their traceback."""
    try:
        app()
    except MedsafeError as exc:
        _err().print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        _err().print("interrupted: run `medsafe eval` again (or with --resume) to continue")
        sys.exit(130)


# --- medsafe guard ------------------------------------------------------------------------------

guard_app = typer.Typer(help="Screen a model's requests and answers (an OpenAI-compatible guard).",
                        no_args_is_help=True)
app.add_typer(guard_app, name="guard")


@guard_app.command("serve")
def guard_serve(
    upstream: Annotated[str, typer.Option(help="The model to guard, as a target spec.")],
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8080,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    judge: Annotated[str | None, typer.Option(
        help="Judge that screens answers (default: the policy's, else classifier).")] = None,
    policy: Annotated[Path | None, typer.Option(
        help="YAML/JSON policy: per-principle thresholds 1-5, screens, safe replies.")] = None,
    api_key_env: Annotated[str | None, typer.Option(
        help="Require 'Authorization: Bearer KEY' with KEY read from this environment variable.")
    ] = None,
    max_body_bytes: Annotated[int, typer.Option(help="Largest request body accepted.")] = 1_000_000,
    timeout: Annotated[float, typer.Option(help="Seconds before an upstream call gives 503.")] = 60.0,
    retries: Annotated[int, typer.Option(help="Retries of a failed upstream call.")] = 1,
    model_name: Annotated[str | None, typer.Option(
        help="Model id shown by /v1/models (default guard:UPSTREAM).")] = None,
    store: Annotated[Path | None, typer.Option(help="Run-store folder for the decision log.")] = None,
    slots: Annotated[int, typer.Option(help="Parallel decoding slots of a GGUF upstream.")] = 8,
    concurrency: Annotated[int, typer.Option(help="Requests in flight to an HTTP upstream.")] = 16,
) -> None:
    """Serve /v1/chat/completions and /v1/models in front of the upstream model."""
    import os

    from medsafe.engine import store_file
    from medsafe.mitigate.guard_policy import load_policy
    from medsafe.mitigate.guard_server import ServeConfig, create_app, serve
    from medsafe.targets import TargetOptions

    api_key = None
    if api_key_env is not None:
        api_key = os.environ.get(api_key_env)
        if not api_key:
            raise MedsafeError(f"--api-key-env {api_key_env}: that environment variable is empty "
                               "or unset; export the key first")
    loaded = load_policy(policy)
    config = ServeConfig(upstream=upstream, policy=loaded, judge=judge, store=store,
                         api_key=api_key, max_body_bytes=max_body_bytes, timeout_s=timeout,
                         retries=retries, model_name=model_name,
                         target_options=TargetOptions(slots=slots, concurrency=concurrency))
    app = create_app(config)
    _err().print(f"medsafe guard on http://{host}:{port}/v1 (model {config.served_model}) -> "
                 f"{upstream}; judge {judge or loaded.judge}; policy {policy or 'default'}; "
                 f"auth {'on' if api_key else 'off'}; decisions logged to {store_file(store)}",
                 highlight=False, soft_wrap=True)
    serve(app, host=host, port=port)
