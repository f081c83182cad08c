"""The public surface: names users import, and the plug-ins medsafe registers for itself."""

from __future__ import annotations

import importlib

import pytest

import medsafe
from medsafe.judges import judge_kinds
from medsafe.perturbations import perturbation_names
from medsafe.suites import suite_names
from medsafe.targets import target_kinds


@pytest.mark.parametrize("name", medsafe.__all__)
def test_every_exported_name_resolves(name: str) -> None:
    assert getattr(medsafe, name) is not None


@pytest.mark.parametrize("module", ["medsafe.api", "medsafe.targets", "medsafe.judges",
                                    "medsafe.suites", "medsafe.engine", "medsafe.data",
                                    "medsafe.report", "medsafe.testing", "medsafe.redteam",
                                    "medsafe.gates", "medsafe.runfile", "medsafe.interop",
                                    "medsafe.perturbations"])
def test_subpackages_export_what_they_list(module: str) -> None:
    mod = importlib.import_module(module)
    for name in mod.__all__:
        assert hasattr(mod, name), f"{module}.{name}"


def test_builtin_plugins_are_registered_through_entry_points() -> None:
    assert {"embedded", "gguf", "openai", "hf", "mock"} <= set(target_kinds())
    assert {"classifier", "llm", "jury", "mock"} <= set(judge_kinds())
    assert {"harm", "overrefusal", "jsonl", "medsafetybench", "medqa", "redteam",
            "robustness"} <= set(suite_names())
    from medsafe.redteam import strategy_names

    assert {"pair", "crescendo"} <= set(strategy_names())
    assert perturbation_names()[:5] == ["shuffle", "typos", "distractor", "lay", "pushback"]


def test_importing_medsafe_does_not_load_heavy_dependencies() -> None:
    import subprocess
    import sys

    code = ("import sys, medsafe; heavy = [m for m in ('xllamacpp', 'sklearn', 'aiohttp', 'torch')"
            " if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
