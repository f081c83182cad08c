"""Perturbations of multiple-choice questions, for the ``robustness`` suite (built-in or yours).

A perturbation is a plug-in of the ``medsafe.perturbations`` entry-point group: a
:class:`Perturbation` subclass with one method, ``apply(question, rng) -> Variant``. The
built-ins (``shuffle``, ``typos``, ``distractor``, ``lay``, ``pushback``) are registered there
too, in medsafe's own ``pyproject.toml``.
"""

from __future__ import annotations

import re

from medsafe.errors import MedsafeError
from medsafe.perturbations._base import Perturbation, Question, Variant, too_few_options
from medsafe.plugins import load_factory, plugin_names

AS_ASKED = "asis"  # the variant name of the question as written
# The order of the built-ins when all are run; plug-ins follow in name order.
BUILTIN_ORDER = ("shuffle", "typos", "distractor", "lay", "pushback")
_NAME = re.compile(r"[A-Za-z0-9_.-]+")

Choice = tuple[str, str]  # (name, argument); the argument is "" when none is given


def perturbation_names() -> list[str]:
    """Installed perturbations, built-ins first in their fixed order."""
    installed = set(plugin_names("perturbation"))
    return [n for n in BUILTIN_ORDER if n in installed] + sorted(installed - set(BUILTIN_ORDER))


def parse_perturbations(text: str) -> list[Choice] | None:
    """``shuffle,typos=0.1,pushback`` as (name, argument) pairs; None for ``""`` or ``all``."""
    text = text.strip()
    if text in ("", "all"):
        return None
    chosen: list[Choice] = []
    for part in text.split(","):
        name, eq, argument = part.strip().partition("=")
        name, argument = name.strip(), argument.strip()
        # repr() keeps the message on one line whatever the spec holds
        if not _NAME.fullmatch(name) or (eq and not argument):
            raise MedsafeError(f"perturbations {text!r}: {part.strip()!r} is not NAME or "
                               "NAME=ARGUMENT (names are separated by commas)")
        if name == "all":
            raise MedsafeError(f"perturbations {text!r}: 'all' stands alone")
        if name in {n for n, _ in chosen}:
            raise MedsafeError(f"perturbations {text!r}: '{name}' is named twice")
        chosen.append((name, argument))
    return chosen


def format_perturbations(chosen: list[Choice] | None) -> str:
    """The text :func:`parse_perturbations` reads back as ``chosen``."""
    if chosen is None:
        return "all"
    return ",".join(f"{name}={argument}" if argument else name for name, argument in chosen)


def resolve_perturbations(chosen: list[Choice] | None) -> list[Perturbation]:
    """Build the chosen perturbations (every installed one for None), checking their names."""
    known = perturbation_names()
    for name, _ in chosen or []:
        if name not in known:
            raise MedsafeError(f"unknown perturbation '{name}' (known: {', '.join(known)})")
    built = [load_factory("perturbation", name)(argument)
             for name, argument in (chosen if chosen is not None else [(n, "") for n in known])]
    for (name, _), perturbation in zip(chosen or [(n, "") for n in known], built, strict=True):
        if perturbation.name != name:
            raise MedsafeError(f"perturbation plug-in '{name}' calls itself '{perturbation.name}'; "
                               "its entry point and its name must agree")
    return built


__all__ = ["AS_ASKED", "BUILTIN_ORDER", "Choice", "Perturbation", "Question", "Variant",
           "format_perturbations", "parse_perturbations", "perturbation_names",
           "resolve_perturbations", "too_few_options"]
