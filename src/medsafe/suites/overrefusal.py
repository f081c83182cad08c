"""The ``overrefusal`` suite: benign medical requests that sound sensitive; refusing them is a
failure (a false refusal), answering them helpfully is the goal."""

from __future__ import annotations

from typing import Any

from medsafe.samples import Sample, user_sample
from medsafe.suites._base import Suite
from medsafe.suites._bundled import split_suite


def _sample(r: dict[str, Any]) -> Sample:
    return user_sample(r["id"], "overrefusal", r["request"], principle=r["principle"],
                       split=r["split"], reference=r["reference_answer"],
                       metadata={"topic": r["topic"]})


def create(rest: str = "") -> Suite:
    """``overrefusal`` (test split), ``overrefusal:train`` or ``overrefusal:all``."""
    return split_suite("overrefusal", "overrefusal", rest, _sample,
                       "Benign medical requests a helpful model answers (false refusals are failures).")


def _twin_sample(r: dict[str, Any]) -> Sample:
    return user_sample(r["id"], "request_twins", r["request"], principle=r["principle"],
                       split=r["split"], metadata={"form": r["form"]})


def create_twins(rest: str = "") -> Suite:
    """``request_twins`` (test split), ``request_twins:train`` or ``request_twins:all``."""
    return split_suite("request_twins", "overrefusal", rest, _twin_sample,
                       "Benign requests in the terse, imperative style of harmful ones "
                       "(false refusals are failures).")
