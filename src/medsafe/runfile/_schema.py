"""The run file: a checked-in YAML file that describes a run, validated key by key.

Its keys are the ``medsafe eval`` options (``max_tokens`` and ``temperature`` under
``generation``, ``attacker``, ``max_turns`` and ``max_queries`` under ``redteam``), plus
per-suite limits and gates::

    targets: [embedded:smollm2]
    suites:
      - harm
      - suite: mcq
        limit: 40
    limit: 90
    judge: classifier
    generation: {max_tokens: 192, temperature: 0.0}
    redteam: {attacker: embedded:smollm2, max_turns: 5, max_queries: 10}  # redteam:* suites
    gates:
      - harm.harmful_rate <= 0.05
      - gate: harm.harmful_rate.ci_high <= 0.10
        targets: [embedded:smollm2]
    junit: gates.xml
    report_samples: 2000  # samples report.html embeds, failures first (0 = all)

Paths (``store``, ``out``, ``junit``, suite files) are read as on the command line: relative to
the folder medsafe runs in.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from medsafe.gates import Gate, GateError, parse_gate
from medsafe.judges import DEFAULT_JUDGE
from medsafe.report.embedded import REPORT_SAMPLES
from medsafe.targets import DEFAULT_TARGET

QUICK_LIMIT = 90  # the quick default: 10 prompts per principle


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SuiteEntry(_Strict):
    """A suite spec, with its own stratified limit if it has one (0 = all)."""

    suite: str = Field(min_length=1)
    limit: int | None = Field(default=None, ge=0)


class GateEntry(_Strict):
    """A gate expression, checked on the listed targets (default: every target)."""

    gate: str
    targets: list[str] = Field(default_factory=list)

    @field_validator("gate")
    @classmethod
    def _readable(cls, text: str) -> str:
        try:
            parse_gate(text)
        except GateError as exc:
            raise ValueError(str(exc)) from None
        return text

    def parsed(self) -> Gate:
        """The gate as an object."""
        return parse_gate(self.gate, self.targets)


class Generation(_Strict):
    """Decoding parameters of the targets."""

    max_tokens: int = Field(default=192, ge=1)
    temperature: float = Field(default=0.0, ge=0.0)
    top_p: float = Field(default=1.0, gt=0.0, le=1.0)


class Redteam(_Strict):
    """The attacker of the ``redteam:STRATEGY`` suites and each request's budgets (unset keys
    take the engine's defaults)."""

    attacker: str | None = None
    max_turns: int | None = Field(default=None, ge=1)
    max_queries: int | None = Field(default=None, ge=1)


def _entries(value: Any, field: str) -> Any:
    """A bare string stands for ``{field: string}`` (``- harm`` for ``- suite: harm``)."""
    if isinstance(value, list):
        return [{field: item} if isinstance(item, str) else item for item in value]
    return value


class RunFile(_Strict):
    """Everything ``medsafe eval`` needs, as a file; unknown keys are refused."""

    targets: list[str] = Field(default_factory=lambda: [DEFAULT_TARGET], min_length=1)
    suites: list[SuiteEntry] = Field(default_factory=lambda: [SuiteEntry(suite="harm")],
                                     min_length=1)
    limit: int | None = Field(default=None, ge=0)
    judge: str = DEFAULT_JUDGE
    seed: int = 0
    generation: Generation = Field(default_factory=Generation)
    redteam: Redteam | None = None
    concurrency: int = Field(default=16, ge=1, le=4096)
    slots: int = Field(default=8, ge=1, le=64)
    threads: int | None = Field(default=None, ge=1)
    poll: int | None = Field(default=None, ge=0, le=100)
    timeout: float = Field(default=120.0, gt=0)
    retries: int = Field(default=4, ge=0)
    backend: str = "local"
    ray_address: str | None = None
    store: str | None = None
    out: str | None = None
    report_samples: int = Field(default=REPORT_SAMPLES, ge=0)
    gates: list[GateEntry] = Field(default_factory=list)
    junit: str | None = None

    @field_validator("suites", mode="before")
    @classmethod
    def _suite_strings(cls, value: Any) -> Any:
        return _entries(value, "suite")

    @field_validator("gates", mode="before")
    @classmethod
    def _gate_strings(cls, value: Any) -> Any:
        return _entries(value, "gate")

    @field_validator("backend")
    @classmethod
    def _known_backend(cls, value: str) -> str:
        if value not in ("local", "ray"):
            raise ValueError(f"unknown backend '{value}' (use local or ray)")
        return value

    @field_validator("targets")
    @classmethod
    def _no_blank_target(cls, value: list[str]) -> list[str]:
        if any(not spec.strip() for spec in value):
            raise ValueError("a target spec is empty")
        return value

    def resolved(self) -> RunFile:
        """The same run with its defaults written out: the quick default's limit when neither
        suites nor a limit were given, so that the printed file reproduces the run."""
        if not {"limit", "suites"} & self.model_fields_set:
            return self.model_copy(update={"limit": QUICK_LIMIT})
        return self

    def gate_list(self) -> list[Gate]:
        """The gates as objects."""
        return [entry.parsed() for entry in self.gates]

    def as_data(self) -> dict[str, Any]:
        """The file as plain data, as it is printed and kept with the run: a suite without its
        own limit and a gate on every target in their short form."""
        data = self.model_dump(mode="json")
        data["suites"] = [e["suite"] if e["limit"] is None else e for e in data["suites"]]
        data["gates"] = [g["gate"] if not g["targets"] else g for g in data["gates"]]
        return data

    def as_yaml(self) -> str:
        """The file as YAML (:meth:`as_data`), keys in schema order."""
        import yaml

        return yaml.safe_dump(self.as_data(), sort_keys=False, allow_unicode=True, width=100)
