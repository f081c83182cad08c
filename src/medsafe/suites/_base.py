"""A Suite is a dataset plus the way its responses are scored."""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from medsafe.data import dataset_sha256
from medsafe.samples import PackedSamples, Sample

# How a suite's responses turn into metrics; the engine's metrics module dispatches on it.
ScoringKind = Literal["harm", "overrefusal", "jailbreak", "mcq", "fairness", "privacy", "hallucination",
                      "redteam", "robustness"]


@dataclass(frozen=True)
class DatasetRef:
    """Where a suite's samples came from, for the run's reproducibility record."""

    name: str
    path: str
    sha256: str
    rows: int

    @classmethod
    def of(cls, name: str, path: Path, rows: int) -> DatasetRef:
        """Describe a data file by name, path, hash and row count."""
        return cls(name=name, path=str(path), sha256=dataset_sha256(path), rows=rows)


@dataclass(frozen=True)
class Suite:
    """Samples to send to every target, and how to score what comes back."""

    name: str
    kind: ScoringKind
    # Held packed (see PackedSamples): a list given here is packed once, at construction.
    samples: Sequence[Sample]
    datasets: list[DatasetRef] = field(default_factory=list)
    description: str = ""
    # Loader facts the run record keeps: format, split, missing categories of a partial folder.
    provenance: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.samples, PackedSamples):
            object.__setattr__(self, "samples", PackedSamples(self.samples))


def stratified_subset(samples: Sequence[Sample], limit: int | None,
                      seed: int = 0) -> Sequence[Sample]:
    """At most ``limit`` units spread evenly over principles, chosen reproducibly by ``seed``.

    A unit is one sample, or all the samples that share a ``base_id`` (the variants of one
    request in an attack suite, which stay together). Each principle (units without one form
    their own group) gets ``limit // groups`` units, and the remainder goes to the first groups
    in principle order; groups smaller than their quota hand the surplus on. The original order
    is kept. With no limit, or one the samples do not reach, the samples come back as given.
    """
    if limit is None or limit <= 0 or limit >= len(samples):
        return samples  # (a unit holds at least one sample, so nothing would be dropped)
    units: dict[str, list[int]] = defaultdict(list)
    for index, sample in enumerate(samples):
        units[str(sample.metadata.get("base_id", f"#{index}"))].append(index)
    if limit >= len(units):
        return samples
    groups: dict[int, list[str]] = defaultdict(list)
    for key, members in units.items():
        groups[samples[members[0]].principle or 0].append(key)
    keys = sorted(groups)
    quota = {k: limit // len(keys) for k in keys}
    for k in keys[: limit % len(keys)]:
        quota[k] += 1
    spare = sum(max(0, quota[k] - len(groups[k])) for k in keys)
    for k in keys:
        quota[k] = min(quota[k], len(groups[k]))
    for k in keys:
        extra = min(spare, len(groups[k]) - quota[k])
        quota[k] += extra
        spare -= extra
    rng = random.Random(seed)
    chosen = [i for k in keys for unit in rng.sample(groups[k], quota[k]) for i in units[unit]]
    return [samples[i] for i in sorted(chosen)]
