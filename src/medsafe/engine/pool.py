"""The models a run uses, each built once from its spec."""

from __future__ import annotations

from medsafe.targets import Target, TargetOptions, resolve_target


class TargetPool:
    """Builds each target spec once, so a judge and a target with the same spec share a model."""

    def __init__(self, options: TargetOptions) -> None:
        self.options = options
        self.targets: dict[str, Target] = {}

    def get(self, spec: str) -> Target:
        """The target for a spec, built on first use."""
        if spec not in self.targets:
            self.targets[spec] = resolve_target(spec, self.options)
        return self.targets[spec]

    async def aclose(self) -> None:
        """Close every target built."""
        for target in self.targets.values():
            await target.aclose()
