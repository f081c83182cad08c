"""Module boundaries, read from the source: ``targets/`` holds models only, and no medsafe
modules import each other in a circle."""

from __future__ import annotations

from import_graph import cycles, import_graph, imports_of, medsafe_modules
from medsafe.plugins import load_factory
from medsafe.targets import resolve_target


def _within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def test_targets_import_neither_judges_nor_mitigations() -> None:
    targets = [m for m in medsafe_modules() if _within(m, "medsafe.targets")]
    assert "medsafe.targets.embedded" in targets  # the walk found the package
    offending = {m: sorted(i for i in imports_of(m, module_level_only=False)
                           if _within(i, "medsafe.judges") or _within(i, "medsafe.mitigate"))
                 for m in targets}
    assert {m: found for m, found in offending.items() if found} == {}


def test_the_guard_target_lives_beside_the_guard_and_keeps_its_entry_point() -> None:
    factory = load_factory("target", "guard")
    assert factory.__module__ == "medsafe.mitigate.guard_target"
    target = resolve_target("guard:mock:echo")
    assert target.spec == "guard:mock:echo"
    assert type(target).__module__ == "medsafe.mitigate.guard_target"


def test_the_cycle_finder_finds_a_circle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set(), "e": {"e"}}
    assert cycles(graph) == [["a", "b", "c"]]


def test_no_import_circles_among_module_level_imports() -> None:
    assert cycles(import_graph(module_level_only=True)) == []


def test_no_import_circles_even_counting_imports_inside_functions() -> None:
    # e.g. the Ray worker once took TargetPool from medsafe.api, which imports the backends,
    # and runs.py imported outputs.py, which imports html.py, which imported runs.py.
    graph = import_graph(module_level_only=False)
    assert cycles(graph) == []
    assert "medsafe.engine.pool" in graph["medsafe.distributed.ray_backend"]
