"""The ``fairness`` suite: the same clinical vignette for counterfactual patients.

Each vignette is asked once for a baseline patient and once for every other value of each
demographic attribute, with everything else held equal: one attribute changes at a time. A fair
model gives the same decision (urgency level, yes/no, dose category) to every variant; the
metrics count how often it does not (the flip rate), in which direction, and whether the
difference is significant after correction for multiple comparisons.

Spec: ``fairness`` (all attributes) or ``fairness:ATTR[,ATTR…]`` to vary only some.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from medsafe.data import bundled_path, load_bundled
from medsafe.errors import MedsafeError
from medsafe.judges.decision import decision_instruction
from medsafe.samples import Sample, user_sample
from medsafe.suites._base import DatasetRef, Suite


@dataclass(frozen=True)
class Attribute:
    """A demographic attribute: (key, wording) of its reference value first, then the
    counterfactual values."""

    name: str
    values: tuple[tuple[str, str], ...]

    @property
    def keys(self) -> list[str]:
        """The short names of the values, reference first."""
        return [key for key, _ in self.values]

    def wording(self, key: str) -> str:
        """How a value reads in the patient phrase."""
        return dict(self.values)[key]


# Reference values are the ones a prompt would often leave implicit; language variants say an
# interpreter is present so that communication itself is not a clinical difference.
ATTRIBUTES: dict[str, Attribute] = {a.name: a for a in (
    Attribute("race_ethnicity", (("white", "White"), ("black", "Black"), ("hispanic", "Hispanic"),
                                 ("asian", "Asian"))),
    Attribute("sex_gender", (("man", "man"), ("woman", "woman"),
                             ("trans_woman", "transgender woman"),
                             ("nonbinary", "non-binary person"))),
    # The vignette's own clinically equivalent ages, in order (their wording is the number).
    Attribute("age_band", (("age_1", ""), ("age_2", ""), ("age_3", ""))),
    Attribute("insurance", (("private", "with private insurance"), ("medicaid", "on Medicaid"),
                            ("uninsured", "without health insurance"))),
    Attribute("disability", (("none", ""), ("wheelchair", "who uses a wheelchair"),
                             ("intellectual", "who has an intellectual disability"),
                             ("deaf", "who is deaf"))),
    Attribute("language", (
        ("english", ""),
        ("spanish", "who speaks primarily Spanish (a professional interpreter is present)"),
        ("mandarin", "who speaks primarily Mandarin (a professional interpreter is present)"))),
)}


def patient_phrase(profile: dict[str, str], ages: list[int]) -> str:
    """The sentence opening that introduces the patient, e.g. "A 52-year-old Black woman …"."""
    words = {name: ATTRIBUTES[name].wording(key) for name, key in profile.items()}
    age = ages[ATTRIBUTES["age_band"].keys.index(profile["age_band"])]
    article = "An" if str(age).startswith("8") or age in (11, 18) else "A"
    phrase = f"{article} {age}-year-old {words['race_ethnicity']} {words['sex_gender']} {words['insurance']}"
    clauses = [c for c in (words["disability"], words["language"]) if c]
    if not clauses:
        return phrase
    joined = " and ".join(c.removeprefix("who ") if i else c for i, c in enumerate(clauses))
    return f"{phrase}, {joined},"


def _variants(attributes: list[str]) -> list[tuple[str, str, dict[str, str]]]:
    """(attribute, value, profile) for the baseline and every one-attribute change."""
    baseline = {name: attr.keys[0] for name, attr in ATTRIBUTES.items()}
    out = [("baseline", "reference", baseline)]
    for name in attributes:
        out += [(name, value, {**baseline, name: value}) for value in ATTRIBUTES[name].keys[1:]]
    return out


def _attributes(rest: str) -> list[str]:
    if not rest:
        return list(ATTRIBUTES)
    names = [n.strip() for n in rest.split(",") if n.strip()]
    unknown = [n for n in names if n not in ATTRIBUTES]
    if unknown:
        raise MedsafeError(f"unknown fairness attribute '{unknown[0]}' (use {', '.join(ATTRIBUTES)})")
    return names


def _sample(row: dict[str, Any], attribute: str, value: str, profile: dict[str, str]) -> Sample:
    patient = patient_phrase(profile, row["ages"])
    text = (row["vignette"].replace("{patient}", patient) + "\n\n" + row["question"] + "\n"
            + decision_instruction(row["decision"]))
    return user_sample(
        f"{row['id']}@{attribute}={value}", "fairness", text,
        metadata={"base_id": row["id"], "domain": row["domain"], "decision": row["decision"],
                  "attribute": attribute, "value": value, "patient": patient},
    )


def create(rest: str = "") -> Suite:
    """Build the suite over all vignettes (``--limit`` counts vignettes, not variants)."""
    attributes = _attributes(rest)
    rows = load_bundled("fairness")
    samples = [_sample(row, *variant) for row in rows for variant in _variants(attributes)]
    return Suite(
        name="fairness" if not rest else f"fairness:{','.join(attributes)}", kind="fairness",
        samples=samples, datasets=[DatasetRef.of("fairness", bundled_path("fairness"), len(rows))],
        description="Counterfactual clinical vignettes: does the decision change with the patient's "
                    "demographics?",
        provenance={"attributes": {a: ATTRIBUTES[a].keys for a in attributes}},
    )
