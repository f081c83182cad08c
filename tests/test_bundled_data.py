"""Quality gates of the datasets written for medsafe: counts, fields, balance, no near-duplicates."""

from __future__ import annotations

from collections import Counter
from itertools import combinations

import numpy as np
import pytest
from sklearn.feature_extraction.text import CountVectorizer

from medsafe.data import BUNDLED, load_bundled
from medsafe.judges.classifier import load_shipped_model

STYLES = {"direct", "clinical_jargon", "professional_pretext", "hypothetical", "indirect"}
REQUESTERS = {"clinician", "patient", "administrator", "researcher", "industry", "other"}


def max_jaccard_3grams(texts: list[str]) -> tuple[float, tuple[int, int]]:
    """Largest character 3-gram Jaccard similarity between any two texts (sparse, exact)."""
    x = CountVectorizer(analyzer="char", ngram_range=(3, 3), lowercase=True, binary=True)
    m = x.fit_transform(texts).astype(np.int32)
    inter = (m @ m.T).toarray()
    sizes = np.asarray(m.sum(axis=1)).ravel()
    union = sizes[:, None] + sizes[None, :] - inter
    jac = np.where(union > 0, inter / np.maximum(union, 1), 0.0)
    np.fill_diagonal(jac, 0)
    i, j = np.unravel_index(np.argmax(jac), jac.shape)
    return float(jac[i, j]), (int(i), int(j))


@pytest.mark.parametrize("name", sorted(BUNDLED))
def test_every_bundled_set_has_unique_ids_and_its_fields(name: str) -> None:
    rows = load_bundled(name)  # validates the typed fields of every row
    ids = [r["id"] for r in rows]
    assert len(ids) == len(set(ids))


def test_harm_has_100_per_principle_balanced_by_style_and_split() -> None:
    rows = load_bundled("harm")
    assert len(rows) >= 900
    assert Counter(r["principle"] for r in rows) == {p: 100 for p in range(1, 10)}
    cells = Counter((r["principle"], r["style"], r["split"]) for r in rows)
    assert {r["style"] for r in rows} == STYLES
    assert all(cells[(p, s, sp)] == 10 for p in range(1, 10) for s in STYLES
               for sp in ("train", "test"))
    assert {r["severity"] for r in rows} == {1, 2, 3}
    assert {r["requester"] for r in rows} <= REQUESTERS
    assert all(r["request"].strip() and r["reference_response"].strip() for r in rows)


def test_overrefusal_has_50_per_principle_split_evenly() -> None:
    rows = load_bundled("overrefusal")
    assert Counter(r["principle"] for r in rows) == {p: 50 for p in range(1, 10)}
    assert Counter(r["split"] for r in rows) == {"train": 225, "test": 225}


def test_mcq_questions_have_4_or_5_options_and_a_valid_key() -> None:
    rows = load_bundled("mcq")
    assert len(rows) >= 150
    for r in rows:
        assert sorted(r["options"]) in (list("ABCD"), list("ABCDE")), r["id"]
        assert r["answer"] in r["options"], r["id"]
        assert len(set(r["options"].values())) == len(r["options"]), r["id"]
    assert len({r["specialty"] for r in rows}) >= 10


@pytest.mark.parametrize("name", ["harm", "overrefusal"])
def test_no_two_requests_are_near_duplicates_by_character_3grams(name: str) -> None:
    texts = [r["request"] for r in load_bundled(name)]
    worst, (i, j) = max_jaccard_3grams(texts)
    assert worst <= 0.7, (texts[i], texts[j])


def test_no_two_requests_are_near_duplicates_in_the_judges_feature_space() -> None:
    model = load_shipped_model()
    texts = [r["request"] for name in ("harm", "overrefusal") for r in load_bundled(name)]
    x = model.vectorizers["request_words"].transform(texts)  # rows are L2-normalised
    cos = (x @ x.T).toarray()
    np.fill_diagonal(cos, 0)
    i, j = np.unravel_index(np.argmax(cos), cos.shape)
    assert cos[i, j] <= 0.92, (texts[i], texts[j])


def test_judge_eval_shares_no_request_with_judge_train() -> None:
    train = {r["request"].strip().lower() for r in load_bundled("judge_train")}
    assert not [r for r in load_bundled("judge_eval") if r["request"].strip().lower() in train]


def test_judge_corpora_cover_every_principle_and_level() -> None:
    rows = load_bundled("judge_train")
    assert len(rows) >= 1500
    harmful = [r for r in rows if r["principle"] != 0]
    assert {r["principle"] for r in harmful} == set(range(1, 10))
    assert {r["score"] for r in harmful} == {1, 2, 3, 4, 5}
    assert len(load_bundled("judge_eval")) >= 300


def test_harm_requests_pairwise_check_is_exact_on_a_small_example() -> None:
    texts = ["abcdef", "abcdeg", "zzzzzz"]
    worst, pair = max_jaccard_3grams(texts)
    grams = [{t[k:k + 3] for k in range(len(t) - 2)} for t in texts]
    expected = max(len(a & b) / len(a | b) for a, b in combinations(grams, 2))
    assert worst == pytest.approx(expected) and pair == (0, 1)


@pytest.mark.parametrize("name", sorted(BUNDLED))
def test_every_bundled_set_has_a_card_with_its_current_rows_and_hash(name: str) -> None:
    from medsafe.data import bundled_path, dataset_sha256

    card = bundled_path(name).with_suffix(".md").read_text()
    for heading in ("**What.**", "**Counts.**", "**How it was written.**", "**Intended use.**",
                    "**Limits.**", "license:"):
        assert heading in card, heading
    assert f"- rows: {len(load_bundled(name))}\n" in card
    assert f"- sha256: {dataset_sha256(bundled_path(name))}\n" in card
