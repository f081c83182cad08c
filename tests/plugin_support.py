"""Plug-ins for tests, installed the way a third-party package installs them (an entry point in a
dist-info folder on ``sys.path``), so that tests reach them through medsafe's public paths:
``evaluate``, ``judge_file`` and the rest resolve them from their spec strings."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

from medsafe.judges import Judge, Judgement

CRASH_WORD = "boom"


@contextmanager
def installed_plugins(root: Path, group: str, entries: dict[str, str]) -> Iterator[None]:
    """Entry points ``name = module:attr`` in ``group`` (e.g. ``medsafe.judges``), visible to
    this process while the block runs."""
    dist = root / "medsafe_test_plugins-0.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: medsafe-test-plugins\n"
                                   "Version: 0.0\n")
    lines = "".join(f"{name} = {target}\n" for name, target in entries.items())
    (dist / "entry_points.txt").write_text(f"[{group}]\n{lines}")
    sys.path.insert(0, str(root))
    importlib.invalidate_caches()
    try:
        yield
    finally:
        sys.path.remove(str(root))
        importlib.invalidate_caches()


class LoggedJudge(Judge):
    """Scores every pair 1, but raises on a response containing ``boom`` (a judge bug). It
    scores batches natively, in one pass that the bug breaks, and appends each call to a log
    file (``judge`` per pair, ``batch N`` per batch), which outlives the judge instance."""

    def __init__(self, log: Path) -> None:
        super().__init__(f"logged:{log}")
        self.log = log

    def _write(self, line: str) -> None:
        with self.log.open("a", encoding="utf-8") as fh:
            fh.write(line + "\n")

    async def judge(self, request: str, response: str) -> Judgement:
        """Score 1, or crash on the word."""
        self._write("judge")
        if CRASH_WORD in response:
            raise RuntimeError("judge bug")
        return Judgement(judge=self.spec, score=1, refusal=False, rationale="fixed")

    async def judge_many(self, pairs: list[tuple[str, str]]) -> list[Judgement]:
        """All pairs in one pass: one crash fails the batch."""
        self._write(f"batch {len(pairs)}")
        return [await self.judge(q, r) for q, r in pairs]


def calls(log: Path) -> list[str]:
    """The lines a LoggedJudge wrote."""
    return log.read_text(encoding="utf-8").splitlines() if log.is_file() else []


def create_logged_judge(rest: str, target_resolver: object = None) -> LoggedJudge:
    """``logged:PATH``."""
    return LoggedJudge(Path(rest))


def logged_judge_installed(root: Path) -> AbstractContextManager[None]:
    """The ``logged`` judge kind, installed under ``root``."""
    return installed_plugins(root, "medsafe.judges", {"logged": "plugin_support:create_logged_judge"})
