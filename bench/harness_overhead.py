"""Harness overhead: medsafe against bare asyncio loops and Inspect, on the same local server.

    python bench/harness_overhead.py [--requests 900] [--delay 0.05] [--concurrency 1 16 64]
                                     [--repeats 3] [--inspect-python PATH]

One OpenAI-compatible server (``python -m medsafe.testing.server``) runs in its own process,
so it shares neither the event loop nor the GIL with the clients, and answers every request
after a fixed delay. Each client then sends the same requests (the 900 prompts of ``harm:all``,
same payload) at each concurrency, each run in a fresh process:

- ``aiohttp``: a bare asyncio loop on aiohttp, N workers on one session (the limit);
- ``httpx``: the same loop on httpx.AsyncClient;
- ``medsafe``: ``medsafe.evaluate`` with an ``openai:`` target and the ``mock:refusal`` judge
  (every response and verdict committed to a fresh SQLite store);
- ``inspect``: Inspect's ``openai-api`` provider with ``generate()`` (needs ``inspect_ai``; give
  the python of a throwaway venv that has it with ``--inspect-python``).

Two rates per run: ``req/s`` is requests divided by the server's window (first request in to
last answer out: the steady throughput), ``wall req/s`` divides by the client's own wall time
around its run (medsafe's includes loading the suite, set-up and writing summary.json,
samples.jsonl and report.html; Inspect's includes its task set-up and log). Figures are medians
over the repeats; ratios are against the bare aiohttp loop. ``CPU ms/req`` is the client
process's CPU per request, ``server ms/req`` the server process's, and ``cores busy`` both
together over the client's wall time: at 2.0 (on two cores) the machine itself is the limit.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

CLIENTS = ("aiohttp", "httpx", "medsafe", "inspect")
PARAMS = {"max_tokens": 192, "temperature": 0.0, "top_p": 1.0, "seed": 0}


# -- the clients, each run in its own process ---------------------------------------------------


def payload(prompt: str) -> dict[str, Any]:
    """The body medsafe's openai target sends for a single-turn sample."""
    return {"model": "fake", "messages": [{"role": "user", "content": prompt}], **PARAMS}


async def bare_aiohttp(base: str, prompts: list[str], concurrency: int) -> float:
    import aiohttp

    queue = list(reversed(prompts))
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker() -> None:
            while queue:
                async with session.post(f"{base}/chat/completions", json=payload(queue.pop())) as r:
                    body = await r.json()
                    assert r.status == 200 and body["choices"][0]["message"]["content"] is not None

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return time.perf_counter() - start


async def bare_httpx(base: str, prompts: list[str], concurrency: int) -> float:
    import httpx

    queue = list(reversed(prompts))
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=120) as client:

        async def worker() -> None:
            while queue:
                r = await client.post(f"{base}/chat/completions", json=payload(queue.pop()))
                body = r.json()
                assert r.status_code == 200 and body["choices"][0]["message"]["content"] is not None

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return time.perf_counter() - start


def run_medsafe(base: str, prompts_file: Path, concurrency: int, n: int) -> float:
    from medsafe.api import evaluate
    from medsafe.engine import RunConfig
    from medsafe.targets import GenerationParams, TargetOptions

    config = RunConfig(
        targets=[f"openai:fake@{base}"], suites=[f"jsonl:{prompts_file}"], judge="mock:refusal",
        params=GenerationParams(**PARAMS), target_options=TargetOptions(concurrency=concurrency),
    )
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        result = evaluate(config, store=Path(tmp))
        elapsed = time.perf_counter() - start
    suite = next(iter(result.summary["suites"].values()))
    assert suite["errors"] == 0 and suite["n"] == n, suite
    return elapsed


