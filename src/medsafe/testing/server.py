"""A local OpenAI-compatible server that answers with scripted content and injects faults.

It exists so that the HTTP path can be tested and benchmarked for real on 127.0.0.1: tests,
benchmarks and demos start it in a thread (:class:`FakeOpenAIServer`) or as a process
(``python -m medsafe.testing.server --port 8011``). Faults can be scripted per prompt (the n-th
request whose last message contains a key gets the n-th action) or drawn at random with a seed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

ACTIONS = ("ok", "429", "500", "503", "stall", "drop", "truncated", "malformed", "empty")


@dataclass
class FaultPlan:
    """Which fault to inject: scripted per prompt substring, else random at ``rate``."""

    script: dict[str, list[str]] = field(default_factory=dict)
    rate: float = 0.0
    seed: int = 0
    retry_after_s: float = 0.2
    stall_s: float = 5.0

    def __post_init__(self) -> None:
        bad = {a for actions in self.script.values() for a in actions} - set(ACTIONS)
        if bad:
            raise ValueError(f"unknown fault actions {sorted(bad)}; use {ACTIONS}")
        self._rng = random.Random(self.seed)
        self._seen: Counter[str] = Counter()

    def next_action(self, prompt: str) -> str:
        """The action for this request."""
        for key, actions in self.script.items():
            if key in prompt:
                n = self._seen[key]
                self._seen[key] += 1
                return actions[n] if n < len(actions) else "ok"
        if self.rate and self._rng.random() < self.rate:
            return self._rng.choice(ACTIONS[1:])
        return "ok"


def default_reply(prompt: str) -> str:
    """Refuse prompts that mention 'refuse-me', comply with the rest (deterministic)."""
    if "refuse-me" in prompt:
        return "I can't help with that request."
    return f"Sure, here is what you asked for: {prompt[:80]}"


class FakeOpenAIApp:
    """The aiohttp application with its counters."""

    def __init__(self, plan: FaultPlan | None = None, delay_s: float = 0.0,
                 reply: Any = default_reply, hold: dict[str, threading.Event] | None = None,
                 converse: Any = None) -> None:
        self.plan = plan or FaultPlan()
        # converse(messages) -> text answers from the whole conversation (a list of {role,
        # content}): scripted attackers, multi-turn targets and judges, a model that remembers its
        # earlier answer; reply(prompt) sees the last message only.
        self.converse = converse
        # Requests whose prompt contains a key wait until its event is set (tests that need
        # a run to stay unfinished while something else happens).
        self.hold = hold or {}
        self.delay_s = delay_s
        self.reply = reply
        self.requests: Counter[str] = Counter()  # prompt -> how many requests arrived
        self.served: Counter[str] = Counter()  # prompt -> how many 200 answers went out
        self.faults: Counter[str] = Counter()
        self.last_body: dict[str, Any] | None = None  # what the last client sent, for tests
        # Every request in arrival order as (prompt, action): reliability tests replay it to
        # prove that no committed answer was asked for again.
        self.log: list[tuple[str, str]] = []
        self.first_at: float | None = None  # time.monotonic() of the first request since reset
        self.last_at: float | None = None  # ... and of the last answer sent
        self.cpu_at_reset = time.process_time()

    def reset(self) -> None:
        """Forget every counter, the log and the timing window (between benchmark runs)."""
        self.requests.clear()
        self.served.clear()
        self.faults.clear()
        self.log.clear()
        self.first_at = self.last_at = None
        self.cpu_at_reset = time.process_time()

    def snapshot(self) -> dict[str, Any]:
        """Counters and the timing window: seconds from the first request to the last answer;
        ``process_cpu_s`` is the CPU time of the serving process since the reset (the server's
        own cost when it runs in a process of its own, as the benchmarks run it)."""
        window = None if self.first_at is None or self.last_at is None else self.last_at - self.first_at
        return {"requests": dict(self.requests), "served": dict(self.served),
                "faults": dict(self.faults), "total_requests": len(self.log), "window_s": window,
                "process_cpu_s": time.process_time() - self.cpu_at_reset}

    def build(self) -> web.Application:
        """The web application."""
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self.chat)
        app.router.add_get("/v1/models", self.models)
        app.router.add_get("/stats", self.stats)
        app.router.add_post("/stats/reset", self.reset_stats)
        return app

    async def models(self, request: web.Request) -> web.Response:
        """List one model."""
        return web.json_response({"object": "list", "data": [{"id": "fake", "object": "model"}]})

    async def stats(self, request: web.Request) -> web.Response:
        """Counters, for tests and benchmarks that run the server in another process."""
        return web.json_response(self.snapshot())

    async def reset_stats(self, request: web.Request) -> web.Response:
        """Start a new measurement window."""
        self.reset()
        return web.json_response({"ok": True})

    async def chat(self, request: web.Request) -> web.StreamResponse:
        """Answer one chat completion, or fail as the plan says."""
        if self.first_at is None:
            self.first_at = time.monotonic()
        body = await request.json()
        self.last_body = body
        prompt = body["messages"][-1]["content"]
        self.requests[prompt] += 1
        action = self.plan.next_action(prompt)
        self.log.append((prompt, action))
        if action != "ok":
            self.faults[action] += 1
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        for key, event in self.hold.items():
            if key in prompt:
                await asyncio.to_thread(event.wait, 120)
        if action in ("429", "500", "503"):
            headers = {"Retry-After": f"{self.plan.retry_after_s:g}"} if action != "500" else {}
            return web.json_response({"error": {"message": f"injected {action}"}},
                                     status=int(action), headers=headers)
        if action == "stall":
            await asyncio.sleep(self.plan.stall_s)
        if action == "drop":
            assert request.transport is not None
            request.transport.close()
            return web.Response(status=500)
        if action == "empty":
            text = ""
        else:
            text = self.converse(body["messages"]) if self.converse else self.reply(prompt)
        payload = {
            "id": f"chatcmpl-{int(time.time() * 1000)}", "object": "chat.completion",
            "model": body.get("model", "fake"),
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": text}}],
            "usage": {"prompt_tokens": len(prompt.split()), "completion_tokens": len(text.split()),
                      "total_tokens": len(prompt.split()) + len(text.split())},
        }
        raw = json.dumps(payload)
        if action == "truncated":
            raw = raw[: len(raw) // 2]
        elif action == "malformed":
            raw = json.dumps({"unexpected": True})
        if action == "ok" or action == "empty" or action == "stall":
            self.served[prompt] += 1
        self.last_at = time.monotonic()
        return web.Response(text=raw, content_type="application/json")


class FakeOpenAIServer:
    """Runs :class:`FakeOpenAIApp` on 127.0.0.1 in a background thread."""

    def __init__(self, plan: FaultPlan | None = None, delay_s: float = 0.0,
                 reply: Any = default_reply, port: int = 0,
                 hold: dict[str, threading.Event] | None = None, converse: Any = None) -> None:
        self.app = FakeOpenAIApp(plan, delay_s, reply, hold, converse)
        self.port = port
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None

    @property
    def base_url(self) -> str:
        """The ``/v1`` URL to give an openai target."""
        return f"http://127.0.0.1:{self.port}/v1"

    async def _start(self) -> None:
        self._runner = web.AppRunner(self.app.build(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    def __enter__(self) -> FakeOpenAIServer:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


def main() -> None:
    """Serve until interrupted: ``python -m medsafe.testing.server --port 8011 --delay 0.05``."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=8011)
    parser.add_argument("--delay", type=float, default=0.0, help="seconds per request")
    parser.add_argument("--fault-rate", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--stall", type=float, default=5.0, help="seconds a stalled answer waits")
    args = parser.parse_args()
    app = FakeOpenAIApp(FaultPlan(rate=args.fault_rate, seed=args.seed, stall_s=args.stall),
                        args.delay)
    web.run_app(app.build(), host="127.0.0.1", port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
