"""Synthetic runs for testing and benchmarking reports: a summary and sample rows shaped exactly
like those ``medsafe eval`` writes, for any number of targets and samples, with no model.

Every summary block comes from the real metrics code (:func:`medsafe.report.outputs.build_summary`
over store-shaped items), so its keys are those of a real run. The harm, over-refusal, jailbreak
and MCQ items carry made-up verdicts; the fairness, privacy and hallucination items are the
bundled suites' own samples, answered by the scripted model of :mod:`medsafe.testing.answers` and
graded by the real graders. Texts are filler of realistic length, deterministic for a seed, and
never contain anything harmful.
"""

from __future__ import annotations

import dataclasses
import random
from collections import defaultdict
from typing import Any

from medsafe import __version__
from medsafe.engine.grading import GRADERS
from medsafe.report.outputs import build_summary, sample_row
from medsafe.samples import Message, Sample
from medsafe.suites import Suite, resolve_suite, stratified_subset
from medsafe.testing.answers import Behaviour, hashed_draw, scripted_answer

WORDS = ("patient", "clinic", "record", "consent", "nurse", "doctor", "review", "policy", "chart",
         "referral", "dose", "schedule", "follow-up", "symptom", "history", "guideline", "team",
         "hospital", "care", "plan", "privacy", "insurance", "study", "protocol", "ethics",
         "board", "advice", "report", "safety", "question", "answer", "summary", "visit", "staff")
ATTACKS = ("plain", "roleplay", "base64", "fiction")
GRADED = ("fairness", "privacy", "hallucination")  # suite kinds answered and graded for real
VARIANTS_PER_VIGNETTE = 16  # the baseline patient and every one-attribute change of it


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


def _behaviour(target: str, index: int) -> Behaviour:
    """The same profile as the scripted model's shares, for the graded suites."""
    prof = _profile(target, index)
    return Behaviour(harm=prof["harm"], over=prof["over"], accuracy=prof["acc"],
                     flip=prof["flip"], leak=0.8 * prof["harm"], fabricate=0.6 * prof["harm"],
                     deny=0.5 * prof["over"])


def _item(target: str, sample: Sample, rng: random.Random, response: str,
          verdict: dict[str, Any]) -> dict[str, Any]:
    """A run-store item (run_items joined with its response and judgement); 1% fail to generate."""
    failed = rng.random() < 0.01
    key = f"{target}-{sample.suite}-{sample.id}"
    item = {
        "target": target, "suite": sample.suite, "sample_id": sample.id,
        "principle": sample.principle, "sample": sample.model_dump_json(),
        "response": None if failed else response, "response_key": None if failed else f"r-{key}",
        "judgement_key": None if failed else f"j-{key}",
        "gen_error": "HTTP 503 after 5 attempts" if failed else None, "judge_error": None,
        "score": None, "refusal": None, "judge": None, "rationale": None, "judge_raw": None,
        "extracted": None, "correct": None, "finish_reason": "stop",
        "gen_latency_s": rng.uniform(0.2, 3.0), "judge_latency_s": rng.uniform(0.001, 0.01),
        "prompt_tokens": rng.randint(40, 200), "completion_tokens": rng.randint(20, 300),
        "response_cached": 0, "gen_attempts": 1,
    }
    if not failed:
        item.update(verdict)
    return item


def _sample(suite: str, sample_id: str, principle: int | None, rng: random.Random,
            metadata: dict[str, Any] | None = None) -> Sample:
    return Sample(id=sample_id, suite=suite, principle=principle, split="test",
                  messages=(Message(role="user", content=_text(rng, rng.randint(120, 500))),),
                  reference=_text(rng, 160), metadata=metadata or {})


def _scored(target: str, sample: Sample, rng: random.Random, answer_chars: int, score: int,
            refused: bool) -> dict[str, Any]:
    response = _text(rng, int(answer_chars * rng.uniform(0.4, 1.6)))
    return _item(target, sample, rng, response, {
        "score": score, "refusal": int(refused), "judge": "classifier",
        "rationale": f"classifier: score {score} (p={rng.uniform(.4, .99):.2f})"})


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
            harm = _sample("harm", f"harm-p{p}-{i:05d}", p, trng)
            score = _harm_score(trng, prof["harm"] * (0.6 + 0.1 * p))
            out["harm"].append(_scored(target, harm, trng, answer_chars, score, score == 1))
            refused = trng.random() < prof["over"]
            over = harm.model_copy(update={"id": f"over-{i:05d}", "suite": "overrefusal"})
            out["overrefusal"].append(_scored(target, over, trng, answer_chars,
                                              1 if not refused else trng.choice([1, 2]), refused))
            attack = ATTACKS[i % len(ATTACKS)]
            attacked = harm.model_copy(update={
                "id": f"harm-p{p}-{i // len(ATTACKS):05d}@{attack}", "suite": "jailbreak",
                "metadata": {"attack": attack}})
            score = _harm_score(trng, min(1.0, prof["harm"] * (1.4 if attack != "plain" else 1)))
            out["jailbreak"].append(_scored(target, attacked, trng, answer_chars, score,
                                            score == 1))
            correct = trng.random() < prof["acc"]
            letter = None if trng.random() < 0.03 else trng.choice("ABCD")
            mcq = _sample("mcq", f"mcq-{i:05d}", None, trng, {"specialty": trng.choice(
                ["cardiology", "neurology", "pediatrics"])})
            out["mcq"].append(_item(target, mcq, trng, _text(trng, answer_chars // 4), {
                "correct": int(correct and letter is not None), "extracted": letter,
                "judge": "choice", "rationale": f"answered {letter or 'nothing valid'}"}))
    return out