def run_inspect(base: str, prompts: list[str], concurrency: int) -> float:
    from inspect_ai import Task
    from inspect_ai import eval as inspect_eval
    from inspect_ai.dataset import MemoryDataset, Sample
    from inspect_ai.solver import generate

    os.environ["FAKE_API_KEY"] = "not-needed"
    os.environ["FAKE_BASE_URL"] = base
    task = Task(dataset=MemoryDataset([Sample(input=p, id=i) for i, p in enumerate(prompts)]),
                solver=generate())
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        logs = inspect_eval(task, model="openai-api/fake/fake", max_connections=concurrency,
                            log_dir=tmp, display="none", max_tokens=PARAMS["max_tokens"],
                            temperature=0.0, top_p=1.0, seed=0, max_retries=0)
        elapsed = time.perf_counter() - start
    assert logs[0].status == "success", logs[0].error
    return elapsed


def run_client(client: str, base: str, prompts: list[str], prompts_file: Path,
               concurrency: int) -> float:
    """Wall seconds of one client's run over the prompts."""
    if client == "aiohttp":
        return asyncio.run(bare_aiohttp(base, prompts, concurrency))
    if client == "httpx":
        return asyncio.run(bare_httpx(base, prompts, concurrency))
    if client == "medsafe":
        return run_medsafe(base, prompts_file, concurrency, len(prompts))
    return run_inspect(base, prompts, concurrency)


def client_main(args: argparse.Namespace) -> None:
    """In the client's own process: a short warm-up (imports, plug-ins, connections), then the
    measured run, with the server's counters reset in between."""
    prompts = json.loads(Path(args.prompts).read_text())
    concurrency = args.concurrency[0]
    warm = Path(args.prompts).with_name("warmup.jsonl")
    warm_prompts = [f"warm-up request {i}" for i in range(16)]
    warm.write_text("".join(json.dumps({"id": f"w{i}", "request": p}) + "\n"
                            for i, p in enumerate(warm_prompts)))
    run_client(args.client, args.base, warm_prompts, warm, concurrency)
    http(args.base.removesuffix("/v1") + "/stats/reset", "POST")
    cpu_start = time.process_time()
    wall = run_client(args.client, args.base, prompts, Path(args.prompts).with_suffix(".jsonl"),
                      concurrency)
    print(json.dumps({"wall_s": wall, "cpu_s": time.process_time() - cpu_start}))


# -- the driver ---------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def http(url: str, method: str = "GET") -> dict[str, Any]:
    request = urllib.request.Request(url, method=method, data=b"" if method == "POST" else None)
    with urllib.request.urlopen(request, timeout=10) as resp:
        return json.loads(resp.read())


def start_server(delay: float) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-c", "from medsafe.testing.server import main; main()",
                             "--port", str(port), "--delay", str(delay)])
    root = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            http(f"{root}/v1/models")
            return proc, root
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit("the fake server did not start")


def write_prompts(folder: Path, n: int) -> Path:
    from medsafe.suites import resolve_suite

    requests = [s.request for s in resolve_suite("harm:all").samples]
    prompts = [requests[i % len(requests)] + ("" if i < len(requests) else f" ({i})")
               for i in range(n)]
    (folder / "prompts.json").write_text(json.dumps(prompts))
    with (folder / "prompts.jsonl").open("w") as fh:
        for i, p in enumerate(prompts):
            fh.write(json.dumps({"id": f"p{i:05d}", "request": p}) + "\n")
    return folder / "prompts.json"


