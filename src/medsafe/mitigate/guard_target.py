"""A guarded model as a target: ``guard:SPEC`` wraps the target SPEC in the medsafe guard.

It is registered under the ``medsafe.targets`` entry point like every target, but lives beside
the guard: it is a mitigation, and ``medsafe.targets`` holds the models only.

``medsafe eval --target embedded:smollm2 --target guard:embedded:smollm2`` measures what the
guard changes. ``guard:@POLICY.yaml:SPEC`` uses a policy file (thresholds, screens, judge).
The guard runs in-process with the same core as ``medsafe guard serve``; an answer the guard
blocked or replaced ends with ``finish_reason`` ``content_filter``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from medsafe.errors import MedsafeError
from medsafe.judges import resolve_judge
from medsafe.mitigate.guard import Guard
from medsafe.mitigate.guard_policy import load_policy
from medsafe.mitigate.request_classifier import load_request_classifier
from medsafe.samples import Message
from medsafe.targets import Completion, GenerationParams, Target, TargetOptions, resolve_target


class GuardTarget(Target):
    """An upstream target behind the guard."""

    def __init__(self, spec: str, guard: Guard, options: TargetOptions | None = None) -> None:
        super().__init__(spec, options)
        self.guard = guard

    @property
    def concurrency(self) -> int:
        """As many in flight as the upstream takes."""
        return self.guard.upstream.concurrency

    def identity(self) -> dict[str, Any]:
        """The spec plus everything that shapes the guard's answers."""
        return {"spec": self.spec, **self.guard.identity()}

    async def preflight(self) -> None:
        """Check the upstream and the judge."""
        await self.guard.upstream.preflight()
        await self.guard.judge.preflight()

    async def generate(self, messages: tuple[Message, ...], params: GenerationParams) -> Completion:
        """The guarded answer; upstream failures propagate as the upstream's TargetError."""
        outcome = await self.guard.respond(messages, params)
        upstream = outcome.completion
        return Completion(
            text=outcome.text, finish_reason=outcome.finish_reason,
            prompt_tokens=upstream.prompt_tokens if upstream else 0,
            completion_tokens=upstream.completion_tokens if upstream else 0,
        )

    async def aclose(self) -> None:
        """Close the upstream and the judge."""
        await self.guard.upstream.aclose()
        await self.guard.judge.aclose()


def parse_guard_spec(rest: str) -> tuple[Path | None, str]:
    """Split ``[@POLICY:]SPEC`` into the policy path and the upstream spec."""
    policy = None
    if rest.startswith("@"):
        path, sep, rest = rest[1:].partition(":")
        if not path or not sep:
            raise MedsafeError("guard target with a policy is written guard:@POLICY.yaml:SPEC")
        policy = Path(path).expanduser()
    if not rest or rest.split(":", 1)[0] == "guard":
        raise MedsafeError("guard target needs an upstream target: --target guard:embedded:smollm2")
    return policy, rest


def create(rest: str, options: TargetOptions) -> GuardTarget:
    """``guard:SPEC`` or ``guard:@POLICY:SPEC``."""
    policy_path, upstream_spec = parse_guard_spec(rest)
    policy = load_policy(policy_path)
    upstream = resolve_target(upstream_spec, options)
    judge = resolve_judge(policy.judge, lambda spec: resolve_target(spec, options))
    guard = Guard(upstream, judge, policy, load_request_classifier())
    spec = f"guard:@{policy_path}:{upstream.spec}" if policy_path else f"guard:{upstream.spec}"
    return GuardTarget(spec, guard, options)