def _graded_samples(kind: str, n: int, rng: random.Random) -> tuple[Suite, list[Sample]]:
    """The bundled suite and about ``n`` of its samples (whole vignettes for fairness), shuffled
    by ``rng`` and repeated with a suffixed id when ``n`` is larger than the suite."""
    suite = resolve_suite(kind)
    if kind == "fairness":
        return suite, stratified_subset(suite.samples, max(2, round(n / VARIANTS_PER_VIGNETTE)),
                                        seed=rng.randrange(2**31))
    order = rng.sample(suite.samples, len(suite.samples))
    return suite, [order[i] if i < len(order) else
                   order[i % len(order)].model_copy(
                       update={"id": f"{order[i % len(order)].id}#{i // len(order)}"})
                   for i in range(n)]


def _graded_items(kind: str, targets: list[str], samples: list[Sample], seed: int,
                  rng: random.Random, answer_chars: int) -> list[dict[str, Any]]:
    """Every target's scripted answers to ``samples``, graded by the suite's real grader."""
    grader = GRADERS[kind]
    items = []
    for t_index, target in enumerate(targets):
        behaviour, draw = _behaviour(target, t_index), hashed_draw(f"{seed}|{target}")
        for sample in samples:
            answer = scripted_answer(kind, sample, behaviour, draw)
            # the filler follows the part the graders read, so it changes no verdict
            response = f"{answer} {_text(rng, int(answer_chars * rng.uniform(0.2, 0.8)))}"
            verdict = grader.grade(sample, response)
            items.append(_item(target, sample, rng, response, {
                "judge": verdict.judge, "rationale": verdict.rationale,
                "extracted": verdict.extracted, "score": verdict.score,
                "refusal": None if verdict.refusal is None else int(verdict.refusal),
                "correct": None if verdict.correct is None else int(verdict.correct)}))
    return items


def _suite_meta(name: str, kind: str, n: int, datasets: list[dict[str, Any]]) -> dict[str, Any]:
    return {"name": name, "kind": kind, "n": n, "datasets": datasets}


def synthetic_run(targets: list[str], n: int = 45, seed: int = 0, answer_chars: int = 800,
                  new_kinds: bool = True, run_id: str = "20260101-000000-synth0",
                  scorecard: bool = True) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A run's (summary, rows): ``n`` samples per suite and target over harm, overrefusal,
    jailbreak and mcq, plus about ``n`` each of fairness, privacy and hallucination when
    ``new_kinds``."""
    rng = random.Random(seed)
    items = _scored_items(targets, n, rng, answer_chars)
    suites = [_suite_meta(s, s, n, [{"name": s, "path": f"bundled/{s}.jsonl",
                                     "sha256": f"{seed:02d}" + "ab" * 31, "rows": 900}])
              for s in ("harm", "overrefusal", "jailbreak", "mcq")]
    for kind in GRADED if new_kinds else ():
        suite, samples = _graded_samples(kind, n, rng)
        items[kind] = _graded_items(kind, targets, samples, seed, rng, answer_chars)
        suites.append(_suite_meta(kind, kind, len(samples),
                                  [dataclasses.asdict(d) for d in suite.datasets]))
    meta = {
        "medsafe_version": __version__, "python": "3.11", "platform": "synthetic",
        "command": ["medsafe", "eval", *[a for t in targets for a in ("--target", t)]],
        "config": {"targets": targets, "suites": [s["name"] for s in suites],
                   "judge": "classifier", "limit": n, "seed": seed,
                   "params": {"max_tokens": 192, "temperature": 0.0}},
        "suites": suites, "targets": {t: {"spec": t} for t in targets},
        "judge": {"spec": "classifier"}, "params": {"max_tokens": 192, "temperature": 0.0},
        "seed": seed, "started_at": 1767225600.0, "finished_at": 1767229200.0,
    }
    run = {"run_id": run_id, "status": "finished", "meta": meta}
    flat = [i for s in suites for i in items[s["name"]]]
    summary = build_summary(run, flat)
    if not scorecard:
        del summary["scorecard"]
    return summary, [sample_row(run_id, i) for i in flat]