def measure(client: str, python: str, root: str, prompts: Path, concurrency: int,
            n: int) -> dict[str, float] | None:
    cmd = [python, __file__, "--client", client, "--base", f"{root}/v1", "--prompts", str(prompts),
           "--concurrency", str(concurrency)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        print(f"  {client} c{concurrency} failed: {done.stderr.strip().splitlines()[-1:]}",
              file=sys.stderr)
        return None
    got = json.loads(done.stdout.strip().splitlines()[-1])
    stats = http(f"{root}/stats")
    assert stats["total_requests"] == n, f"{client} sent {stats['total_requests']} requests, not {n}"
    return {"rate": n / stats["window_s"], "wall_rate": n / got["wall_s"],
            "cpu_ms": 1000 * got["cpu_s"] / n, "server_ms": 1000 * stats["process_cpu_s"] / n,
            # both processes' CPU over the client's wall time: 2.0 is this machine's every core
            "cores": (got["cpu_s"] + stats["process_cpu_s"]) / got["wall_s"]}


def inspect_python(explicit: str | None) -> str | None:
    if explicit:
        return explicit
    probe = subprocess.run([sys.executable, "-c", "import inspect_ai"], capture_output=True)
    return sys.executable if probe.returncode == 0 else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=900)
    parser.add_argument("--delay", type=float, default=0.05, help="server seconds per request")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 16, 64])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--clients", nargs="+", default=list(CLIENTS), choices=CLIENTS)
    parser.add_argument("--inspect-python", help="a python with inspect_ai installed")
    parser.add_argument("--client", choices=CLIENTS, help=argparse.SUPPRESS)
    parser.add_argument("--base", help=argparse.SUPPRESS)
    parser.add_argument("--prompts", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:
        client_main(args)
        return
    pythons = {c: sys.executable for c in args.clients}
    if "inspect" in args.clients:
        found = inspect_python(args.inspect_python)
        if found is None:
            print("inspect_ai not found: pass --inspect-python (see bench/README.md); skipping it",
                  file=sys.stderr)
            del pythons["inspect"]
        else:
            pythons["inspect"] = found
    server, root = start_server(args.delay)
    tmp = Path(tempfile.mkdtemp(prefix="medsafe-bench-"))
    try:
        prompts = write_prompts(tmp, args.requests)
        results: dict[tuple[str, int], dict[str, float]] = {}
        for concurrency in args.concurrency:
            runs: dict[str, list[dict[str, float]]] = {c: [] for c in pythons}
            for _ in range(args.repeats):
                for client, python in pythons.items():  # interleaved: noise hits every client
                    got = measure(client, python, root, prompts, concurrency, args.requests)
                    if got is not None:
                        runs[client].append(got)
            for client, got in runs.items():
                if got:
                    results[(client, concurrency)] = {
                        k: statistics.median(g[k] for g in got)
                        for k in ("rate", "wall_rate", "cpu_ms", "server_ms", "cores")}
        report(results, pythons, args)
    finally:
        server.terminate()
        server.wait()
        shutil.rmtree(tmp, ignore_errors=True)


def report(results: dict[tuple[str, int], dict[str, float]], pythons: dict[str, str],
           args: argparse.Namespace) -> None:
    print(f"{args.requests} requests, server delay {args.delay * 1000:g} ms, "
          f"median of {args.repeats}; ratios against bare aiohttp")
    print(f"{'client':<8} {'conc':>4} {'req/s':>8} {'ratio':>6} {'wall req/s':>11} {'ratio':>6} "
          f"{'CPU ms/req':>10} {'server ms/req':>13} {'cores busy':>10}")
    for concurrency in args.concurrency:
        base = results.get(("aiohttp", concurrency))
        for client in pythons:
            got = results.get((client, concurrency))
            if got is None:
                continue
            ratio = f"{got['rate'] / base['rate']:.3f}" if base else "–"
            wall_ratio = f"{got['wall_rate'] / base['wall_rate']:.3f}" if base else "–"
            print(f"{client:<8} {concurrency:>4} {got['rate']:>8.1f} {ratio:>6} "
                  f"{got['wall_rate']:>11.1f} {wall_ratio:>6} {got['cpu_ms']:>10.3f} "
                  f"{got['server_ms']:>13.3f} {got['cores']:>10.2f}")
    for concurrency in args.concurrency:
        med, ins = results.get(("medsafe", concurrency)), results.get(("inspect", concurrency))
        if med and ins:
            print(f"medsafe / inspect at c{concurrency}: {med['rate'] / ins['rate']:.1f}x "
                  f"(wall {med['wall_rate'] / ins['wall_rate']:.1f}x)")


if __name__ == "__main__":
    main()
