"""A run as reports see it: its summary and its sample rows.

Scorecards, figures, comparisons and the HTML report take runs in this form; ``runs.py`` reads
them from a run folder or the run store.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class RunData:
    """One run: its summary.json content and its samples.jsonl rows."""

    summary: dict[str, Any]
    rows: Sequence[dict[str, Any]]  # a list, or rows made when read (SampleRows)
    source: str = ""
    label: str = field(default="")

    @property
    def run_id(self) -> str:
        """The run's id (or the folder name of a run folder without one)."""
        return str(self.summary.get("run_id") or Path(self.source).name)

    @property
    def targets(self) -> list[str]:
        """The run's targets in the order they were given."""
        targets = self.summary.get("targets")
        if targets:
            return list(targets)
        seen: dict[str, None] = {}
        for suite in self.summary.get("suites", {}).values():
            for target in suite.get("by_target", {}):
                seen.setdefault(target)
        return list(seen)
