"""What a re-run of a fine-tuning resumes from: the training its folder holds, the last complete
checkpoint, and the train log cut back to that checkpoint."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from medsafe.errors import MedsafeError
from medsafe.mitigate.finetune_config import FinetuneConfig


def claim_out_dir(config: FinetuneConfig, out: Path) -> None:
    """A folder holds one training: re-running with other training settings is an error."""
    record = out / "finetune.json"
    identity = config.training_identity()
    if record.is_file():
        stored = json.loads(record.read_text())
        if stored.get("training") != identity:
            raise MedsafeError(f"{out} holds a fine-tuning with other settings (see {record}): "
                               "use another --out, or delete the folder to start over")
    out.mkdir(parents=True, exist_ok=True)
    record.write_text(json.dumps({"training": identity, "config": config.model_dump(mode="json")},
                                 indent=2))


class TrainLog:
    """``OUT/train_log.jsonl``: one line per logged step; a resume drops the lines past the
    checkpoint it starts from, so every step appears once."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def truncate_after(self, step: int) -> None:
        """Keep only the lines of steps up to ``step``."""
        if not self.path.is_file():
            return
        keep = [line for line in self.path.read_text().splitlines()
                if line.strip() and json.loads(line).get("step", 0) <= step]
        self.path.write_text("".join(line + "\n" for line in keep))

    def append(self, row: dict[str, Any]) -> None:
        """Add one logged step."""
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(row) + "\n")

    def rows(self) -> list[dict[str, Any]]:
        """Every logged step."""
        if not self.path.is_file():
            return []
        return [json.loads(line) for line in self.path.read_text().splitlines() if line.strip()]


def last_complete_checkpoint(ckpt_dir: Path) -> str | None:
    """The newest checkpoint that was written to the end, or None.

    The trainer writes ``trainer_state.json`` last, so a checkpoint without a readable one was
    cut off by a kill while it was being saved; such a folder is removed so the step is
    checkpointed again.
    """
    if not ckpt_dir.is_dir():
        return None
    found = [(int(p.name.rsplit("-", 1)[1]), p) for p in ckpt_dir.glob("checkpoint-*")
             if p.is_dir() and p.name.rsplit("-", 1)[1].isdigit()]
    for _, path in sorted(found, reverse=True):
        try:
            json.loads((path / "trainer_state.json").read_text())
            return str(path)
        except (OSError, ValueError):
            shutil.rmtree(path)
    return None
