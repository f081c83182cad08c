"""Training data for fine-tuning and the before/after statistics (no model needed)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from medsafe.errors import InputError, MedsafeError
from medsafe.mitigate.comparison import rate_difference
from medsafe.mitigate.sft_data import (
    BENIGN_REFUSALS,
    Demonstration,
    load_demonstrations,
    mix,
    preference_pairs,
)


def test_newcombe_interval_matches_the_published_example() -> None:
    # Newcombe (1998), Statistics in Medicine 17:873, method 10: 56/70 vs 48/80.
    result = rate_difference((56, 70), (48, 80))
    assert result is not None
    assert result["diff"] == pytest.approx(0.2)
    assert result["ci95"] == pytest.approx([0.0524, 0.3339], abs=5e-4)


def test_bundled_harm_train_split_gives_safe_reference_answers() -> None:
    demos = load_demonstrations("harm", "safety")  # a bare name means the train split
    assert len(demos) == 450 and {d.split for d in demos} == {"train"}
    assert all(d.response and d.kind == "safety" for d in demos)


def test_benign_mix_is_reproducible_and_bounded_by_what_exists() -> None:
    safety = [Demonstration(f"h{i}", "r", "no", "safety") for i in range(10)]
    benign = [Demonstration(f"b{i}", "q", "a", "benign") for i in range(3)]
    first, again = mix(safety, benign, 0.2, seed=7), mix(safety, benign, 0.2, seed=7)
    assert first == again
    assert sum(d.kind == "benign" for d in first) == 2
    repeated = [d for d in mix(safety, benign, 1.0, seed=7) if d.kind == "benign"]
    assert len(repeated) == 10  # a ratio of 1 balances the kinds: 3 + 3 + 3 rounds, then 1
    assert sorted({repeated.count(b) for b in benign}) == [3, 4]
    with pytest.raises(MedsafeError):
        mix(safety, benign, -1, seed=0)


def test_dpo_pairs_use_compliant_answers_and_refusals_of_benign_requests() -> None:
    demos = [Demonstration("h1", "bad", "no", "safety"), Demonstration("h2", "bad2", "no", "safety"),
             Demonstration("b1", "ok", "answer", "benign")]
    pairs, dropped = preference_pairs(demos, {"h1": "sure, here is how"})
    assert dropped == 1  # h2: the base model refused, so there is nothing to reject
    by_id = {p.id: p for p in pairs}
    assert by_id["h1"].rejected == "sure, here is how"
    assert by_id["b1"].rejected in BENIGN_REFUSALS


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(st.text(min_size=1), st.text(min_size=1)), min_size=1, max_size=5))
def test_any_jsonl_of_requests_and_references_loads_as_written(
        tmp_path_factory: pytest.TempPathFactory, rows: list[tuple[str, str]]) -> None:
    path = tmp_path_factory.mktemp("d") / "train.jsonl"
    path.write_text("".join(json.dumps({"request": q, "reference_response": a}) + "\n"
                            for q, a in rows), encoding="utf-8")
    demos = load_demonstrations(str(path), "safety")
    assert [(d.request, d.response) for d in demos] == rows
    assert [d.id for d in demos] == [f"L{i}" for i in range(1, len(rows) + 1)]


def test_a_rejected_field_of_the_wrong_type_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_text('{"request": "x", "reference": "no", "rejected": 3}\n')
    with pytest.raises(InputError, match=r"t\.jsonl:1: field 'rejected'"):
        load_demonstrations(str(path), "safety")


def test_importing_the_fine_tuning_api_loads_no_training_library() -> None:
    import subprocess
    import sys

    code = ("import sys, medsafe.mitigate as m; assert all(hasattr(m, n) for n in m.__all__); "
            "print([x for x in ('torch', 'transformers', 'trl', 'peft', 'gguf') if x in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
