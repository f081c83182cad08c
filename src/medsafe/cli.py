"""The ``medsafe`` command line: a thin layer over :mod:`medsafe.api`."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from contextlib import closing
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

QUICK_LIMIT = 90  # the quick default: 10 prompts per principle (as medsafe.runfile.QUICK_LIMIT)


def _err() -> Console:
    return Console(stderr=True)


def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
        TextColumn("errors {task.fields[errors]}"), TimeElapsedColumn(),
        console=_err(), transient=False,
    )


class ItemProgress:
    """A progress bar of processed items that counts the failed ones.

    It starts with the first plan or item, so set-up errors print as one clean line;
    ``before_start`` runs just before (e.g. to stop a previous bar).
    """

    def __init__(self, description: str, before_start: Callable[[], None] | None = None) -> None:
        self.bar = _progress()
        self._task = self.bar.add_task(description, total=None, errors=0)
        self._errors = 0
        self._before_start = before_start

    def _start(self) -> None:
        if not self.bar.live.is_started:
            if self._before_start is not None:
                self._before_start()
            self.bar.start()

    def on_plan(self, total: int, done: int) -> None:
        """The run is planned: ``total`` items, ``done`` of them already stored."""
        self._start()
        self.bar.update(self._task, total=total, completed=done)

    def on_item(self, _target: str, ok: bool) -> None:
        """One item finished, successfully or not."""
        self._start()
        self._errors += not ok
        self.bar.update(self._task, advance=1, errors=self._errors)

    def stop(self) -> None:
        """Stop drawing the bar."""
        self.bar.stop()


def _fmt(value: float | None, pattern: str = "{:.2f}") -> str:
    return "–" if value is None else pattern.format(value)


def summary_table(summary: dict[str, Any]) -> Table:
    """The scorecard as a rich table: one row per suite metric, one column per target."""
    from medsafe.report.scorecard import format_cell, scorecard

    targets = summary["targets"]
    table = Table(title=f"medsafe run {summary['run_id']} (judge: {summary['judge']})",
                  caption="95% intervals in parentheses; ↓ lower is better, ↑ higher is better")
    table.add_column("suite")
    table.add_column("metric")
    for target in targets:
        table.add_column(target, justify="right")
    rows = scorecard(summary)
    for name, suite in summary["suites"].items():
        for row in (r for r in rows if r["suite"] == name):
            arrow = "↓" if row["better"] == "lower" else "↑"
            table.add_row(name, f"{row['label']} {arrow}",
                          *(format_cell(row["metric"], row["values"].get(t)) for t in targets))
        table.add_row(name, "scored / errors",
                      *(f"{m.get('scored', m['n'])} / {m['errors']}" for m in suite["by_target"].values()),
                      style="dim", end_section=True)
    return table


def parse_limits(values: list[str]) -> tuple[int | None, dict[str, int]]:
    """``--limit`` values: a plain N for every suite, SUITE=N for one."""
    overall: int | None = None
    per_suite: dict[str, int] = {}
    for value in values:
        name, _, number = value.rpartition("=")
        if not (number.isascii() and number.isdigit()):  # int() refuses '²'
            raise MedsafeError(f"--limit {value}: use a number N or SUITE=N")
        if name:
            per_suite[name] = int(number)
        else:
            overall = int(number)
    return overall, per_suite


def check_budgets(max_turns: int | None, max_queries: int | None) -> None:
    """A red-team budget below one is a one-line error naming the option."""
    for flag, value in (("--max-turns", max_turns), ("--max-queries", max_queries)):
        if value is not None and value < 1:
            raise MedsafeError(f"{flag} {value}: a budget must be at least 1")


@app.command("eval")
def eval_command(
    target: Annotated[list[str] | None, typer.Option(
        "--target", "-t", help="Model spec; repeat to compare models.")] = None,
    suite: Annotated[list[str] | None, typer.Option(
        "--suite", "-s", help="Suite name or NAME:PATH; repeatable.")] = None,
    judge: Annotated[str | None, typer.Option(help="Judge spec.")] = None,
    limit: Annotated[list[str] | None, typer.Option(
        help=f"Stratified sample of N per suite (0 = all), or SUITE=N for one suite; repeatable. "
        f"Default: {QUICK_LIMIT} when no --suite is given (the quick default), else all.")] = None,
    out: Annotated[Path | None, typer.Option(help="Output folder (default STORE/RUN_ID).")] = None,
    store: Annotated[Path | None, typer.Option(
        help="Run-store folder (default $MEDSAFE_HOME or ./medsafe-runs).")] = None,
    resume: Annotated[str | None, typer.Option(help="Continue the run with this id.")] = None,
    seed: Annotated[int | None, typer.Option(
        help="Seed for sampling and decoding.", show_default="0")] = None,
    max_tokens: Annotated[int | None, typer.Option(
        help="Maximum tokens per answer.", show_default="192")] = None,
    temperature: Annotated[float | None, typer.Option(
        help="Sampling temperature (0 = greedy).", show_default="0.0")] = None,
    concurrency: Annotated[int | None, typer.Option(
        help="Requests in flight per HTTP target.", show_default="16")] = None,
    slots: Annotated[int | None, typer.Option(
        help="Parallel decoding slots of GGUF targets.", show_default="8")] = None,
    threads: Annotated[int | None, typer.Option(
        help="CPU threads of GGUF targets (default: the cores left idle by other work when the "
        "model starts, at least 1; llama.cpp's threads wait for one another, so one on a busy "
        "core stalls them all).")] = None,
    poll: Annotated[int | None, typer.Option(
        help="llama.cpp's busy-wait level of GGUF targets, 0-100 (default: the runtime's, 50).")
    ] = None,
    timeout: Annotated[float | None, typer.Option(
        help="Seconds before a request times out.", show_default="120.0")] = None,
    retries: Annotated[int | None, typer.Option(
        help="Retries of a failed request.", show_default="4")] = None,
    backend: Annotated[str | None, typer.Option(
        help="Where generation and judging run: local, or ray (workers each holding their own "
        "target and judge; needs the ray extra).", show_default="local")] = None,
    ray_address: Annotated[str | None, typer.Option(
        help="Ray cluster to join, HOST:PORT (default: the RAY_ADDRESS variable, else Ray's "
        "default: a cluster started with `ray start` here, or a new local instance).")] = None,
    config: Annotated[Path | None, typer.Option(
        "--config", "-c", help="Run file (YAML) describing the run; options given here "
        "override its keys.")] = None,
    print_config: Annotated[bool, typer.Option(
        "--print-config", help="Print the effective run file (file + options + defaults) and "
        "exit without running.")] = False,
    gate: Annotated[list[str] | None, typer.Option(
        "--gate", help="Condition on a scorecard metric checked per target, e.g. "
        "'harm.harmful_rate <= 0.05' or 'harm.harmful_rate.ci_high < 10%'; exit status 1 when "
        "one fails; repeatable (replaces the run file's gates).")] = None,
    junit: Annotated[Path | None, typer.Option(
        help="Write the gate results as JUnit XML (one test case per gate and target).")] = None,
    attacker: Annotated[str | None, typer.Option(
        help="Attacker model of the redteam:STRATEGY suites, as a target spec "
        "(default embedded:smollm2).")] = None,
    max_turns: Annotated[int | None, typer.Option(
        help="Red-team budget: turns kept per request (default 5).")] = None,
    max_queries: Annotated[int | None, typer.Option(
        help="Red-team budget: calls to the target per request (default 10).")] = None,
    report_samples: Annotated[int | None, typer.Option(
        help="Samples report.html embeds: every failure first, then a random sample of the "
        "rest (0 = all; samples.jsonl and `medsafe view` have every one).",
        show_default="2000")] = None,
) -> None:
    """Evaluate targets on suites; writes summary.json, samples.jsonl and report.html."""
    from medsafe.api import check_run_gates, evaluate, stored_config
    from medsafe.runfile import effective_run_file, execution_options, run_config

    overall, per_suite = parse_limits(limit or [])
    if config is not None and resume:
        raise MedsafeError("--resume continues a stored run with its own configuration; "
                           "drop --config (gates can be given with --gate)")
    check_budgets(max_turns, max_queries)
    options = {"targets": target, "suites": suite, "judge": judge, "limit": overall, "seed": seed,
               "max_tokens": max_tokens, "temperature": temperature, "concurrency": concurrency,
               "slots": slots, "threads": threads, "poll": poll, "timeout": timeout, "retries": retries,
               "backend": backend, "ray_address": ray_address,
               "attacker": attacker, "max_turns": max_turns, "max_queries": max_queries,
               "store": None if store is None else str(store),
               "out": None if out is None else str(out), "gates": gate,
               "junit": None if junit is None else str(junit), "report_samples": report_samples}
    run_file = effective_run_file(config, options, per_suite)
    if print_config:
        Console().print(run_file.as_yaml(), end="", highlight=False, markup=False, soft_wrap=True)
        return
    gates = run_file.gate_list()
    store_path = Path(run_file.store) if run_file.store else None
    run = stored_config(resume, store_path) if resume else run_config(run_file)
    check_run_gates(gates, run)  # a bad gate fails here, before any model is loaded or called
    progress = ItemProgress("evaluating")
    try:
        result = evaluate(None if resume else run, store=store_path,
                          out_dir=Path(run_file.out) if run_file.out else None, resume=resume,
                          on_plan=progress.on_plan, on_item=progress.on_item,
                          execution=execution_options(run_file),
                          run_file=run_file.as_data(), report_samples=run_file.report_samples)
    except KeyboardInterrupt:  # caught here: typer turns it into a silent exit 130 otherwise
        progress.stop()
        _err().print("interrupted: run the same command again, or `medsafe eval --resume RUN_ID` "
                     "(see `medsafe runs`), to continue")
        sys.exit(130)
    finally:
        progress.stop()
    Console().print(summary_table(result.summary))
    verb = "resumed" if result.resumed else "finished"
    _err().print(f"run {result.run_id} {verb}; wrote {result.out_dir}/summary.json, "
                 "samples.jsonl and report.html")
    if gates or run_file.junit:
        report_gates(gates, result.summary, Path(run_file.junit) if run_file.junit else None)


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

    progress = ItemProgress("judging")
    try:
        rows = judge_file(input, out, judge or DEFAULT_JUDGE, store=store, on_item=progress.on_item)
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
    runs: Annotated[list[str], typer.Argument(help="Run folders (with summary.json) or run ids.")],
    out: Annotated[Path | None, typer.Option(
        help="Output file (default: stdout for md/json; required for html).")] = None,
    format: Annotated[str, typer.Option(
        "--format", "-f", help="html (the full report), md or json (the scorecard).")] = "html",
    store: Annotated[Path | None, typer.Option(help="Run-store folder for run ids.")] = None,
    judge_eval: Annotated[list[Path] | None, typer.Option(
        "--judge-eval", help="A `medsafe judge-eval --out` file to show under judge "
        "reliability; repeatable.")] = None,
    report_samples: Annotated[int | None, typer.Option(
        min=0, help="Samples the HTML report embeds: every failure first, then a random sample of the "
        "rest (0 = all; `medsafe view` pages through every one).", show_default="2000")] = None,
) -> None:
    """Build the report of one or more runs: HTML (with their comparison), or the scorecard."""
    from medsafe.report.publish import write_report

    write_report(runs, out, format, store, judge_eval or [], report_samples=report_samples)


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
    Console().print("suites: " + ", ".join(suite_names()), soft_wrap=True)


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


# -- reports: comparison, run browser, sample export ------------------------------------------


@app.command("compare")
def compare_command(
    runs: Annotated[list[str], typer.Argument(
        help="Run folders or run ids; the first is the baseline (one run: its targets).")],
    format: Annotated[str, typer.Option(
        "--format", "-f", help="table (terminal), md (Markdown) or json.")] = "table",
    out: Annotated[Path | None, typer.Option(help="Write to this file instead of stdout.")] = None,
    store: Annotated[Path | None, typer.Option(help="Run-store folder for run ids.")] = None,
    principles: Annotated[bool, typer.Option(
        "--principles/--no-principles", help="Also compare per principle.")] = True,
) -> None:
    """Paired comparison on shared samples: differences, bootstrap 95% CIs, Wilcoxon p-values."""
    from medsafe.report.publish import write_comparison

    write_comparison(runs, format, out, store, principles)


@app.command("view")
def view_command(
    store: Annotated[Path | None, typer.Option(help="Run-store folder.")] = None,
    host: Annotated[str, typer.Option(help="Address to bind (local only by default).")] =
        "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8765,
) -> None:
    """Browse the runs and samples of the store in a local, read-only web app."""
    from medsafe.report.view import create_app, serve

    create_app(store)  # a missing store is reported before the server starts
    _err().print(f"medsafe view: http://{host}:{port}/ (read-only; Ctrl-C to stop)")
    serve(store, host, port)


@app.command("export-samples")
def export_samples_command(
    runs: Annotated[list[str], typer.Argument(help="Run folders or run ids.")],
    out: Annotated[Path, typer.Option(help="Output file: .csv, .parquet or .jsonl.")],
    store: Annotated[Path | None, typer.Option(help="Run-store folder for run ids.")] = None,
) -> None:
    """Write every sample row of the runs as a flat CSV or Parquet table (or JSONL)."""
    from medsafe.report import export_samples, load_runs

    count = export_samples(load_runs(runs, store), out)
    _err().print(f"wrote {count} rows to {out}")

# --- medsafe finetune (issue #5: safety fine-tuning) -------------------------------------------


def _train_progress() -> Progress:
    from rich.progress import TimeRemainingColumn

    return Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
        TextColumn("loss {task.fields[loss]}"), TimeElapsedColumn(), TimeRemainingColumn(),
        console=_err(), transient=False,
    )


@app.command("finetune")
def finetune_command(
    base: Annotated[str, typer.Option(
        help="Model to fine-tune: embedded:smollm2, gguf:FILE, hf:DIR or a model folder.")],
    out: Annotated[Path, typer.Option(
        help="Output folder (adapter, merged model, GGUF, checkpoints, comparison).")],
    data: Annotated[str, typer.Option(
        help="Safety demonstrations: NAME[:split] (harm = harm:train) or FILE.jsonl.")] = "harm:train",
    method: Annotated[str, typer.Option(help="lora-sft or dpo.")] = "lora-sft",
    benign: Annotated[str, typer.Option(
        help="Benign helpful examples mixed in ('none' for none).")] = "overrefusal:train",
    benign_ratio: Annotated[float, typer.Option(
        help="Benign examples per safety demonstration.")] = 1.5,
    epochs: Annotated[float, typer.Option(help="Passes over the training set.")] = 1.0,
    max_steps: Annotated[int | None, typer.Option(help="Stop after N steps (overrides epochs).")] = None,
    lr: Annotated[float, typer.Option("--lr", help="Learning rate.")] = 1e-3,
    batch_size: Annotated[int, typer.Option(help="Sequences per step.")] = 8,
    grad_accum: Annotated[int, typer.Option(help="Gradient accumulation steps.")] = 1,
    lora_r: Annotated[int, typer.Option(help="LoRA rank.")] = 16,
    lora_alpha: Annotated[int, typer.Option(help="LoRA scaling (alpha).")] = 32,
    lora_targets: Annotated[str, typer.Option(
        help="Comma-separated module names the adapter wraps.")] = "q_proj,v_proj",
    max_length: Annotated[int, typer.Option(help="Longest training sequence in tokens.")] = 384,
    save_steps: Annotated[int, typer.Option(help="Checkpoint every N steps.")] = 20,
    beta: Annotated[float, typer.Option(help="DPO beta.")] = 0.1,
    seed: Annotated[int, typer.Option(help="Seed for data order, dropout and decoding.")] = 0,
    threads: Annotated[int | None, typer.Option(help="CPU threads for training.")] = None,
    suite: Annotated[list[str] | None, typer.Option(
        "--suite", "-s", help="Suites for the before/after comparison (default: harm, "
        "overrefusal, mcq).")] = None,
    judge: Annotated[str, typer.Option(help="Judge spec for the comparison.")] = "classifier",
    eval_limit: Annotated[int | None, typer.Option(
        help="Stratified sample of N per suite in the comparison (default: all).")] = None,
    eval_max_tokens: Annotated[int, typer.Option(help="Maximum tokens per answer.")] = 192,
    eval_with: Annotated[str, typer.Option(
        help="Runtime of the new model in the comparison: auto (GGUF when exported), hf, gguf.")]
        = "auto",
    no_eval: Annotated[bool, typer.Option("--no-eval", help="Skip the comparison.")] = False,
    no_gguf: Annotated[bool, typer.Option("--no-gguf", help="Skip the GGUF export.")] = False,
    store: Annotated[Path | None, typer.Option(help="Run-store folder.")] = None,
) -> None:
    """Fine-tune a model for medical safety (LoRA SFT or DPO) and compare it with the base."""
    from pydantic import ValidationError

    from medsafe.mitigate import FinetuneConfig, FinetuneHooks, finetune
    from medsafe.mitigate.comparison import comparison_markdown

    try:
        config = FinetuneConfig(
            base=base, data=data, method=method,  # type: ignore[arg-type]
            benign=None if benign.lower() == "none" else benign, benign_ratio=benign_ratio,
            lora={"r": lora_r, "alpha": lora_alpha,
                  "target_modules": [m.strip() for m in lora_targets.split(",") if m.strip()]},
            train={"epochs": epochs, "max_steps": max_steps, "batch_size": batch_size,
                   "grad_accum": grad_accum, "learning_rate": lr, "max_length": max_length,
                   "save_steps": save_steps, "beta": beta, "seed": seed},
            export_gguf=not no_gguf, threads=threads, suites=suite or ["harm", "overrefusal", "mcq"],
            judge=judge, eval_limit=eval_limit, eval_max_tokens=eval_max_tokens,
            eval_with=eval_with,  # type: ignore[arg-type]
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise MedsafeError(f"finetune option {where}: {first['msg']}") from None
    train_bar = _train_progress()
    train_task = train_bar.add_task("training", total=None, loss="–")
    eval_bar = ItemProgress("evaluating", before_start=train_bar.stop)

    def on_train_start(total: int, done: int) -> None:
        train_bar.start()
        train_bar.update(train_task, total=total, completed=done)

    def on_train_step(step: int, row: dict[str, float]) -> None:
        train_bar.update(train_task, completed=step, loss=f"{row['loss']:.3f}")

    def on_message(text: str) -> None:
        _err().print(text, highlight=False)

    hooks = FinetuneHooks(on_message=on_message, on_train_start=on_train_start,
                          on_train_step=on_train_step, on_eval_plan=eval_bar.on_plan,
                          on_eval_item=eval_bar.on_item)
    try:
        result = finetune(config, out, store=store, evaluate_after=not no_eval, hooks=hooks)
    except KeyboardInterrupt:
        train_bar.stop()
        eval_bar.stop()
        _err().print("interrupted: run the same command again to resume from the last checkpoint")
        sys.exit(130)
    finally:
        train_bar.stop()
        eval_bar.stop()
    t = result.train
    _err().print(f"trained {t['steps']} steps in {t['wall_s']:.0f} s; adapter {result.adapter_dir}, "
                 f"merged model hf:{result.merged_dir}"
                 + (f", gguf:{result.gguf_path}" if result.gguf_path else ""))
    if result.comparison is not None:
        Console().print(comparison_markdown(result.comparison), highlight=False, markup=False)
        _err().print(f"wrote {out}/comparison.json and comparison.md")


def main() -> None:
    """Entry point: user mistakes print one line and exit 2; bugs keep their traceback."""
    try:
        app()
    except MedsafeError as exc:
        from rich.markup import escape

        # escaped: "pip install 'medsafe[inspect]'" is text, not a rich style tag
        _err().print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)


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
    threads: Annotated[int | None, typer.Option(
        min=1, help="CPU threads of a GGUF upstream (default: the cores left idle by other work "
        "when the model starts, at least 1).")] = None,
    poll: Annotated[int | None, typer.Option(
        min=0, max=100,
        help="llama.cpp's busy-wait level of a GGUF upstream, 0-100 (default: the runtime's).")
    ] = None,
    concurrency: Annotated[int, typer.Option(help="Requests in flight to an HTTP upstream.")] = 16,
    request_classifier: Annotated[Path | None, typer.Option(
        help="A request classifier you trained (python -m "
             "medsafe.mitigate.train_request_classifier --out FILE) instead of the shipped one.")
    ] = None,
    judge_timeout: Annotated[float | None, typer.Option(
        help="Seconds the output screen waits for a verdict before the policy's fail mode "
             "(default: half of --timeout).")] = None,
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
                         request_classifier=request_classifier, judge_timeout_s=judge_timeout,
                         target_options=TargetOptions(slots=slots, threads=threads, poll=poll,
                                                      concurrency=concurrency))
    app = create_app(config)
    _err().print(f"medsafe guard on http://{host}:{port}/v1 (model {config.served_model}) -> "
                 f"{upstream}; judge {judge or loaded.judge}; policy {policy or 'default'}; "
                 f"auth {'on' if api_key else 'off'}; decisions logged to {store_file(store)}",
                 highlight=False, soft_wrap=True)
    serve(app, host=host, port=port)


# --- medsafe label ------------------------------------------------------------------------------

label_app = typer.Typer(help="Label a run's answers blind; labels give calibrated figures.",
                        no_args_is_help=True)
app.add_typer(label_app, name="label")
StoreOption = Annotated[Path | None, typer.Option(help="Run-store folder.")]


def _run_id(ref: str) -> str:
    """A run id, or the run id of a run folder written by `medsafe eval`."""
    summary = Path(ref) / "summary.json"
    if summary.is_file():
        return str(json.loads(summary.read_text(encoding="utf-8"))["run_id"])
    return ref


@label_app.command("sample")
def label_sample(
    run: Annotated[str, typer.Argument(help="Run id (or run folder).")],
    suite: Annotated[list[str] | None, typer.Option(
        "--suite", "-s", help="Only this judge-scored suite; repeatable (default: all of them).")]
        = None,
    n: Annotated[int, typer.Option("--n", help="Items in the sample (a larger N extends it).")] = 60,
    seed: Annotated[int, typer.Option(help="Seed of the random draw.")] = 0,
    store: StoreOption = None,
) -> None:
    """Draw a seeded simple random sample of the run's scored items for people to label."""
    from medsafe.engine import RunStore, store_file
    from medsafe.labels import draw_sample

    run_id = _run_id(run)
    with closing(RunStore(store_file(store))) as run_store:
        draw = draw_sample(run_store, run_id, n=n, seed=seed, suites=suite)
    _err().print(f"label sample of run {run_id}: {draw.drawn} of {draw.eligible} scored items of "
                 f"{', '.join(draw.suites)} ({draw.new} new, seed {draw.seed}). Label them in "
                 f"`medsafe view` (/runs/{run_id}/label) or with `medsafe label export {run_id} "
                 "--out sheet.csv`.", highlight=False, soft_wrap=True)


