"""Plug-in lookup through Python entry points.

Built-in targets, judges, suites and perturbations are declared in medsafe's own ``pyproject.toml`` under the
same entry-point groups a third-party package would use, so the extension hook is exercised by
every run and nothing is registered as an import side effect.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any

from medsafe.errors import MedsafeError

GROUPS = {"target": "medsafe.targets", "judge": "medsafe.judges", "suite": "medsafe.suites",
           "strategy": "medsafe.strategies", "perturbation": "medsafe.perturbations"}


def plugin_names(kind: str) -> list[str]:
    """Names of the installed plug-ins of one kind ("target", "judge", "suite", "strategy",
    "perturbation")."""
    return sorted({ep.name for ep in entry_points(group=GROUPS[kind])})


def load_factory(kind: str, name: str) -> Callable[..., Any]:
    """Import and return the factory of the named plug-in, or fail with the list of known names."""
    matches = [ep for ep in entry_points(group=GROUPS[kind]) if ep.name == name]
    if not matches:
        known = ", ".join(plugin_names(kind)) or "none installed"
        raise MedsafeError(f"unknown {kind} kind '{name}' (known: {known})")
    return matches[0].load()


def split_spec(spec: str, kind: str) -> tuple[str, str]:
    """Split ``NAME:REST`` into its parts; a spec without a colon has an empty rest."""
    name, _, rest = spec.strip().partition(":")
    if not name:
        raise MedsafeError(f"empty {kind} spec '{spec}': write it as NAME[:ARGS]")
    return name, rest
