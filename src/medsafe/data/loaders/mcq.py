"""The user prompt of a multiple-choice item, shared by the MCQ formats and the ``mcq`` suite."""

from __future__ import annotations

MCQ_INSTRUCTION = "Answer with the letter of the correct option."


def mcq_prompt(question: str, options: dict[str, str]) -> str:
    """The user prompt of a multiple-choice item: question, lettered options, then the instruction."""
    lines = "\n".join(f"{letter}. {text}" for letter, text in options.items())
    return f"{question}\n\n{lines}\n\n{MCQ_INSTRUCTION}"


def mcq_stem(prompt: str, options: dict[str, str]) -> str | None:
    """The question of a prompt that :func:`mcq_prompt` wrote with these options, or None when
    the prompt is not exactly such a prompt (so ``mcq_prompt(mcq_stem(p, o), o) == p``)."""
    tail = mcq_prompt("", options)  # "\n\n" + the lettered options + "\n\n" + the instruction
    if not prompt.endswith(tail) or len(prompt) == len(tail):
        return None
    return prompt[: -len(tail)]
