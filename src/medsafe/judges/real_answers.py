"""How the real model answers in the judge corpora were produced: a plan of (model, requests,
attack, decoding) batches run through medsafe's own targets, written out for blind labelling.

Answers to ``harm`` *train* requests (and ``overrefusal`` train questions) feed ``judge_train``;
answers to *test* requests feed ``judge_eval``, so the two corpora never share a request.

    python -m medsafe.judges.real_answers --out answers.jsonl \
        --model smollm2=embedded:smollm2 --model qwen05=gguf:/path/qwen2.5-0.5b.gguf

Rows carry ``id``, ``source`` (model, decoding, attack), ``principle``, ``request`` (the request as
the judge sees it: the original, unwrapped), ``prompt`` (the messages actually sent) and
``response``. Labels are added later, blind, by people who see only the request and answer.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from medsafe.attacks import builtin_attacks
from medsafe.samples import Sample
from medsafe.suites import resolve_suite
from medsafe.targets import GenerationParams, TargetOptions, resolve_target


@dataclass(frozen=True)
class Batch:
    """One slice of the plan: a model answering some requests of a suite, maybe under attack."""

    name: str
    model: str  # a key of the models given on the command line
    suite: str  # a suite spec, e.g. harm:train
    per_principle: int | None  # requests per principle (None: all)
    temperature: float = 0.0
    attack: bool = False  # wrap each request in one builtin attack drawn at random
    max_tokens: int = 160


PLAN = [
    Batch("smollm2-sampled-train", "smollm2", "harm:train", None, temperature=0.9),
    Batch("smollm2-attacked-train", "smollm2", "harm:train", None, attack=True),
    Batch("smollm2-benign-train", "smollm2", "overrefusal:train", None, temperature=0.7),
    Batch("guard-train", "guard", "harm:train", 7),
    Batch("smollm2-attacked-test", "smollm2", "harm:test", 10, attack=True),
    Batch("qwen05-test", "qwen05", "harm:test", 10),
    Batch("qwen05-benign-test", "qwen05", "overrefusal:test", 3),
    Batch("qwen05-train", "qwen05", "harm:train", 10),
    Batch("qwen05-benign-train", "qwen05", "overrefusal:train", 2),
]


def pick(samples: list[Sample], per_principle: int | None, seed: int) -> list[Sample]:
    """A seeded choice of ``per_principle`` samples of each principle (benign: in total x 9)."""
    if per_principle is None:
        return samples
    rng = random.Random(seed)
    groups: dict[int | None, list[Sample]] = {}
    for s in samples:
        groups.setdefault(s.principle, []).append(s)
    chosen: list[Sample] = []
    for key in sorted(groups, key=lambda k: -1 if k is None else k):
        group = groups[key]
        take = per_principle * (9 if key is None else 1)
        chosen += rng.sample(group, min(take, len(group)))
    return chosen


async def run_batch(batch: Batch, spec: str, seed: int, threads: int | None,
                    done: set[str], out: Any) -> int:
    """Generate one batch, appending each answer to ``out`` as it arrives (resumable)."""
    target = resolve_target(spec, TargetOptions(threads=threads, slots=8, concurrency=8))
    attacks = builtin_attacks()
    rng = random.Random(f"{seed}:{batch.name}")
    samples = pick(list(resolve_suite(batch.suite).samples), batch.per_principle, seed)
    params = GenerationParams(max_tokens=batch.max_tokens, temperature=batch.temperature,
                              seed=seed)
    limit = asyncio.Semaphore(target.concurrency)
    written = 0

    async def one(sample: Sample) -> None:
        nonlocal written
        attack = rng.choice(attacks) if batch.attack else None
        row_id = f"{batch.name}:{sample.id}"
        if row_id in done:
            return
        messages = attack.apply(sample.request) if attack else sample.messages
        async with limit:
            completion = await target.generate(messages, params)
        out.write(json.dumps({
            "id": row_id, "source": {"batch": batch.name, "model": spec,
                                     "temperature": batch.temperature,
                                     "attack": attack.name if attack else None, "seed": seed},
            "suite": batch.suite, "sample_id": sample.id, "principle": sample.principle,
            "request": sample.request, "prompt": [m.model_dump() for m in messages],
            "response": completion.text, "finish_reason": completion.finish_reason,
        }, ensure_ascii=False) + "\n")
        out.flush()
        written += 1

    try:
        await target.preflight()
        # attacks are drawn in sample order before any await, so the draw does not depend on timing
        await asyncio.gather(*(one(s) for s in samples))
    finally:
        await target.aclose()
    return written


def main(argv: list[str] | None = None) -> None:
    """Run the plan (or some batches of it) and append the answers to a JSONL file."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--model", action="append", default=[],
                        help="NAME=TARGETSPEC for the plan's models (smollm2, qwen05)")
    parser.add_argument("--batch", action="append", default=[], help="only these batches")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args(argv)
    models = dict(m.split("=", 1) for m in args.model)
    models.setdefault("guard", f"guard:{models.get('smollm2', 'embedded:smollm2')}")
    done = set()
    if args.out.is_file():
        done = {json.loads(line)["id"] for line in args.out.open() if line.strip()}
    with args.out.open("a", encoding="utf-8") as out:
        for batch in PLAN:
            if (args.batch and batch.name not in args.batch) or batch.model not in models:
                continue
            n = asyncio.run(run_batch(batch, models[batch.model], args.seed, args.threads, done,
                                      out))
            print(f"{batch.name}: {n} new answers", flush=True)


if __name__ == "__main__":
    main()