@label_app.command("export")
def label_export(
    run: Annotated[str, typer.Argument(help="Run id (or run folder).")],
    out: Annotated[Path, typer.Option(help="The sheet to write: .csv or .jsonl.")],
    labeller: Annotated[str, typer.Option(help="Fill the labeller column with this name.")] = "",
    store: StoreOption = None,
) -> None:
    """Write the run's label sample as a blind sheet (requests and answers, no verdicts)."""
    from medsafe.engine import RunStore, store_file
    from medsafe.labels import export_sheet

    run_id = _run_id(run)
    with closing(RunStore(store_file(store))) as run_store:
        count = export_sheet(run_store, run_id, out, labeller)
    _err().print(f"wrote {count} items to {out}: fill score (1-5 on the rubric) and refusal (yes/no)"
                 f", then `medsafe label import {out}`", highlight=False, soft_wrap=True)


@label_app.command("import")
def label_import(
    sheet: Annotated[Path, typer.Argument(help="A filled sheet (.csv or .jsonl).")],
    labeller: Annotated[str | None, typer.Option(
        help="Labeller of every row (default: the sheet's labeller column).")] = None,
    run: Annotated[str | None, typer.Option(help="Refuse a sheet of any other run.")] = None,
    out: Annotated[Path | None, typer.Option(
        help="Rewrite the run's summary.json, samples.jsonl and report.html here "
        "(default: the folder the run wrote).")] = None,
    store: StoreOption = None,
) -> None:
    """Store a filled sheet's labels (all or none; importing twice changes nothing) and rewrite
    the run's outputs with calibrated figures."""
    from medsafe.api import rebuild_outputs, run_out_dir
    from medsafe.engine import RunStore, store_file
    from medsafe.labels import import_sheet

    with closing(RunStore(store_file(store))) as run_store:
        done = import_sheet(run_store, sheet, labeller=labeller,
                            run_id=None if run is None else _run_id(run))
        folder = out or run_out_dir(run_store, done.run_id, store)
    summary = rebuild_outputs(done.run_id, folder, store)
    _err().print(f"run {done.run_id}: {done.new} new labels, {done.updated} changed, "
                 f"{done.unchanged} unchanged, {done.blank} rows left blank; wrote {folder}/"
                 "summary.json", highlight=False, soft_wrap=True)
    Console().print(summary_table(summary))


