"""``typos``: character-level noise in the question at a stated rate (seeded).

Every letter of every word of three or more letters may be hit, medical terms included ("adenosine"
→ "adenosin"); digits, units and punctuation never are, because a changed number changes the
question. A hit letter is swapped with the next letter, dropped, doubled, or replaced by a
neighbouring key on a QWERTY keyboard. The options are left as written, so the answer is still
one of them word for word.
"""

from __future__ import annotations

import random
import re

from medsafe.errors import MedsafeError
from medsafe.perturbations._base import Perturbation, Question, Variant

DEFAULT_RATE = 0.05  # per eligible letter: about one typo in every four words of clinical prose

_ROWS = ("qwertyuiop", "asdfghjkl", "zxcvbnm")


def keyboard_neighbours() -> dict[str, str]:
    """For each lower-case letter, the keys next to it on its own row and the rows above and
    below (QWERTY)."""
    out = {}
    for r, row in enumerate(_ROWS):
        for c, key in enumerate(row):
            near = {row[j] for j in (c - 1, c + 1) if 0 <= j < len(row)}
            for other in (r - 1, r + 1):
                if 0 <= other < len(_ROWS):
                    near |= {_ROWS[other][j] for j in (c - 1, c, c + 1) if 0 <= j < len(_ROWS[other])}
            out[key] = "".join(sorted(near))
    return out


NEIGHBOURS = keyboard_neighbours()
_WORD = re.compile(r"[A-Za-z]{3,}")
OPERATIONS = ("swap", "drop", "double", "neighbour")


def _neighbour(letter: str, rng: random.Random) -> str:
    choice = rng.choice(NEIGHBOURS[letter.lower()])
    return choice.upper() if letter.isupper() else choice


def add_typos(text: str, rate: float, rng: random.Random) -> tuple[str, int]:
    """``text`` with each letter of a 3+ letter word hit with probability ``rate`` (at least one
    letter when any is eligible), and the number of typos made. Non-letters are kept."""
    eligible = [m.start() + k for m in _WORD.finditer(text) for k in range(len(m.group()))]
    hits = [i for i in eligible if rng.random() < rate]
    if not hits and eligible:
        hits = [rng.choice(eligible)]
    chars = list(text)
    # From the end, so that dropping or doubling a letter moves no position still to be hit.
    for i in sorted(set(hits), reverse=True):
        operation = rng.choice(OPERATIONS)
        if operation == "swap" and i + 1 < len(chars) and chars[i + 1].isalpha() \
                and chars[i + 1].lower() != chars[i].lower():
            chars[i], chars[i + 1] = chars[i + 1], chars[i]
        elif operation == "drop":
            del chars[i]
        elif operation == "double":
            chars.insert(i, chars[i])
        else:
            chars[i] = _neighbour(chars[i], rng)
    noisy = "".join(chars)
    if hits and noisy == text:  # a drop undid a doubling next to it: make one typo that stays
        i = hits[0]
        noisy = text[:i] + _neighbour(text[i], rng) + text[i + 1:]
    return noisy, len(set(hits))


def parse_rate(argument: str) -> float:
    """A typo rate from ``typos=RATE``: a number above 0 and at most 0.5."""
    if not argument:
        return DEFAULT_RATE
    try:
        rate = float(argument)
    except ValueError:
        rate = float("nan")
    if not 0 < rate <= 0.5:  # also false for NaN
        shown = argument if argument.isprintable() else repr(argument)  # one line, always
        raise MedsafeError(f"typos={shown}: the rate must be a number above 0 and at most 0.5 "
                           f"(the default is {DEFAULT_RATE})")
    return rate


class Typos(Perturbation):
    """Character noise in the question stem at ``rate`` per letter (``typos=0.1``)."""

    name = "typos"
    description = "character-level typos in the question (seeded), medical terms included"

    def __init__(self, argument: str = "") -> None:
        self.rate = parse_rate(argument)

    def apply(self, question: Question, rng: random.Random) -> Variant:
        """The stem with typos; the options and the key unchanged."""
        stem, count = add_typos(question.stem, self.rate, rng)
        return question.variant(stem=stem, detail={"typos": count, "rate": self.rate})

    def settings(self) -> dict[str, float]:
        """The rate per eligible letter."""
        return {"rate": self.rate}
