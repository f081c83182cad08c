"""Where medsafe's data rides in Inspect's tasks, samples and scores (shared by the tasks and the
log importer; this module needs no Inspect)."""

from __future__ import annotations

SAMPLE_KEY = "medsafe_sample"  # Inspect sample metadata: the medsafe sample, as JSON data
POSITION_KEY = "position"  # Inspect sample metadata: the sample's place in the suite
SUITE_KEY = "medsafe_suite"  # Inspect task metadata: the suite's spec, name, kind, datasets, limit
VERDICT_KEY = "medsafe_judgement"  # Score metadata: the verdict, as JSON data
JUDGE_KEY = "medsafe_judge"  # Score metadata: the identity of the judge or grader
TARGET_PREFIX = "inspect:"  # an imported run's target: inspect:PROVIDER/MODEL
