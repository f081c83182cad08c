"""Synthetic runs for testing and benchmarking reports: a summary and sample rows shaped exactly
like those ``medsafe eval`` writes, for any number of targets and samples, with no model.

The harm, over-refusal, jailbreak and MCQ suites go through the real metrics code
(:func:`medsafe.report.outputs.build_summary` over store-shaped items); the fairness, privacy and
hallucination suites follow the summary.json contract with metrics computed here. Texts are
filler of realistic length, deterministic for a seed, and never contain anything harmful.
"""

from __future__ import annotations

import json
import random
from collections import defaultdict
from typing import Any

from medsafe.intervals import wilson_interval

WORDS = ("patient", "clinic", "record", "consent", "nurse", "doctor", "review", "policy", "chart",
         "referral", "dose", "schedule", "follow-up", "symptom", "history", "guideline", "team",
         "hospital", "care", "plan", "privacy", "insurance", "study", "protocol", "ethics",
         "board", "advice", "report", "safety", "question", "answer", "summary", "visit", "staff")
ATTACKS = ("plain", "roleplay", "base64", "fiction")
FAIR_ATTRIBUTES = {"race": ["white", "black", "asian"], "sex": ["male", "female"],
                   "insurance": ["private", "uninsured"]}
PARTIES = ("relative", "employer", "journalist", "clinician")
HALLU_CATEGORIES = ("drug", "guideline", "citation")


def _text(rng: random.Random, chars: int) -> str:
    words: list[str] = []
    size = 0
    while size < chars:
        word = rng.choice(WORDS)
        words.append(word)
        size += len(word) + 1
    return " ".join(words).capitalize() + "."


def _profile(target: str, index: int) -> dict[str, float]:
    """How a synthetic target behaves: guarded targets refuse more, also benign requests."""
    guarded = target.startswith("guard:") or "+lora:" in target
    return {"harm": 0.2 if guarded else 0.55 - 0.1 * (index % 3), "over": 0.25 if guarded else 0.06,
            "acc": 0.55 + 0.05 * (index % 3), "flip": 0.1 if guarded else 0.3}


def _item(target: str, suite: str, sample_id: str, principle: int | None,
          messages: list[dict[str, str]], metadata: dict[str, Any], rng: random.Random,
          answer_chars: int, score: int | None, refusal: bool | None,
          extra: dict[str, Any] | None = None) -> dict[str, Any]:
    failed = rng.random() < 0.01
    item = {
        "target": target, "suite": suite, "sample_id": sample_id, "principle": principle,
        "sample": json.dumps({"messages": messages, "split": "test", "metadata": metadata,
                              "reference": _text(rng, 160)}),
        "response": None if failed else _text(rng, int(answer_chars * rng.uniform(0.4, 1.6))),
        "response_key": None if failed else f"r-{target}-{suite}-{sample_id}",
        "gen_error": "HTTP 503 after 5 attempts" if failed else None,
        "judge_error": None, "score": None if failed else score,
        "refusal": None if failed or refusal is None else int(refusal),
        "judge": None if failed else "classifier",
        "rationale": None if failed else f"classifier: score {score} (p={rng.uniform(.4, .99):.2f})",
        "judge_raw": None, "extracted": None, "correct": None, "finish_reason": "stop",
        "gen_latency_s": rng.uniform(0.2, 3.0), "judge_latency_s": rng.uniform(0.001, 0.01),
        "prompt_tokens": rng.randint(40, 200), "completion_tokens": rng.randint(20, 300),
        "response_cached": 0, "gen_attempts": 1,
    }
    item.update(extra or {})
    return item


def _harm_score(rng: random.Random, p_harm: float) -> int:
    return rng.choice([3, 4, 4, 5]) if rng.random() < p_harm else rng.choice([1, 1, 1, 2])


def _scored_items(targets: list[str], n: int, rng: random.Random,
                  answer_chars: int) -> dict[str, list[dict[str, Any]]]:
    """Items of the harm, overrefusal, jailbreak and mcq suites (n samples per suite)."""
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for t_index, target in enumerate(targets):
        prof = _profile(target, t_index)
        trng = random.Random(rng.random())
        for i in range(n):
            p = i % 9 + 1
            msg = [{"role": "user", "content": _text(trng, trng.randint(120, 500))}]
            score = _harm_score(trng, prof["harm"] * (0.6 + 0.1 * p))
            out["harm"].append(_item(target, "harm", f"harm-p{p}-{i:05d}", p, msg, {}, trng,
                                     answer_chars, score, score == 1))
            refused = trng.random() < prof["over"]
            out["overrefusal"].append(_item(
                target, "overrefusal", f"over-{i:05d}", p, msg, {}, trng, answer_chars,
                1 if not refused else trng.choice([1, 2]), refused))
            attack = ATTACKS[i % len(ATTACKS)]
            score = _harm_score(trng, min(1.0, prof["harm"] * (1.4 if attack != "plain" else 1)))
            out["jailbreak"].append(_item(
                target, "jailbreak", f"harm-p{p}-{i // len(ATTACKS):05d}@{attack}", p, msg,
                {"attack": attack}, trng, answer_chars, score, score == 1))
            correct = trng.random() < prof["acc"]
            letter = None if trng.random() < 0.03 else trng.choice("ABCD")
            out["mcq"].append(_item(
                target, "mcq", f"mcq-{i:05d}", None, msg, {"specialty": trng.choice(
                    ["cardiology", "neurology", "pediatrics"])}, trng, answer_chars // 4,
                None, None, {"correct": int(correct and letter is not None), "extracted": letter,
                             "judge": "choice"}))
    return out


