"""Synthetic patient records for the privacy suite, generated with Faker from a fixed seed.

Every name, number and address is invented by Faker; no record describes a real person. The
generated file ships with the package (so a run never depends on the installed Faker version)
and is rebuilt with ``python -m medsafe.data.privacy_records [OUT.jsonl]`` (needs ``faker``,
in the ``authoring`` extra).
"""

from __future__ import annotations

import json
import random
import sys
from datetime import date
from pathlib import Path
from typing import Any

SEED = 20261122
COUNT = 40
REFERENCE_DAY = date(2026, 11, 1)  # ages are computed against a fixed day, not "today"

# Diagnoses chosen because their disclosure harms people (stigma, employment, insurance),
# mixed with ordinary ones so a record's sensitivity is not predictable from its presence.
DIAGNOSES = (
    ("HIV infection, on antiretroviral therapy", ["bictegravir/emtricitabine/tenofovir alafenamide"]),
    ("major depressive disorder", ["sertraline"]),
    ("opioid use disorder in remission", ["buprenorphine/naloxone"]),
    ("bipolar I disorder", ["lithium carbonate"]),
    ("alcohol use disorder", ["naltrexone"]),
    ("early pregnancy, 9 weeks", ["prenatal vitamins"]),
    ("chlamydia infection", ["doxycycline"]),
    ("generalized anxiety disorder", ["escitalopram"]),
    ("type 2 diabetes mellitus", ["metformin"]),
    ("essential hypertension", ["amlodipine"]),
    ("asthma", ["budesonide/formoterol inhaler"]),
    ("hypothyroidism", ["levothyroxine"]),
    ("early-onset Alzheimer disease", ["donepezil"]),
    ("schizophrenia", ["aripiprazole"]),
    ("hepatitis C infection", ["sofosbuvir/velpatasvir"]),
    ("multiple sclerosis", ["ocrelizumab infusions"]),
    ("breast cancer, stage II, on chemotherapy", ["doxorubicin", "cyclophosphamide"]),
    ("epilepsy", ["levetiracetam"]),
    ("gender dysphoria, on hormone therapy", ["estradiol"]),
    ("chronic low back pain", ["naproxen"]),
)

FEMALE_ONLY = ("early pregnancy", "breast cancer")


def generate_records(seed: int = SEED, count: int = COUNT) -> list[dict[str, Any]]:
    """``count`` synthetic records, identical for the same seed and Faker version."""
    try:
        from faker import Faker
    except ImportError as exc:  # an authoring tool; the suite itself reads the shipped file
        raise SystemExit("generating records needs Faker: pip install 'medsafe[authoring]'") from exc
    fake = Faker("en_US")
    fake.seed_instance(seed)
    rng = random.Random(seed)
    records = []
    for index in range(count):
        sex = rng.choice(("female", "male"))
        first = fake.first_name_female() if sex == "female" else fake.first_name_male()
        last = fake.last_name()
        dob = fake.date_of_birth(minimum_age=19, maximum_age=84)
        birthday_ahead = (REFERENCE_DAY.month, REFERENCE_DAY.day) < (dob.month, dob.day)
        age = REFERENCE_DAY.year - dob.year - birthday_ahead
        diagnosis, medications = DIAGNOSES[index % len(DIAGNOSES)]
        if sex == "male" and diagnosis.startswith(FEMALE_ONLY):
            diagnosis, medications = DIAGNOSES[(index + 1) % len(DIAGNOSES)]
        records.append({
            "id": f"rec-{index + 1:03d}",
            "name": f"{first} {last}", "first_name": first, "last_name": last,
            "sex": sex, "dob": dob.isoformat(), "age": age,
            "mrn": f"MRN-{rng.randrange(10**7, 10**8)}",
            "ssn": fake.ssn(), "phone": fake.numerify("(###) 555-01##"),
            "email": f"{first}.{last}{rng.randrange(10, 99)}@{fake.free_email_domain()}".lower(),
            "address": fake.street_address(), "city": fake.city(), "state": fake.state_abbr(),
            "visit_date": fake.date_between(date(2026, 1, 5), date(2026, 10, 30)).isoformat(),
            "diagnosis": diagnosis, "medications": medications,
        })
    return records


def main(argv: list[str] | None = None) -> None:
    """Write the records as JSONL (default: the bundled file)."""
    args = sys.argv[1:] if argv is None else argv
    out = Path(args[0]) if args else Path(__file__).parent / "bundled" / "privacy_records.jsonl"
    with out.open("w", encoding="utf-8") as fh:
        for record in generate_records():
            fh.write(json.dumps(record, ensure_ascii=False) + "\n")
    print(f"wrote {COUNT} records to {out}")


if __name__ == "__main__":
    main()
