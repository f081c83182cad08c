"""Perturbations: ways of asking a multiple-choice question again without changing its answer.

A perturbation rewrites the question (its wording, its option order) or follows the model's
first answer with a second user turn; it returns the variant with its key in the letters the
model sees and, for each letter shown, the question's own letter behind it, so that answers to
every variant can be compared option for option.
"""

from __future__ import annotations

import abc
import random
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from medsafe.errors import MedsafeError


@dataclass(frozen=True)
class Question:
    """A multiple-choice question as perturbations see it: the stem without its options."""

    id: str
    stem: str
    options: dict[str, str]  # letter -> text, in the order shown
    answer: str  # the key's letter

    def variant(self, **changes: Any) -> Variant:
        """The question unchanged as a variant, with ``changes`` applied."""
        same = Variant(stem=self.stem, options=dict(self.options), answer=self.answer,
                       mapping={letter: letter for letter in self.options})
        return replace(same, **changes)


@dataclass(frozen=True)
class Variant:
    """One way of asking a question."""

    stem: str
    options: dict[str, str]  # letter shown -> text, in the order shown
    answer: str  # the key, in the letters shown
    mapping: dict[str, str]  # letter shown -> the question's own letter for that option
    # A user turn sent after the model's first answer; the variant's answer is the second one.
    follow_up: str | None = None
    # A wrong option (the question's own letter) that the follow-up asserts when
    # ``claim_stated``; a control turn keeps the same option unsaid, to compare like with like.
    claim: str | None = None
    claim_stated: bool = False
    detail: dict[str, Any] = field(default_factory=dict)  # what was changed, for the record


class Perturbation(abc.ABC):
    """A named way of perturbing questions. Subclasses set ``name`` and ``description`` and
    write :meth:`apply`; everything else has a default.

    Plug-ins are registered under the ``medsafe.perturbations`` entry-point group; the entry
    point is the class (or any callable taking the argument string of ``name=ARGUMENT``).
    """

    name: str = ""
    description: str = ""

    def __init__(self, argument: str = "") -> None:
        if argument:
            raise MedsafeError(f"perturbation '{self.name}' takes no argument (got '{argument}')")

    @abc.abstractmethod
    def apply(self, question: Question, rng: random.Random) -> Variant:
        """The perturbed variant of one question; ``rng`` is seeded by question and name."""

    def variants(self, question: Question, rng: random.Random) -> dict[str, Variant]:
        """Every variant this perturbation adds for a question, by name (one by default)."""
        return {self.name: self.apply(question, rng)}

    def unavailable(self, questions: list[Question]) -> str | None:
        """Why this perturbation cannot run on these questions (None when it can)."""
        return None

    def settings(self) -> dict[str, Any]:
        """Its parameters, recorded with the run."""
        return {}

    def data_files(self) -> dict[str, Path]:
        """Data files it reads, by name, so the run records their hashes."""
        return {}


def too_few_options(question: Question, needed: int, what: str) -> MedsafeError:
    """The one-line error for a question with too few options for a perturbation."""
    count = len(question.options)
    return MedsafeError(f"question {question.id} has {count} option{'s' if count != 1 else ''}: "
                        f"too short to {what} (needs {needed} or more)")
