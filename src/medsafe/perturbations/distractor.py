"""``distractor``: a clinically irrelevant sentence added to the question (seeded).

The sentences are written for medsafe and shipped as the bundled ``distractors`` set. Each is
about the administrative setting (a repainted waiting room, a new printer) and none mentions
the patient, a symptom, a substance, food, animals, travel, weather, an exposure or a number, so
none can change which option is right. As a second check, a sentence that shares a content word
with the question's options is never used for that question.
"""

from __future__ import annotations

import random
import re
from pathlib import Path

from medsafe.data import bundled_path, load_bundled
from medsafe.errors import MedsafeError
from medsafe.perturbations._base import Perturbation, Question, Variant

# Words too common to count as shared content between a distractor and an option.
STOPWORDS = frozenset({
    "a", "an", "and", "are", "as", "at", "be", "been", "before", "by", "day", "during", "earlier",
    "for", "from", "had", "has", "have", "her", "his", "in", "into", "is", "it", "its", "just",
    "last", "new", "of", "on", "or", "our", "out", "over", "recently", "since", "that", "the",
    "than", "their", "them", "then", "there", "these", "this", "those", "through", "to", "up", "was",
    "were", "which", "with", "year",
})

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9])")


def content_words(text: str) -> set[str]:
    """Lower-case words of three or more letters, stop words left out."""
    return {w for w in re.findall(r"[a-z]{3,}", text.lower()) if w not in STOPWORDS}


def insert_sentence(stem: str, sentence: str) -> str:
    """``sentence`` placed before the stem's last sentence (the question asked), or before the
    whole stem when it is one sentence; everything else, line breaks included, is kept."""
    ends = list(_SENTENCE_END.finditer(stem))
    if not ends:
        return f"{sentence} {stem}"
    at = ends[-1].start()
    return f"{stem[:at]} {sentence}{stem[at:]}"


class Distractor(Perturbation):
    """Add one irrelevant sentence, drawn from the bundled ``distractors`` set."""

    name = "distractor"
    description = "a clinically irrelevant sentence added before the question is asked"

    def __init__(self, argument: str = "") -> None:
        super().__init__(argument)
        self.sentences = [(row["id"], row["text"]) for row in load_bundled("distractors")]

    def apply(self, question: Question, rng: random.Random) -> Variant:
        """The stem with a sentence that shares no content word with the options."""
        taken = set().union(*(content_words(text) for text in question.options.values()))
        usable = [(sid, text) for sid, text in self.sentences if not content_words(text) & taken]
        if not usable:
            raise MedsafeError(f"question {question.id}: every distractor sentence shares a word "
                               "with its options, so none can be added safely")
        sid, text = rng.choice(usable)
        return question.variant(stem=insert_sentence(question.stem, text),
                                detail={"distractor": sid})

    def data_files(self) -> dict[str, Path]:
        """The bundled sentences."""
        return {"distractors": bundled_path("distractors")}
