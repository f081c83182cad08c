"""The Target interface: one async method, ``generate``; everything else has a default."""

from __future__ import annotations

import abc
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from medsafe.samples import Message


class GenerationParams(BaseModel):
    """Decoding parameters, recorded with every run and part of every cache key."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_tokens: int = Field(default=192, ge=1)
    temperature: float = Field(default=0.0, ge=0.0)
    top_p: float = Field(default=1.0, gt=0.0, le=1.0)
    seed: int = 0
    # A llama.cpp GBNF grammar; only targets that can constrain decoding use it.
    grammar: str | None = None
    # Ask for a JSON object (OpenAI `response_format`); servers without JSON mode ignore it.
    json_mode: bool = False


class TargetOptions(BaseModel):
    """How to reach and drive a target (not part of its identity)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    concurrency: int = Field(default=8, ge=1, le=4096)
    timeout_s: float = Field(default=120.0, gt=0)
    max_retries: int = Field(default=4, ge=0)
    backoff_base_s: float = Field(default=0.5, ge=0)
    backoff_max_s: float = Field(default=30.0, ge=0)
    slots: int = Field(default=8, ge=1, le=64)
    threads: int | None = Field(default=None, ge=1)
    # llama.cpp's busy-wait level (0-100) for GGUF targets; None keeps the runtime's default.
    poll: int | None = Field(default=None, ge=0, le=100)
    api_key_env: str = "OPENAI_API_KEY"


class Completion(BaseModel):
    """A model's answer with its cost."""

    text: str
    finish_reason: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    latency_s: float = 0.0
    attempts: int = 1


class TargetError(Exception):
    """A generation that failed; ``retryable`` says whether trying again may help."""

    def __init__(self, message: str, *, retryable: bool = False, retry_after_s: float | None = None):
        super().__init__(message)
        self.retryable = retryable
        self.retry_after_s = retry_after_s


class Target(abc.ABC):
    """A model under test. Subclasses implement :meth:`generate`; the rest has defaults."""

    def __init__(self, spec: str, options: TargetOptions | None = None) -> None:
        self.spec = spec
        self.options = options or TargetOptions()

    @property
    def concurrency(self) -> int:
        """How many requests the engine keeps in flight for this target."""
        return self.options.concurrency

    def identity(self) -> dict[str, Any]:
        """What makes two answers comparable: the spec plus any content hash. Cache keys use it."""
        return {"spec": self.spec}

    async def preflight(self) -> None:  # noqa: B027 - an optional hook, empty by default
        """Check once, before a run, that the target can be reached; raise MedsafeError if not."""

    @abc.abstractmethod
    async def generate(self, messages: tuple[Message, ...], params: GenerationParams) -> Completion:
        """Answer one conversation. Raise :class:`TargetError` on failure."""

    async def aclose(self) -> None:  # noqa: B027 - an optional hook, empty by default
        """Release connections, threads or models."""
