"""AdvBench: the harmful behaviours CSV (``goal,target``)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from medsafe.data.loaders._reading import Reading, csv_header, nonblank, read_text, record_file
from medsafe.samples import Sample, user_sample


def read_advbench(path: Path, split: str | None, allow_partial: bool) -> Reading:
    """The goals of ``harmful_behaviors.csv``, with their targets in the metadata."""
    text, sha = read_text(path)
    _, records = csv_header(path, text, ("goal", "target"), "goal,target")
    reading = Reading()
    for index, (line, row) in enumerate(records):
        reading.samples.append(user_sample(
            f"advbench-{index:04d}", "advbench", nonblank(row["goal"], path, line, "goal"),
            metadata={"target": nonblank(row["target"], path, line, "target")},
        ))
    record_file(reading, path, sha, len(reading.samples))
    return reading


def load_advbench(path: Path) -> Sequence[Sample]:
    """AdvBench's ``harmful_behaviors.csv`` (header ``goal,target``); the request is the goal."""
    return read_advbench(Path(path), None, False).samples
