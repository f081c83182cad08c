"""Progress callbacks of a fine-tuning, shared by its stages."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class FinetuneHooks:
    """Optional callbacks for progress display."""

    on_message: Callable[[str], None] | None = None
    on_train_start: Callable[[int, int], None] | None = None  # (max_steps, start step)
    on_train_step: Callable[[int, dict[str, float]], None] | None = None  # (step, logs)
    on_eval_plan: Callable[[int, int], None] | None = None
    on_eval_item: Callable[[str, bool], None] | None = None

    def message(self, text: str) -> None:
        """Report a stage."""
        if self.on_message is not None:
            self.on_message(text)
