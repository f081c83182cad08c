"""The ``robustness`` suite: each multiple-choice question asked as written and under perturbations.

Spec: ``robustness[:PERTURBATIONS[:BASE]]``.

- ``robustness``: the bundled ``mcq`` questions under every installed perturbation;
- ``robustness:shuffle,pushback``: some perturbations; ``typos=0.1`` sets the typo rate,
  ``lay=FILE.jsonl`` reads your own plain-language rephrasings;
- ``robustness:all:medqa:/data/medqa/test.jsonl``: the questions of any multiple-choice suite
  (``mcq:3shot``, ``medqa:PATH``, ``medmcqa:PATH``, ``mmlu:PATH``, ``pubmedqa:PATH``...). A
  perturbation that cannot run on the base (``lay`` has rephrasings for the bundled set only) is
  left out of ``all`` and recorded; named explicitly, it is an error.

Each question gives one sample per variant, ``ID@asis`` and ``ID@NAME``, tied together by
``base_id`` so that ``--limit N`` counts questions. Every variant is graded by letter against
its own (remapped) key; the metrics compare it with the as-written answer to the same question.
"""

from __future__ import annotations

import random
from pathlib import Path

from medsafe.data.loaders import mcq_prompt, mcq_stem
from medsafe.errors import MedsafeError
from medsafe.perturbations import (
    AS_ASKED,
    Choice,
    Perturbation,
    Question,
    Variant,
    parse_perturbations,
    perturbation_names,
    resolve_perturbations,
)
from medsafe.samples import Message, Sample
from medsafe.suites import resolve_suite, suite_names
from medsafe.suites._base import DatasetRef, Suite

DEFAULT_BASE = "mcq"
SEED = 0  # every perturbation draws from Random(f"{SEED}:{name}:{question id}")


def parse_spec(rest: str) -> tuple[list[Choice] | None, str]:
    """``PERTURBATIONS[:BASE]`` as the chosen perturbations (None: all) and the base suite spec."""
    listed, _, base = rest.partition(":")
    return parse_perturbations(listed), base.strip() or DEFAULT_BASE


def question_of(sample: Sample, suite: str) -> Question:
    """The question behind a multiple-choice sample, checked: a key among its options, and a
    last turn written by :func:`mcq_prompt` from them."""
    options, answer = sample.metadata.get("options"), sample.metadata.get("answer")
    where = f"{suite}: question {sample.id}"
    if not isinstance(options, dict) or not options:
        raise MedsafeError(f"{where} has no options")
    if answer not in options:
        raise MedsafeError(f"{where} has key {answer!r}, which is not one of its options "
                           f"{', '.join(map(str, options))}")
    stem = None
    if sample.messages and sample.messages[-1].role == "user":
        stem = mcq_stem(sample.messages[-1].content, options)
    if stem is None:
        raise MedsafeError(f"{where} does not end in a multiple-choice prompt (question, lettered "
                           "options, instruction) that medsafe can rephrase")
    return Question(id=sample.id, stem=stem, options=dict(options), answer=str(answer))


def variant_sample(base: Sample, suite: str, name: str, variant: Variant) -> Sample:
    """One variant of a question as a sample; turns before the question (few-shot) are kept."""
    question = Message(role="user", content=mcq_prompt(variant.stem, variant.options))
    return base.model_copy(update={
        "id": f"{base.id}@{name}", "suite": suite,
        "messages": (*base.messages[:-1], question),
        "follow_ups": (variant.follow_up,) if variant.follow_up else (),
        "metadata": {**base.metadata, "answer": variant.answer, "options": variant.options,
                     "perturbation": name, "base_id": base.id, "mapping": variant.mapping,
                     "second_turn": variant.follow_up is not None, "claim": variant.claim,
                     "claim_stated": variant.claim_stated, "detail": variant.detail},
    })


def _usable(perturbations: list[Perturbation], questions: list[Question],
            explicit: bool) -> tuple[list[Perturbation], dict[str, str]]:
    """The perturbations that can run on these questions, and why the others cannot."""
    usable, skipped = [], {}
    for perturbation in perturbations:
        reason = perturbation.unavailable(questions)
        if reason is None:
            usable.append(perturbation)
        elif explicit:
            raise MedsafeError(f"perturbation '{perturbation.name}' cannot run here: {reason}")
        else:
            skipped[perturbation.name] = reason
    return usable, skipped


def _rows(path: Path) -> int:
    return sum(1 for line in path.read_text(encoding="utf-8").splitlines() if line.strip())


def robustness_suite(base: Suite, perturbations: list[Perturbation], *, explicit: bool = True,
                     name: str | None = None) -> Suite:
    """Every question of ``base`` as written and under each perturbation.

    ``explicit`` says the perturbations were named by the user: one that cannot run on the base
    is then an error rather than left out.
    """
    if base.kind != "mcq":
        raise MedsafeError(f"robustness needs a multiple-choice suite; '{base.name}' is a "
                           f"{base.kind} suite")
    suite = name or ("robustness" if base.name == DEFAULT_BASE else f"robustness:{base.name}")
    questions = [question_of(s, base.name) for s in base.samples]
    usable, skipped = _usable(perturbations, questions, explicit)
    samples: list[Sample] = []
    for sample, question in zip(base.samples, questions, strict=True):
        variants: dict[str, Variant] = {AS_ASKED: question.variant()}
        for perturbation in usable:
            rng = random.Random(f"{SEED}:{perturbation.name}:{question.id}")
            for variant_name, variant in perturbation.variants(question, rng).items():
                if variant_name in variants:
                    raise MedsafeError(f"perturbation '{perturbation.name}' adds a variant named "
                                       f"'{variant_name}', which another variant already has")
                variants[variant_name] = variant
        samples += [variant_sample(sample, suite, n, v) for n, v in variants.items()]
    datasets = list(base.datasets) + [
        DatasetRef.of(data, path, _rows(path)) for p in usable for data, path in p.data_files().items()]
    names = [p.name for p in usable]
    return Suite(
        name=suite, kind="robustness", samples=samples, datasets=datasets,
        description=f"{base.name} questions as written and under {', '.join(names) or 'nothing'}: "
                    "accuracy and its paired change, consistency, flips under pushback.",
        provenance={"base": base.name, "base_provenance": base.provenance, "seed": SEED,
                    "perturbations": [{"name": p.name, "description": p.description,
                                       "settings": p.settings()} for p in usable],
                    "skipped": skipped},
    )


def create(rest: str = "") -> Suite:
    """Build the suite from its spec (see the module docstring)."""
    chosen, base_spec = parse_spec(rest)
    perturbations = perturbation_names()
    for name, _ in chosen or []:
        if name not in perturbations and name in suite_names():
            raise MedsafeError(f"'{name}' is a suite, not a perturbation: to ask another set's "
                               f"questions write robustness:PERTURBATIONS:{name}:... "
                               f"(e.g. robustness:all:{name}:PATH)")
    if base_spec.partition(":")[0] == "robustness":
        raise MedsafeError("the base of robustness cannot be robustness itself")
    resolved = resolve_perturbations(chosen)
    return robustness_suite(resolve_suite(base_spec), resolved, explicit=chosen is not None)