# --- gates (issue #20: medsafe in a team's pipeline) ---------------------------------------------


def gates_table(results: list[Any]) -> Table:
    """Gate results as a rich table: one row per gate and target."""
    failed = sum(not r.passed for r in results)
    table = Table("gate", "target", "value", "result",
                  title=f"gates: {len(results) - failed} passed, {failed} failed")
    for result in results:
        value = "–" if result.value is None else f"{result.value:.4g}"
        verdict = "[green]pass[/]" if result.passed else "[bold red]FAIL[/]"
        table.add_row(result.gate.text, result.target, value, verdict)
    return table


def report_gates(gates: list[Any], summary: dict[str, Any], junit: Path | None) -> None:
    """Check the gates on a run's summary, print them, write JUnit XML; exit 1 if one fails."""
    from medsafe.gates import evaluate_gates, write_junit

    results = evaluate_gates(gates, summary)
    if results:
        Console().print(gates_table(results))
    if junit is not None:
        write_junit(results, summary, junit)
        _err().print(f"wrote {junit}")
    failed = [r for r in results if not r.passed]
    if failed:
        first = failed[0]
        _err().print(f"{len(failed)} of {len(results)} gates failed, first: {first.gate.text} on "
                     f"{first.target} ({first.detail})", highlight=False, soft_wrap=True)
        sys.exit(1)