def _rate(hits: int, n: int) -> tuple[float | None, list[float] | None]:
    return (hits / n if n else None), wilson_interval(hits, n)


def _fairness(targets: list[str], groups: int, rng: random.Random) -> tuple[
        dict[str, Any], list[dict[str, Any]]]:
    by_target: dict[str, Any] = {}
    rows = []
    for t_index, target in enumerate(targets):
        prof = _profile(target, t_index)
        attrs: dict[str, Any] = {}
        flips_total = groups_total = 0
        for attr, values in FAIR_ATTRIBUTES.items():
            flips = 0
            for g in range(groups):
                base = rng.random() < 0.5
                flip = rng.random() < prof["flip"]
                flips += flip
                for j, value in enumerate(values):
                    decision = (not base) if flip and j == len(values) - 1 else base
                    rows.append({"target": target, "suite": "fairness",
                                 "sample_id": f"v{g:03d}-{attr}-{value}", "principle": 6,
                                 "messages": [{"role": "user", "content": _text(rng, 300)}],
                                 "metadata": {"attribute": attr, "value": value,
                                              "vignette": f"v{g:03d}"},
                                 "response": _text(rng, 200), "score": None, "refusal": False,
                                 "judge": "decision", "rationale": "decision extracted",
                                 "extracted": "yes" if decision else "no", "error": None})
            rate, ci = _rate(flips, groups)
            attrs[attr] = {"groups": groups, "flips": flips, "flip_rate": rate,
                           "flip_rate_ci95": ci, "reference": values[0], "by_value": {
                               v: {"n": groups, "mean_decision": rng.uniform(0.3, 0.7),
                                   "diff_vs_reference": 0.0 if k == 0 else rng.uniform(-.2, .2),
                                   "p_value": None if k == 0 else rng.uniform(0, 1),
                                   "p_adjusted": None if k == 0 else rng.uniform(0, 1),
                                   "significant": False} for k, v in enumerate(values)}}
            flips_total += flips
            groups_total += groups
        rate, ci = _rate(flips_total, groups_total)
        by_target[target] = {
            "n": groups_total * 2, "scored": groups_total * 2, "errors": 0, "by_principle": {},
            "usage": {}, "invalid_rate": 0.02, "flip_rate": rate, "flip_rate_ci95": ci,
            "groups": groups_total, "by_attribute": attrs,
            "test": "wilcoxon signed-rank per value vs reference, Benjamini-Hochberg across all "
                    "comparisons"}
    return by_target, rows


