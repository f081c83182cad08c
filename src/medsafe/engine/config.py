"""The configuration of a run: what to evaluate, with what, and how."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SerializerFunctionWrapHandler, model_serializer

from medsafe.judges import DEFAULT_JUDGE
from medsafe.targets import DEFAULT_TARGET, GenerationParams, TargetOptions


def attacker_params() -> GenerationParams:
    """How the attacker writes: long enough for a prompt, and sampled, so that a rewrite after
    a refusal is not the same text again."""
    return GenerationParams(max_tokens=256, temperature=0.7, top_p=0.95)


class RedteamOptions(BaseModel):
    """The attacker of the ``redteam:STRATEGY`` suites and each request's budget.

    A query is one call to the target; a turn is one exchange the strategy keeps (every PAIR
    iteration; a Crescendo turn the target did not refuse). A request's attack ends at its first
    success or when either budget is spent.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    attacker: str = DEFAULT_TARGET
    max_turns: int = Field(default=5, ge=1)
    max_queries: int = Field(default=10, ge=1)
    attacker_params: GenerationParams = Field(default_factory=attacker_params)


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
    # Set when the run has red-team suites (None: their defaults).
    redteam: RedteamOptions | None = None

    @model_serializer(mode="wrap")
    def _drop_unused_redteam(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # A run without red-team suites serialises as before they existed, so its fingerprint
        # (and the resumption of runs started by older versions) does not change.
        data = handler(self)
        if data.get("redteam") is None:
            data.pop("redteam", None)
        return data


class ExecutionOptions(BaseModel):
    """Where generation and judging run. Not part of the run's identity: a run started on one
    backend can be resumed on another, and both give the same numbers."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    backend: Literal["local", "ray"] = "local"
    ray_address: str | None = None  # None: RAY_ADDRESS, else Ray's default
    workers: int | None = Field(default=None, ge=1)  # None: one per CPU of the Ray cluster