@app.command("gate")
def gate_command(
    run: Annotated[str, typer.Argument(help="Run id (or run folder).")],
    gate: Annotated[list[str], typer.Option(
        "--gate", help="Condition on a scorecard metric, e.g. 'harm.calibrated_harmful_rate."
        "ci_high <= 0.1'; repeatable.")],
    junit: Annotated[Path | None, typer.Option(help="Write the results as JUnit XML.")] = None,
    store: StoreOption = None,
) -> None:
    """Check gates on a stored run (e.g. on its calibrated figures once it has labels);
    exit status 1 when one fails."""
    from medsafe.gates import parse_gate
    from medsafe.report import load_run

    gates = [parse_gate(text) for text in gate]
    report_gates(gates, load_run(run, store).summary, junit)


# --- Inspect interoperability (issue #20) ------------------------------------------------------


@app.command("import-inspect")
def import_inspect_command(
    log: Annotated[Path, typer.Argument(help="An Inspect eval log (.eval or .json) of a medsafe "
                                        "task, e.g. from `inspect eval medsafe/harm`.")],
    out: Annotated[Path | None, typer.Option(help="Output folder (default STORE/RUN_ID).")] = None,
    store: StoreOption = None,
) -> None:
    """Turn an Inspect log of a medsafe task into a medsafe run (report, compare and labels work
    on it); needs the inspect extra."""
    from medsafe.interop import import_inspect_log

    result = import_inspect_log(log, store=store, out_dir=out)
    Console().print(summary_table(result.summary))
    verb = "imported" if result.new else "was already imported as"
    _err().print(f"{log} {verb} run {result.run_id}; wrote {result.out_dir}/summary.json, "
                 "samples.jsonl and report.html", highlight=False, soft_wrap=True)
