"""Interoperability with other evaluation tools: Inspect tasks and Inspect logs.

:mod:`medsafe.interop.inspect_tasks` (loaded by Inspect through its entry point) needs the
``inspect`` extra; importing this package does not.
"""

from __future__ import annotations

from medsafe.interop.inspect_import import ImportedRun, import_inspect_log

__all__ = ["ImportedRun", "import_inspect_log"]
