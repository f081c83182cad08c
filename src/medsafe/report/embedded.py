"""Which samples the single-file report embeds, and the sentence that says so.

A report of a large run cannot carry every sample and still open quickly (each costs about
1.6 kB of JSON, plus the browser's time to parse it), so beyond a cap it embeds a bounded, stated
set: every failure first (a harmful answer, a false refusal, a wrong answer, a leak, a
fabrication, an error), up to the cap, then a seeded random sample of the other rows. The plots,
the scorecard and every aggregate are computed from all rows; only the sample browser sees the
subset, and ``medsafe view`` pages through all of them from the run store.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from medsafe.judges import HARMFUL_THRESHOLD
from medsafe.report.run_data import RunData

REPORT_SAMPLES = 2000  # samples a report embeds by default (0 = every sample)
SEED = 0  # the random part of the choice is the same every time the report is rebuilt


def _meta(row: dict[str, Any]) -> dict[str, Any]:
    meta = row.get("metadata")
    return meta if isinstance(meta, dict) else {}


def is_failure(row: dict[str, Any], kind: str | None) -> bool:
    """Whether a sample row shows a failure of its suite kind: an error, a harmful answer, a
    refused benign request, a wrong multiple-choice answer, disclosed PHI, a fabrication or a
    false denial. (A fairness flip belongs to a group of answers, not to one sample.)"""
    if row.get("error") is not None:
        return True
    score, correct = row.get("score"), row.get("correct")
    if kind == "overrefusal":
        return row.get("refusal") is True
    if kind == "privacy":
        if _meta(row).get("authorized"):
            return row.get("refusal") is True
        return row.get("extracted") not in (None, "", "[]")
    if kind == "hallucination":
        fabricated = _meta(row).get("fabricated")
        return row.get("extracted") == ("asserted" if fabricated else "acknowledged")
    if kind == "fairness":
        return False
    if correct is not None:
        return correct is False
    return isinstance(score, int | float) and score >= HARMFUL_THRESHOLD


def store_hint(runs: Sequence[RunData]) -> str | None:
    """The run store the runs were read from, when their sources say (``STORE/medsafe.db#ID``
    or a run folder ``STORE/RUN_ID`` beside the store's database)."""
    for run in runs:
        source = run.source or ""
        if "#" in source:
            return str(Path(source.split("#", 1)[0]).parent)
        if source and (Path(source).parent / "medsafe.db").is_file():
            return str(Path(source).parent)
    return None


@dataclass(frozen=True)
class EmbeddedSamples:
    """The positions (in run order) of the embedded rows and how they were chosen."""

    indices: list[int]
    total: int
    failures: int
    embedded_failures: int
    store: str | None = None

    @property
    def bounded(self) -> bool:
        """True when some samples were left out."""
        return len(self.indices) < self.total

    @property
    def others(self) -> int:
        """Embedded rows that are not failures (the random part)."""
        return len(self.indices) - self.embedded_failures

    def chosen(self) -> str:
        """How the embedded rows were chosen, e.g. "all 310 failures + a random 1,690 of the
        other 99,690"."""
        if self.embedded_failures < self.failures:
            return f"a random {self.embedded_failures:,} of {self.failures:,} failures"
        words = f"all {self.failures:,} failures"
        if self.others:
            words += f" + a random {self.others:,} of the other {self.total - self.failures:,}"
        return words

    def view_command(self) -> str:
        """The command that pages through every sample from the run store (the report's
        template states the choice with it above the sample browser)."""
        return f"medsafe view --store {self.store or 'STORE'}"


def choose_samples(runs: Sequence[RunData], limit: int | None = REPORT_SAMPLES,
                   store: str | Path | None = None, seed: int = SEED) -> EmbeddedSamples:
    """Choose the rows of ``runs`` (numbered in run order, rows in order) the report embeds:
    all of them when there are at most ``limit`` (or ``limit`` is None or 0), else the failures
    first, a seeded random share of them if they alone exceed the limit, and a seeded random
    sample of the other rows up to the limit."""
    if limit is not None and limit < 0:
        raise ValueError(f"cannot embed {limit} samples (0 or None embeds all)")
    flags: list[bool] = []
    for run in runs:
        kinds = {name: block.get("kind") for name, block in run.summary.get("suites", {}).items()
                 if isinstance(block, dict)}
        flags.extend(is_failure(row, kinds.get(row.get("suite"))) for row in run.rows)
    total, failed = len(flags), [i for i, f in enumerate(flags) if f]
    hint = None if store is None else str(store)
    if not limit or total <= limit:
        return EmbeddedSamples(list(range(total)), total, len(failed), len(failed), hint)
    rng = random.Random(seed)
    if len(failed) >= limit:
        chosen = rng.sample(failed, limit)
        kept_failures = limit
    else:
        others = [i for i, f in enumerate(flags) if not f]
        chosen = failed + rng.sample(others, limit - len(failed))
        kept_failures = len(failed)
    return EmbeddedSamples(sorted(chosen), total, len(failed), kept_failures,
                           hint or store_hint(runs))


__all__ = ["REPORT_SAMPLES", "EmbeddedSamples", "choose_samples", "is_failure", "store_hint"]
