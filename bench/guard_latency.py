"""Latency and throughput the guard adds in front of a model, measured side by side.

Three processes on 127.0.0.1: a fake OpenAI-compatible upstream that answers after a fixed
delay, ``medsafe guard serve`` in front of it, and this script as the client. It sends the same
benign requests (those of the ``overrefusal`` test split that the input screen passes, so each
one pays for the request classifier, the upstream and the judge) straight to the upstream and through the
guard, one at a time in alternation, and prints median and p99 latency of both and the
difference. The guard's decision log gives, per request, the time of its two screens; the judge's
own time is printed separately and subtracted. Then both are loaded with N concurrent clients.

    python bench/guard_latency.py --requests 200 --delay 0.05 --concurrency 16
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

from medsafe.data import load_bundled
from medsafe.engine import RunStore, store_file
from medsafe.mitigate.guard_policy import GuardPolicy
from medsafe.mitigate.request_classifier import load_request_classifier


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start(args: list[str], port: int) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, *args], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return proc
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit(f"{args} did not start")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def one(session: aiohttp.ClientSession, base: str, prompt: str) -> float:
    start = time.perf_counter()
    async with session.post(f"{base}/chat/completions", json={
            "model": "m", "messages": [{"role": "user", "content": prompt}], "max_tokens": 64}) as r:
        await r.read()
        if r.status != 200:
            raise SystemExit(f"{base}: HTTP {r.status}")
    return time.perf_counter() - start


async def sequential(direct: str, guarded: str, prompts: list[str]) -> tuple[list[float], list[float]]:
    out_direct, out_guard = [], []
    async with aiohttp.ClientSession() as session:
        for prompt in prompts[:5]:  # warm-up: connections, first-request costs
            await one(session, direct, prompt)
            await one(session, guarded, prompt)
        for prompt in prompts:
            out_direct.append(await one(session, direct, prompt))
            out_guard.append(await one(session, guarded, prompt))
    return out_direct, out_guard


async def load(base: str, prompts: list[str], concurrency: int) -> float:
    queue = list(prompts)
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        async def worker() -> None:
            while queue:
                await one(session, base, queue.pop())
        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return len(prompts) / (time.perf_counter() - start)


def ms(x: float) -> str:
    return f"{1000 * x:8.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--delay", type=float, default=0.05, help="upstream seconds per request")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--judge", default=None, help="the guard's judge (default: the policy's)")
    parser.add_argument("--policy", default=None, help="a guard policy file")
    args = parser.parse_args()
    benign = [r["request"] for r in load_bundled("overrefusal") if r["split"] == "test"]
    # Only requests the input screen passes pay for both screens (and have an output decision).
    policy = GuardPolicy()
    benign = [text for text, v in zip(benign, load_request_classifier().predict(benign), strict=True)
              if v.level < policy.threshold(v.principle)]
    prompts = (benign * (args.requests // len(benign) + 1))[: args.requests]
    up_port, guard_port = free_port(), free_port()
    direct = f"http://127.0.0.1:{up_port}/v1"
    guarded = f"http://127.0.0.1:{guard_port}/v1"
    with tempfile.TemporaryDirectory() as tmp:
        upstream = start(["-m", "medsafe.testing.server", "--port", str(up_port), "--delay",
                          str(args.delay)], up_port)
        extra = ["--judge", args.judge] if args.judge else []
        extra += ["--policy", args.policy] if args.policy else []
        guard = start(["-m", "medsafe", "guard", "serve", "--upstream", f"openai:fake@{direct}",
                       "--port", str(guard_port), "--store", tmp, "--concurrency", "64", *extra],
                      guard_port)
        try:
            t0 = time.time()
            d, g = asyncio.run(sequential(direct, guarded, prompts))
            rows = RunStore(store_file(Path(tmp))).guard_decisions(since=t0)
            rps_direct = asyncio.run(load(direct, prompts, args.concurrency))
            rps_guard = asyncio.run(load(guarded, prompts, args.concurrency))
        finally:
            guard.terminate()
            upstream.terminate()
            guard.wait(10)
            upstream.wait(10)
    # Each guarded request logged an input and an output decision; skip the warm-up ones.
    judge = [r["latency_s"] for r in rows if r["stage"] == "output"][-len(prompts):] or [0.0] * len(prompts)
    screen = [r["latency_s"] for r in rows if r["stage"] == "input"][-len(prompts):] or [0.0] * len(prompts)
    added = [gi - di for gi, di in zip(g, d, strict=True)]
    beyond = [a - j for a, j in zip(added, judge, strict=True)]
    print(f"upstream delay {args.delay * 1000:.0f} ms, {len(prompts)} sequential requests each way")
    print("                              median(ms)  p99(ms)")
    for name, values in (("direct to upstream", d), ("through the guard", g),
                         ("added by the guard", added), ("  of which the judge", judge),
                         ("  of which request classifier", screen),
                         ("added beyond the judge", beyond)):
        print(f"{name:30s}{ms(statistics.median(values))} {ms(percentile(values, 0.99))}")
    print(f"\nunder load ({args.concurrency} concurrent clients, {len(prompts)} requests):")
    print(f"direct {rps_direct:7.1f} req/s   guarded {rps_guard:7.1f} req/s   "
          f"ratio {rps_guard / rps_direct:.2f}")
    print(json.dumps({"median_added_ms": round(1000 * statistics.median(added), 1),
                      "median_judge_ms": round(1000 * statistics.median(judge), 1),
                      "median_added_beyond_judge_ms": round(1000 * statistics.median(beyond), 1),
                      "rps_direct": round(rps_direct, 1), "rps_guard": round(rps_guard, 1)}))


if __name__ == "__main__":
    main()
