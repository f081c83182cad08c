"""The user prompt of a multiple-choice item, shared by the MCQ formats and the ``mcq`` suite."""

from __future__ import annotations

MCQ_INSTRUCTION = "Answer with the letter of the correct option."


def mcq_prompt(question: str, options: dict[str, str]) -> str:
    """The user prompt of a multiple-choice item: question, lettered options, then the instruction."""
    lines = "\n".join(f"{letter}. {text}" for letter, text in options.items())
    return f"{question}\n\n{lines}\n\n{MCQ_INSTRUCTION}"
