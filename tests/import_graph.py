"""medsafe's own import graph, read from the source (ASTs), never by importing anything.

Tests use it to check module boundaries: which modules import which, and that no import circle
exists. An import is resolved to the medsafe module it names: ``from medsafe.report.runs import
RunData`` to ``medsafe.report.runs``; ``from medsafe.judges import Judge`` to the package
``medsafe.judges`` (its ``__init__``); ``from medsafe.report import runs`` to the submodule.
Imports under ``if TYPE_CHECKING:`` never run and are left out.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import medsafe

SRC = Path(medsafe.__file__).resolve().parent.parent


def medsafe_modules() -> dict[str, Path]:
    """Every medsafe module by dotted name (a package by its own name), with its source file."""
    modules = {}
    for path in sorted((SRC / "medsafe").rglob("*.py")):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def _type_checking_only(node: ast.If) -> bool:
    return "TYPE_CHECKING" in ast.unparse(node.test)


def _module_level(body: list[ast.stmt]) -> Iterator[ast.Import | ast.ImportFrom]:
    """Imports that run when the module is imported (also inside top-level if/try blocks)."""
    for node in body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        elif isinstance(node, ast.If) and not _type_checking_only(node):
            yield from _module_level(node.body)
            yield from _module_level(node.orelse)
        elif isinstance(node, ast.Try):
            for block in (node.body, node.orelse, node.finalbody):
                yield from _module_level(block)
            for handler in node.handlers:
                yield from _module_level(handler.body)


def _everywhere(tree: ast.Module) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import, also those inside functions and methods (not under TYPE_CHECKING)."""
    skipped = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If)
               and _type_checking_only(node) for n in ast.walk(node)}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom) and id(node) not in skipped:
            yield node


def imports_of(module: str, *, module_level_only: bool) -> set[str]:
    """The medsafe modules ``module`` imports (itself left out)."""
    modules = medsafe_modules()
    path = modules[module]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    nodes = _module_level(tree.body) if module_level_only else _everywhere(tree)
    found = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            base = node.module or ""
            if node.level:  # relative: up level - 1 packages from this module's package
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            names = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base
                     for a in node.names]
        for name in names:
            while name and name not in modules:  # medsafe.x.y.attr -> medsafe.x.y
                name = name.rpartition(".")[0]
            if name and name != module:
                found.add(name)
    return found


def import_graph(*, module_level_only: bool) -> dict[str, set[str]]:
    """module -> the medsafe modules it imports, for every medsafe module."""
    return {m: imports_of(m, module_level_only=module_level_only) for m in medsafe_modules()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The import circles: strongly connected groups of two or more modules (Tarjan), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)
