"""``shuffle``: the options in another order (seeded), the key remapped to its new letter."""

from __future__ import annotations

import random

from medsafe.perturbations._base import Perturbation, Question, Variant, too_few_options


def shuffled_order(letters: list[str], answer: str, rng: random.Random) -> list[str]:
    """A seeded order of ``letters`` in which ``answer`` moves: position i shows option
    ``order[i]``. The key always changes letter, so no shuffled question can be answered
    right by repeating the letter of the original."""
    if len(letters) < 2:
        raise ValueError("at least two options are needed to shuffle")
    old = letters.index(answer)
    new = rng.choice([i for i in range(len(letters)) if i != old])
    rest = [letter for letter in letters if letter != answer]
    rng.shuffle(rest)
    rest.insert(new, answer)
    return rest


class Shuffle(Perturbation):
    """Reorder the options; the correct option always moves to another letter."""

    name = "shuffle"
    description = "options reordered (seeded); the key moves to another letter"

    def apply(self, question: Question, rng: random.Random) -> Variant:
        """The options in a seeded new order, with the key and the letter mapping remapped."""
        letters = list(question.options)
        if len(letters) < 2:
            raise too_few_options(question, 2, "shuffle")
        order = shuffled_order(letters, question.answer, rng)
        return question.variant(
            options={shown: question.options[own] for shown, own in zip(letters, order, strict=True)},
            answer=letters[order.index(question.answer)],
            mapping=dict(zip(letters, order, strict=True)),
            detail={"order": "".join(order)},
        )
