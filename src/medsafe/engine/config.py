"""The configuration of a run: what to evaluate, with what, and how."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from medsafe.judges import DEFAULT_JUDGE
from medsafe.targets import DEFAULT_TARGET, GenerationParams, TargetOptions


class RunConfig(BaseModel):
    """Everything that defines a run; stored with it so ``--resume`` can rebuild it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    targets: list[str] = Field(default_factory=lambda: [DEFAULT_TARGET], min_length=1)
    suites: list[str] = Field(default_factory=lambda: ["harm"], min_length=1)
    judge: str = DEFAULT_JUDGE
    limit: int | None = Field(default=None, ge=0)
    # Per-suite limits (by suite spec) that override ``limit``, e.g. {"jailbreak": 18}.
    suite_limits: dict[str, int] = Field(default_factory=dict)
    seed: int = 0
    params: GenerationParams = Field(default_factory=GenerationParams)
    target_options: TargetOptions = Field(default_factory=TargetOptions)


class ExecutionOptions(BaseModel):
    """Where generation and judging run. Not part of the run's identity: a run started on one
    backend can be resumed on another, and both give the same numbers."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    backend: Literal["local", "ray"] = "local"
    ray_address: str | None = None  # None: start a local Ray instance
    workers: int | None = Field(default=None, ge=1)  # None: one per CPU of the Ray cluster
