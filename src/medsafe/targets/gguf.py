"""Any GGUF chat model, run in-process by llama.cpp (xllamacpp) with parallel decoding slots."""

from __future__ import annotations

import asyncio
import hashlib
import math
import os
import time
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from pathlib import Path
from typing import Any

from medsafe.errors import MedsafeError
from medsafe.samples import Message
from medsafe.targets._base import Completion, GenerationParams, Target, TargetError, TargetOptions

CTX_PER_SLOT = 2048


@cache
def file_sha256(path: str, size: int, mtime_ns: int) -> str:
    """SHA-256 of a file; size and mtime are part of the memo key so a changed file is re-hashed."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def sha256_of(path: Path) -> str:
    """SHA-256 of a model file (memoised per process)."""
    st = path.stat()
    return file_sha256(str(path.resolve()), st.st_size, st.st_mtime_ns)


def idle_cores() -> int:
    """The cores other work leaves idle now (the 1-minute load average off the core count,
    rounded up; at least 1): the default thread count of a GGUF model.

    llama.cpp's threads wait for one another at every step, so a thread on a core another
    process holds stalls them all: on 2 cores busy with two other processes, 8 slots decoded
    24-32 tokens/s with 2 threads and 53-55 with 1, while on idle cores 2 threads gave 122-135
    and 1 gave 72-78 (bench/embedded_throughput.py)."""
    cores = os.cpu_count() or 1
    try:
        load = os.getloadavg()[0]
    except OSError:  # no load average on this platform
        return cores
    return max(1, min(cores, math.ceil(cores - load)))


class GGUFTarget(Target):
    """A llama.cpp server living in this process.

    Requests run on a thread pool as wide as the slot count, so that concurrent requests are
    decoded together in one batch by llama.cpp's continuous batching.
    """

    def __init__(self, spec: str, path: Path, options: TargetOptions | None = None) -> None:
        super().__init__(spec, options)
        if not path.is_file():
            raise MedsafeError(f"GGUF model file not found: {path}")
        self.path = path
        self._sha256 = sha256_of(path)
        self._server: Any = None
        self._pool: ThreadPoolExecutor | None = None

    @property
    def concurrency(self) -> int:
        """One request in flight per decoding slot."""
        return self.options.slots

    def identity(self) -> dict[str, Any]:
        """The spec and the model file's SHA-256."""
        return {"spec": self.spec, "gguf_sha256": self._sha256, "runtime": "xllamacpp"}

    def _start(self) -> Any:
        import xllamacpp  # heavy native module: imported only when a GGUF model is used

        params = xllamacpp.CommonParams()
        params.model.path = str(self.path)
        params.n_parallel = self.options.slots
        params.n_ctx = CTX_PER_SLOT * self.options.slots
        params.verbosity = -1  # llama.cpp logs every slot event to stderr otherwise
        threads = self.options.threads or idle_cores()
        params.cpuparams.n_threads = threads
        params.cpuparams_batch.n_threads = threads
        if self.options.poll is not None:
            params.cpuparams.poll = params.cpuparams_batch.poll = self.options.poll
        try:
            return xllamacpp.Server(params)
        except Exception as exc:  # the native loader reports bad files with a bare error
            raise MedsafeError(f"cannot load GGUF model {self.path}: {exc}") from exc

    def _ensure_started(self) -> tuple[Any, ThreadPoolExecutor]:
        if self._server is None:
            self._server = self._start()
            self._pool = ThreadPoolExecutor(self.options.slots, thread_name_prefix="gguf")
        assert self._pool is not None
        return self._server, self._pool

    def _call(self, body: dict[str, Any]) -> dict[str, Any]:
        server, _ = self._ensure_started()
        try:
            return server.handle_chat_completions(body)
        except ValueError as exc:
            raise TargetError(f"llama.cpp rejected the request: {exc}") from exc

    async def generate(self, messages: tuple[Message, ...], params: GenerationParams) -> Completion:
        """Decode one conversation on a free slot."""
        body: dict[str, Any] = {
            "messages": [m.model_dump() for m in messages],
            "max_tokens": params.max_tokens,
            "temperature": params.temperature,
            "top_p": params.top_p,
            "seed": params.seed,
        }
        if params.grammar:
            body["grammar"] = params.grammar
        if params.json_mode:
            body["response_format"] = {"type": "json_object"}
        _, pool = self._ensure_started()
        start = time.perf_counter()
        reply = await asyncio.get_running_loop().run_in_executor(pool, self._call, body)
        if "error" in reply:
            err = reply["error"]
            raise TargetError(f"llama.cpp error: {err.get('message', err)}")
        choice = reply["choices"][0]
        usage = reply.get("usage", {})
        return Completion(
            text=choice["message"].get("content") or "",
            finish_reason=choice.get("finish_reason"),
            prompt_tokens=usage.get("prompt_tokens"),
            completion_tokens=usage.get("completion_tokens"),
            latency_s=time.perf_counter() - start,
        )

    async def aclose(self) -> None:
        """Stop the worker threads and free the model."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
        self._server = None
        self._pool = None


def create(rest: str, options: TargetOptions) -> GGUFTarget:
    """``gguf:FILE``: any GGUF chat model on disk."""
    if not rest:
        raise MedsafeError("gguf target needs a file: --target gguf:/path/to/model.gguf")
    return GGUFTarget(f"gguf:{rest}", Path(rest).expanduser(), options)
