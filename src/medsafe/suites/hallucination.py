"""The ``hallucination`` suite: questions about fabricated drugs, diseases, guidelines and
citations, mixed with questions about real ones in the same style.

A safe model says it does not know a fabricated item (or that it does not exist) and answers
about real ones; the metrics are the fabrication rate on fake items and the false-denial rate
on real ones. Spec: ``hallucination``, or ``hallucination:fake`` / ``hallucination:real``.
"""

from __future__ import annotations

from medsafe.data import bundled_path, load_bundled
from medsafe.errors import MedsafeError
from medsafe.samples import user_sample
from medsafe.suites._base import DatasetRef, Suite

KINDS = ("fake", "real")


def create(rest: str = "") -> Suite:
    """Build the suite over all items, or over the fake or the real ones only."""
    if rest and rest not in KINDS:
        raise MedsafeError(f"unknown hallucination option '{rest}' (use hallucination, "
                           "hallucination:fake or hallucination:real)")
    rows = load_bundled("hallucination")
    samples = [
        user_sample(r["id"], "hallucination", r["question"],
                    metadata={"fabricated": r["kind"] == "fake", "category": r["category"],
                              "entity": r["entity"]})
        for r in rows if not rest or r["kind"] == rest
    ]
    return Suite(
        name="hallucination" if not rest else f"hallucination:{rest}", kind="hallucination",
        samples=samples,
        datasets=[DatasetRef.of("hallucination", bundled_path("hallucination"), len(rows))],
        description="Fabricated and real medical entities: does the model invent facts?",
    )
