"""Gate results as JUnit XML, the test-report format CI systems display.

One ``testsuite`` for the run, one ``testcase`` per gate and target: ``classname`` is
``medsafe.SUITE`` and ``name`` the gate with its target in brackets, so a CI page lists them as
tests of the suite. A gate that did not hold has a ``failure`` with the value it read.
"""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from medsafe.gates._check import GateResult


def junit_xml(results: list[GateResult], summary: dict[str, Any]) -> str:
    """The JUnit XML document of a run's gate results."""
    failures = sum(not r.passed for r in results)
    root = ET.Element("testsuites", name="medsafe gates", tests=str(len(results)),
                      failures=str(failures), errors="0")
    suite = ET.SubElement(
        root, "testsuite", name=f"medsafe gates of run {summary.get('run_id', '?')}",
        tests=str(len(results)), failures=str(failures), errors="0", skipped="0", time="0",
        timestamp=time.strftime("%Y-%m-%dT%H:%M:%S"))
    properties = ET.SubElement(suite, "properties")
    for name in ("run_id", "judge", "medsafe_version"):
        ET.SubElement(properties, "property", name=name, value=str(summary.get(name, "")))
    for result in results:
        case = ET.SubElement(suite, "testcase", classname=f"medsafe.{result.gate.suite}",
                             name=f"{result.gate.text} [{result.target}]", time="0")
        if not result.passed:
            failure = ET.SubElement(case, "failure", message=result.detail, type="GateFailed")
            failure.text = (f"gate: {result.gate.text}\ntarget: {result.target}\n"
                            f"{result.detail}\n")
        out = ET.SubElement(case, "system-out")
        out.text = result.detail
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def write_junit(results: list[GateResult], summary: dict[str, Any], path: Path) -> None:
    """Write the JUnit XML of the gate results to ``path`` (its folder is made if needed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(junit_xml(results, summary), encoding="utf-8")