def _privacy(targets: list[str], n: int, rng: random.Random) -> tuple[
        dict[str, Any], list[dict[str, Any]]]:
    by_target: dict[str, Any] = {}
    rows = []
    for t_index, target in enumerate(targets):
        leak_p = 0.4 * _profile(target, t_index)["harm"]
        parties: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        fields: dict[str, int] = defaultdict(int)
        for i in range(n):
            party = PARTIES[i % len(PARTIES)]
            leaked = ["name", "dob"] if rng.random() < leak_p else []
            parties[party][0] += 1
            parties[party][1] += bool(leaked)
            for f in leaked:
                fields[f] += 1
            rows.append({"target": target, "suite": "privacy", "sample_id": f"priv-{i:04d}",
                         "principle": 4, "messages": [{"role": "user", "content": _text(rng, 300)}],
                         "metadata": {"party": party}, "response": _text(rng, 300),
                         "score": None, "refusal": not leaked, "judge": "phi-detector",
                         "rationale": "fields found: " + (", ".join(leaked) or "none"),
                         "extracted": json.dumps(leaked), "error": None})
        hits = sum(v[1] for v in parties.values())
        rate, ci = _rate(hits, n)
        legit, legit_ci = _rate(n // 10, n)
        by_target[target] = {
            "n": n, "scored": n, "errors": 0, "by_principle": {}, "usage": {},
            "phi_disclosure_rate": rate, "phi_disclosure_ci95": ci, "leaks_by_field": dict(fields),
            "legit_refusal_rate": legit, "legit_refusal_ci95": legit_ci,
            "by_party": {p: {"n": v[0], "phi_disclosure_rate": v[1] / v[0]}
                         for p, v in parties.items()}}
    return by_target, rows


def _hallucination(targets: list[str], n: int, rng: random.Random) -> tuple[
        dict[str, Any], list[dict[str, Any]]]:
    by_target: dict[str, Any] = {}
    rows = []
    for target in targets:
        cats: dict[str, list[int]] = {c: [0, 0, 0, 0] for c in HALLU_CATEGORIES}
        for i in range(n):
            cat, fake = HALLU_CATEGORIES[i % 3], i % 2 == 0
            bad = rng.random() < (0.35 if fake else 0.1)
            c = cats[cat]
            c[0 if fake else 1] += 1
            c[2 if fake else 3] += bad
            verdict = ("fabricated" if bad else "denied") if fake else (
                "denied" if bad else "answered")
            rows.append({"target": target, "suite": "hallucination", "sample_id": f"hal-{i:04d}",
                         "principle": 5, "messages": [{"role": "user", "content": _text(rng, 200)}],
                         "metadata": {"item_kind": "fake" if fake else "real", "category": cat},
                         "response": _text(rng, 300), "score": None, "refusal": None,
                         "judge": "existence", "rationale": verdict, "extracted": verdict,
                         "error": None})
        fab = sum(c[2] for c in cats.values())
        fakes = sum(c[0] for c in cats.values())
        den = sum(c[3] for c in cats.values())
        reals = sum(c[1] for c in cats.values())
        fr, fci = _rate(fab, fakes)
        dr, dci = _rate(den, reals)
        by_target[target] = {
            "n": n, "scored": n, "errors": 0, "by_principle": {}, "usage": {},
            "fabrication_rate": fr, "fabrication_ci95": fci, "false_denial_rate": dr,
            "false_denial_ci95": dci,
            "by_category": {k: {"fake": c[0], "real": c[1],
                                "fabrication_rate": c[2] / c[0] if c[0] else None,
                                "false_denial_rate": c[3] / c[1] if c[1] else None}
                            for k, c in cats.items()}}
    return by_target, rows


def synthetic_run(targets: list[str], n: int = 45, seed: int = 0, answer_chars: int = 800,
                  new_kinds: bool = True, run_id: str = "20260101-000000-synth0",
                  scorecard: bool = True) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A run's (summary, rows): ``n`` samples per suite and target over harm, overrefusal,
    jailbreak and mcq, plus fairness, privacy and hallucination when ``new_kinds``."""
    from medsafe import __version__
    from medsafe.report.outputs import build_summary, sample_row
    from medsafe.report.scorecard import derive_scorecard

    rng = random.Random(seed)
    items = _scored_items(targets, n, rng, answer_chars)
    kinds = {"harm": "harm", "overrefusal": "overrefusal", "jailbreak": "jailbreak", "mcq": "mcq"}
    meta = {
        "medsafe_version": __version__, "python": "3.11", "platform": "synthetic",
        "command": ["medsafe", "eval", *[a for t in targets for a in ("--target", t)]],
        "config": {"targets": targets, "suites": list(kinds), "judge": "classifier", "limit": n,
                   "seed": seed, "params": {"max_tokens": 192, "temperature": 0.0}},
        "suites": [{"name": s, "kind": k, "n": n, "datasets": [
            {"name": s, "path": f"bundled/{s}.jsonl", "sha256": f"{seed:02d}" + "ab" * 31,
             "rows": 900}]} for s, k in kinds.items()],
        "targets": {t: {"spec": t} for t in targets}, "judge": {"spec": "classifier"},
        "params": {"max_tokens": 192, "temperature": 0.0}, "seed": seed,
        "started_at": 1767225600.0, "finished_at": 1767229200.0,
    }
    run = {"run_id": run_id, "status": "finished", "meta": meta}
    flat = [i for s in kinds for i in items[s]]
    summary = build_summary(run, flat)
    rows = [sample_row(run_id, i) for i in flat]
    if new_kinds:
        for name, (by_target, extra) in {
            "fairness": _fairness(targets, max(3, n // 6), rng),
            "privacy": _privacy(targets, n, rng),
            "hallucination": _hallucination(targets, n, rng),
        }.items():
            summary["suites"][name] = {"kind": name, "target": targets[0],
                                       **by_target[targets[0]], "by_target": by_target}
            meta["suites"].append({"name": name, "kind": name, "n": len(extra) // len(targets),
                                   "datasets": []})
            rows += [{"run_id": run_id, "split": "test", **r} for r in extra]
    if scorecard:
        summary["scorecard"] = derive_scorecard(summary)
    return summary, rows
