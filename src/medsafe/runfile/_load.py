"""Reading a run file, laying command-line options over it, and turning it into a run.

A mistake in the file is one line naming the file, the line and the key; a mistake in an option
names the option. The effective file (file + options + defaults) is what ``--print-config``
prints and what the run's metadata keeps.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from medsafe.engine.config import ExecutionOptions, RedteamOptions, RunConfig
from medsafe.errors import InputError, MedsafeError
from medsafe.runfile._schema import Generation, Redteam, RunFile, SuiteEntry
from medsafe.runfile._yaml import node_line, parse_yaml
from medsafe.targets import GenerationParams, TargetOptions

# Options that live in a section of the file rather than at its top level.
SECTIONS = {**{key: "generation" for key in Generation.model_fields},
            **{key: "redteam" for key in Redteam.model_fields}}


def read_run_file(path: Path) -> tuple[dict[str, Any], Any]:
    """The raw mapping of a run file and its YAML node tree (for line numbers)."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(path, None, None, f"not UTF-8 text ({exc.reason})") from None
    except OSError as exc:
        raise MedsafeError(f"cannot read run file {path}: {exc.strerror or exc}") from None
    data, root = parse_yaml(text, path)
    if data is None:
        return {}, None
    if not isinstance(data, dict):
        raise InputError(path, 1, None, "a run file is a mapping of keys (targets, suites, judge, "
                         "limit, generation, gates, ...)")
    return data, root


def _model_at(loc: tuple[Any, ...]) -> type[BaseModel]:
    """The schema model that holds the last key of ``loc``."""
    model: type[BaseModel] = RunFile
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(str(part))
        inner = getattr(field, "annotation", None) if field else None
        args = getattr(inner, "__args__", ())
        found = next((a for a in (inner, *args) if isinstance(a, type) and issubclass(a, BaseModel)),
                     None)
        if found is None:
            break
        model = found
    return model


def _explain(error: dict[str, Any]) -> str:
    if error["type"] == "extra_forbidden":
        known = _model_at(tuple(error["loc"])).model_fields
        return f"unknown key (known: {', '.join(known)})"
    message = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] not in ("value_error", "missing"):
        message += f" (got {error['input']!r})"
    return message


def _key(loc: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in loc)


def _in_section(loc: tuple[Any, ...]) -> bool:
    return len(loc) > 1 and loc[0] in set(SECTIONS.values())


def _option(loc: tuple[Any, ...]) -> str:
    name = str(loc[1] if _in_section(loc) else loc[0])
    return "--" + name.replace("_", "-")


def _overridden(loc: tuple[Any, ...], options: dict[str, Any]) -> bool:
    return str(loc[1] if _in_section(loc) else loc[0]) in options


def _apply(data: dict[str, Any], options: dict[str, Any]) -> dict[str, Any]:
    """The file's data with the given options laid over it (``None`` means not given)."""
    merged = dict(data)
    for key, value in options.items():
        section = SECTIONS.get(key)
        if section is None:
            merged[key] = value
            continue
        inner = merged.get(section)
        merged[section] = {**(inner if isinstance(inner, dict) else {}), key: value}
    return merged


def _with_suite_limits(run_file: RunFile, limits: dict[str, int]) -> RunFile:
    """Per-suite ``--limit SUITE=N``: SUITE is a suite spec of the run, or its kind (``mcq``,
    ``medsafetybench`` for ``medsafetybench:PATH``)."""
    if not limits:
        return run_file
    entries = list(run_file.suites)
    for name, number in limits.items():
        matches = [i for i, e in enumerate(entries)
                   if name in (e.suite, e.suite.partition(":")[0])]
        if not matches:
            specs = ", ".join(e.suite for e in entries)
            raise MedsafeError(f"--limit {name}=N names no suite of this run (suites: {specs})")
        for i in matches:
            entries[i] = SuiteEntry(suite=entries[i].suite, limit=number)
    return run_file.model_copy(update={"suites": entries})


def effective_run_file(path: Path | None, options: dict[str, Any] | None = None,
                       suite_limits: dict[str, int] | None = None) -> RunFile:
    """The run a file describes with command-line ``options`` laid over it (keys are run-file
    keys; ``max_tokens`` and ``temperature`` go under ``generation``; ``None`` values are options
    not given), per-suite limits applied and defaults written out. No file: options alone."""
    data, root = read_run_file(path) if path is not None else ({}, None)
    given = {k: v for k, v in (options or {}).items() if v is not None}
    try:
        run_file = RunFile.model_validate(_apply(data, given))
    except ValidationError as exc:
        error = exc.errors()[0]
        loc = tuple(error["loc"])
        if path is None or _overridden(loc, given):
            raise MedsafeError(f"{_option(loc)}: {_explain(error)}") from None
        raise InputError(path, node_line(root, loc), _key(loc), _explain(error)) from None
    return _with_suite_limits(run_file, suite_limits or {}).resolved()


def run_config(run_file: RunFile) -> RunConfig:
    """The engine's configuration of the run (what identifies it in the store)."""
    generation = run_file.generation
    return RunConfig(
        targets=run_file.targets,
        suites=[entry.suite for entry in run_file.suites],
        judge=run_file.judge,
        limit=run_file.limit,
        suite_limits={e.suite: e.limit for e in run_file.suites if e.limit is not None},
        seed=run_file.seed,
        params=GenerationParams(max_tokens=generation.max_tokens,
                                temperature=generation.temperature, top_p=generation.top_p,
                                seed=run_file.seed),
        target_options=TargetOptions(concurrency=run_file.concurrency, slots=run_file.slots,
                                     threads=run_file.threads, poll=run_file.poll, timeout_s=run_file.timeout,
                                     max_retries=run_file.retries),
        redteam=redteam_options(run_file),
    )


def redteam_options(run_file: RunFile) -> RedteamOptions | None:
    """The attacker and budgets of a run with red-team suites or red-team keys; None otherwise,
    so that other runs keep the identity they always had."""
    given = run_file.redteam.model_dump(exclude_none=True) if run_file.redteam else {}
    if not given and not any(e.suite.strip().startswith("redteam") for e in run_file.suites):
        return None
    return RedteamOptions(**given)


def execution_options(run_file: RunFile) -> ExecutionOptions:
    """Where the run executes (not part of its identity)."""
    return ExecutionOptions(backend=run_file.backend,  # type: ignore[arg-type]
                            ray_address=run_file.ray_address)
