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
        help="Benign examples per safety demonstration.")] = 0.5,
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
    train_bar, eval_bar = _train_progress(), _progress()
    train_task = train_bar.add_task("training", total=None, loss="–")
    eval_task = eval_bar.add_task("evaluating", total=None, errors=0)
    errors = 0

    def on_train_start(total: int, done: int) -> None:
        train_bar.start()
        train_bar.update(train_task, total=total, completed=done)

    def on_train_step(step: int, row: dict[str, float]) -> None:
        train_bar.update(train_task, completed=step, loss=f"{row['loss']:.3f}")

    def on_eval_plan(total: int, done: int) -> None:
        train_bar.stop()
        eval_bar.start()
        eval_bar.update(eval_task, total=total, completed=done)

    def on_eval_item(_target: str, ok: bool) -> None:
        nonlocal errors
        errors += not ok
        eval_bar.update(eval_task, advance=1, errors=errors)

    def on_message(text: str) -> None:
        _err().print(text, highlight=False)

    hooks = FinetuneHooks(on_message=on_message, on_train_start=on_train_start,
                          on_train_step=on_train_step, on_eval_plan=on_eval_plan,
                          on_eval_item=on_eval_item)
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
        _err().print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        _err().print("interrupted: run `medsafe eval` again (or with --resume) to continue")
        sys.exit(130)
