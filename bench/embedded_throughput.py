"""Tokens/s of the embedded target against the raw llama.cpp runtime, measured side by side.

    python bench/embedded_throughput.py [--prompts 16] [--max-tokens 96] [--slots 1 4 8]
        [--threads 2] [--poll 50] [--repeats 3]

Each configuration answers the same harm prompts concurrently and the figure is completion
tokens divided by wall time (the median of ``--repeats``):

- ``raw``: xllamacpp's ``Server`` driven directly, every prompt submitted at once from its own
  thread (the runtime's own ceiling);
- ``target``: medsafe's ``embedded:smollm2`` target through the engine's path (one request per
  slot in flight, as a run sends them).

Rows are interleaved (raw, target, raw, target, ...) so that a change in the machine's load hits
both; the ratio is target over raw at the same slots, threads and polling. ``--threads`` and
``--poll`` (llama.cpp's busy-wait level, 0-100) may list several values. Run on a quiet machine
and read the load average printed with each row.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from concurrent.futures import ThreadPoolExecutor

from medsafe.samples import Message
from medsafe.suites import resolve_suite
from medsafe.targets import GenerationParams, TargetOptions, resolve_target
from medsafe.targets.embedded import model_path
from medsafe.targets.gguf import CTX_PER_SLOT


async def through_target(slots: int, threads: int, poll: int, prompts: list[str],
                         max_tokens: int) -> float:
    """Tokens/s of the medsafe target, one request per slot in flight."""
    target = resolve_target("embedded:smollm2", TargetOptions(slots=slots, threads=threads,
                                                               poll=poll))
    params = GenerationParams(max_tokens=max_tokens)
    limit = asyncio.Semaphore(target.concurrency)
    await target.generate((Message(role="user", content="warm up"),),
                          params.model_copy(update={"max_tokens": 4}))

    async def one(text: str) -> int:
        async with limit:
            done = await target.generate((Message(role="user", content=text),), params)
            return done.completion_tokens or 0

    start = time.perf_counter()
    tokens = sum(await asyncio.gather(*(one(p) for p in prompts)))
    elapsed = time.perf_counter() - start
    await target.aclose()
    return tokens / elapsed


def raw(slots: int, threads: int, poll: int, prompts: list[str], max_tokens: int) -> float:
    """Tokens/s of xllamacpp's server with every prompt submitted at once."""
    import xllamacpp

    p = xllamacpp.CommonParams()
    p.model.path = str(model_path())
    p.n_parallel = slots
    p.n_ctx = CTX_PER_SLOT * slots
    p.verbosity = -1
    p.cpuparams.n_threads = p.cpuparams_batch.n_threads = threads
    p.cpuparams.poll = p.cpuparams_batch.poll = poll
    server = xllamacpp.Server(p)

    def one(text: str) -> int:
        reply = server.handle_chat_completions({
            "messages": [{"role": "user", "content": text}], "max_tokens": max_tokens,
            "temperature": 0.0, "top_p": 1.0, "seed": 0})
        return reply["usage"]["completion_tokens"]

    one("warm up")
    with ThreadPoolExecutor(len(prompts)) as pool:
        start = time.perf_counter()
        tokens = sum(pool.map(one, prompts))
        elapsed = time.perf_counter() - start
    return tokens / elapsed


def main() -> None:
    """Measure every (slots, threads, poll) configuration, raw and through the target."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prompts", type=int, default=16)
    parser.add_argument("--max-tokens", type=int, default=96)
    parser.add_argument("--slots", type=int, nargs="+", default=[8])
    parser.add_argument("--threads", type=int, nargs="+", default=[2])
    parser.add_argument("--poll", type=int, nargs="+", default=[50])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    prompts = [s.request for s in resolve_suite("harm").samples[: args.prompts]]
    print(f"{'slots':>5} {'threads':>7} {'poll':>4} {'raw tok/s':>9} {'target tok/s':>12} "
          f"{'ratio':>6} {'load':>5}")
    for slots in args.slots:
        for threads in args.threads:
            for poll in args.poll:
                raws, targets = [], []
                for _ in range(args.repeats):
                    raws.append(raw(slots, threads, poll, prompts, args.max_tokens))
                    targets.append(asyncio.run(through_target(slots, threads, poll, prompts,
                                                              args.max_tokens)))
                r, t = statistics.median(raws), statistics.median(targets)
                print(f"{slots:>5} {threads:>7} {poll:>4} {r:>9.1f} {t:>12.1f} {t / r:>6.2f} "
                      f"{os.getloadavg()[0]:>5.1f}", flush=True)


if __name__ == "__main__":
    main()
