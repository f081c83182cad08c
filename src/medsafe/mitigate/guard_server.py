"""The guard as an OpenAI-compatible server: ``/v1/chat/completions`` (plain and streaming) and
``/v1/models``, with optional API-key authentication and a request-size limit.

Answers are screened before anything is released, so a streamed answer is generated in full,
screened, and then sent as server-sent-event chunks in OpenAI's format. Upstream failures come
back as 502 (the upstream failed or is unreachable) or 503 (it timed out or is overloaded) with
an OpenAI-style error body, within the configured timeout.
"""

import asyncio
import hmac
import json
import re
import socket
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from medsafe.errors import MedsafeError, MissingDependencyError
from medsafe.judges import Judge, Judgement
from medsafe.mitigate.guard import Decision, Guard, GuardOutcome
from medsafe.mitigate.guard_policy import GuardPolicy
from medsafe.samples import Message
from medsafe.targets import GenerationParams, TargetError, TargetOptions

DEFAULT_MAX_BODY_BYTES = 1_000_000
DEFAULT_MAX_TOKENS = 512
ROLES = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant"}


@dataclass(frozen=True)
class ServeConfig:
    """Everything ``medsafe guard serve`` needs to build its guard and server."""

    upstream: str
    policy: GuardPolicy = field(default_factory=GuardPolicy)
    judge: str | None = None  # overrides the policy's judge
    request_classifier: Path | None = None  # a retrained classifier instead of the shipped one
    store: Path | None = None  # run-store folder for the decision log
    api_key: str | None = None
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    timeout_s: float = 60.0  # a request's whole budget: input screen, upstream and judge
    judge_timeout_s: float | None = None  # the judge's share of it (default: half)
    retries: int = 1
    model_name: str | None = None
    target_options: TargetOptions = field(default_factory=TargetOptions)

    @property
    def judge_budget_s(self) -> float:
        """How long the output screen waits for a verdict before the policy's fail mode."""
        return self.judge_timeout_s or self.timeout_s / 2

    @property
    def served_model(self) -> str:
        """The model id clients see in ``/v1/models``."""
        return self.model_name or f"guard:{self.upstream}"


class ChatMessage(BaseModel):
    """One message of a chat request (text content only)."""

    model_config = ConfigDict(extra="allow")

    role: str
    content: str | list[dict[str, Any]] | None = None


class ChatRequest(BaseModel):
    """The fields of ``/v1/chat/completions`` the guard uses; the rest is accepted and ignored."""

    model_config = ConfigDict(extra="allow")

    model: str = ""
    messages: list[ChatMessage] = Field(min_length=1)
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, gt=0, le=1)
    seed: int | None = None
    n: int = Field(default=1, ge=1, le=1)
    stream: bool = False
    stream_options: dict[str, Any] | None = None


class ApiError(Exception):
    """An error answered with OpenAI's error body."""

    def __init__(self, status: int, message: str, kind: str, code: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.kind, self.code = status, message, kind, code

    def body(self) -> dict[str, Any]:
        """``{"error": {message, type, param, code}}``."""
        return {"error": {"message": self.message, "type": self.kind, "param": None,
                          "code": self.code}}


def to_messages(request: ChatRequest) -> tuple[Message, ...]:
    """The conversation as medsafe messages; non-text content is refused."""
    out = []
    for i, message in enumerate(request.messages):
        role = ROLES.get(message.role)
        if role is None:
            raise ApiError(400, f"messages[{i}].role '{message.role}' is not supported by the "
                           "guard (use system, developer, user or assistant)",
                           "invalid_request_error", "unsupported_role")
        content = message.content
        if isinstance(content, list):
            parts = []
            for part in content:
                if part.get("type") != "text" or not isinstance(part.get("text"), str):
                    raise ApiError(400, f"messages[{i}].content: only text parts are supported",
                                   "invalid_request_error", "unsupported_content")
                parts.append(part["text"])
            content = "\n".join(parts)
        out.append(Message(role=role, content=content or ""))  # type: ignore[arg-type]
    return tuple(out)


def to_params(request: ChatRequest) -> GenerationParams:
    """Decoding parameters from the request, with the guard's defaults."""
    return GenerationParams(
        max_tokens=request.max_completion_tokens or request.max_tokens or DEFAULT_MAX_TOKENS,
        temperature=0.0 if request.temperature is None else request.temperature,
        top_p=1.0 if request.top_p is None else request.top_p,
        seed=0 if request.seed is None else request.seed,
    )


def parse_request(raw: bytes) -> ChatRequest:
    """Validate a request body; mistakes become 400s naming the field."""
    try:
        return ChatRequest.model_validate_json(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise ApiError(400, f"invalid request: {where}: {first['msg']}",
                       "invalid_request_error", "invalid_request") from exc


def upstream_error(exc: BaseException, timeout_s: float) -> ApiError:
    """502 for a failed or unreachable upstream, 503 for one that timed out or is overloaded."""
    text = str(exc)
    if isinstance(exc, TimeoutError) or text.startswith("timed out"):
        return ApiError(503, f"the upstream model did not answer within {timeout_s:g}s",
                        "upstream_error", "upstream_timeout")
    if text.startswith(("HTTP 429", "HTTP 503")):
        return ApiError(503, f"the upstream model is unavailable: {text}", "upstream_error",
                        "upstream_unavailable")
    return ApiError(502, f"the upstream model failed: {text}", "upstream_error", "upstream_failed")


def completion_body(outcome: GuardOutcome, model: str, completion_id: str,
                    created: int) -> dict[str, Any]:
    """A ``chat.completion`` object."""
    return {
        "id": completion_id, "object": "chat.completion", "created": created, "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": outcome.text},
                     "finish_reason": outcome.finish_reason or "stop", "logprobs": None}],
        "usage": usage(outcome),
    }


def usage(outcome: GuardOutcome) -> dict[str, int]:
    """Token counts of the upstream call (zero when the request never reached it)."""
    c = outcome.completion
    prompt = (c.prompt_tokens or 0) if c else 0
    completion = (c.completion_tokens or 0) if c else 0
    return {"prompt_tokens": prompt, "completion_tokens": completion,
            "total_tokens": prompt + completion}


_PIECE = re.compile(r"\S+\s*|\s+")


def text_pieces(text: str, words: int = 4) -> Iterator[str]:
    """The answer in small pieces, as a streaming model would send it."""
    tokens = _PIECE.findall(text)
    for i in range(0, len(tokens), words):
        yield "".join(tokens[i : i + words])


def sse_chunks(outcome: GuardOutcome, model: str, completion_id: str, created: int,
               include_usage: bool) -> Iterator[str]:
    """The answer as OpenAI ``chat.completion.chunk`` events, ending with ``[DONE]``."""
    def event(choices: list[dict[str, Any]], **extra: Any) -> str:
        chunk = {"id": completion_id, "object": "chat.completion.chunk", "created": created,
                 "model": model, "choices": choices, **extra}
        return f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n"

    yield event([{"index": 0, "delta": {"role": "assistant", "content": ""},
                  "finish_reason": None}])
    for piece in text_pieces(outcome.text):
        yield event([{"index": 0, "delta": {"content": piece}, "finish_reason": None}])
    yield event([{"index": 0, "delta": {}, "finish_reason": outcome.finish_reason or "stop"}])
    if include_usage:
        yield event([], usage=usage(outcome))
    yield "data: [DONE]\n\n"


async def read_body(request: Any, limit: int) -> bytes:
    """The request body, refusing more than ``limit`` bytes (declared or actually sent)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isascii() and declared.isdigit() and int(declared) > limit:
        raise too_large(limit)
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > limit:
            raise too_large(limit)
    return bytes(body)


def too_large(limit: int) -> ApiError:
    """413 with the limit in the message."""
    return ApiError(413, f"request body exceeds the guard's limit of {limit} bytes",
                    "invalid_request_error", "request_too_large")


def authorized(header: str | None, api_key: str | None) -> bool:
    """Whether ``Authorization: Bearer KEY`` matches (always true when no key is configured)."""
    if api_key is None:
        return True
    scheme, _, token = (header or "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(),
                                                              api_key.encode())


class DeadlineJudge(Judge):
    """The guard's judge with a time limit: verdicts that do not come in time are failed
    verdicts, so a stalled judge meets the policy's fail mode (replace or pass) within the
    request's budget instead of turning the whole request into a timeout."""

    def __init__(self, inner: Judge, timeout_s: float) -> None:
        super().__init__(inner.spec)
        self.inner = inner
        self.timeout_s = timeout_s

    @property
    def concurrency(self) -> int:
        """The wrapped judge's."""
        return self.inner.concurrency

    def identity(self) -> dict[str, Any]:
        """The wrapped judge's: the limit does not change a verdict."""
        return self.inner.identity()

    async def preflight(self) -> None:
        """The wrapped judge's check."""
        await self.inner.preflight()

    async def judge(self, request: str, response: str) -> Judgement:
        """One verdict within the limit."""
        return (await self.judge_many([(request, response)]))[0]

    async def judge_many(self, pairs: list[tuple[str, str]]) -> list[Judgement]:
        """The wrapped judge's verdicts, or failed ones when they take longer than the limit."""
        try:
            return await asyncio.wait_for(self.inner.judge_many(pairs), self.timeout_s)
        except TimeoutError:
            failed = Judgement(judge=self.spec,
                               error=f"timed out: no verdict within {self.timeout_s:g}s")
            return [failed] * len(pairs)

    async def aclose(self) -> None:
        """Release the wrapped judge."""
        await self.inner.aclose()


def build_guard(config: ServeConfig, log: Any) -> Guard:
    """The guard the server runs: upstream target, judge, request classifier, decision log."""
    from medsafe.judges import resolve_judge
    from medsafe.mitigate.request_classifier import load_request_classifier
    from medsafe.targets import resolve_target

    options = config.target_options.model_copy(update={"timeout_s": config.timeout_s,
                                                       "max_retries": config.retries,
                                                       "backoff_max_s": 2.0})
    upstream = resolve_target(config.upstream, options)
    judge = DeadlineJudge(resolve_judge(config.judge or config.policy.judge,
                                        lambda spec: resolve_target(spec, options)),
                          config.judge_budget_s)
    classifier = load_request_classifier(config.request_classifier)
    return Guard(upstream, judge, config.policy, classifier, log=log, retries=True)


def create_app(config: ServeConfig) -> Any:
    """The FastAPI application. The guard is built at once, so a bad spec fails before the
    server listens; the run store is opened when the server starts."""
    # This module does not use postponed annotations: FastAPI reads the handlers' annotations
    # at run time, and Request is imported here, inside the function.
    try:
        from fastapi import FastAPI, Request
        from fastapi.responses import JSONResponse, StreamingResponse
        from starlette.exceptions import HTTPException
    except ImportError as exc:
        raise MissingDependencyError("medsafe guard serve", "guard") from exc

    from medsafe.engine import RunStore, store_file

    state: dict[str, Any] = {}
    # Built now, so that a bad spec fails before the server starts listening.
    guard = build_guard(config, lambda row: state["store"].record_guard_decision(row))

    @asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        # Opened here, in the server's own thread: a SQLite connection stays in its thread.
        store = RunStore(store_file(config.store))
        state["store"] = store
        try:
            await guard.upstream.preflight()
        except MedsafeError as exc:
            state["preflight"] = str(exc)  # served anyway: requests get 502 until it is up
        try:
            yield
        finally:
            await guard.upstream.aclose()
            await guard.judge.aclose()
            store.close()

    app = FastAPI(title="medsafe guard", lifespan=lifespan, docs_url=None, redoc_url=None)

    def error_response(err: ApiError) -> Any:
        return JSONResponse(err.body(), status_code=err.status)

    @app.exception_handler(ApiError)
    async def on_api_error(request: Request, exc: ApiError) -> Any:
        return error_response(exc)

    @app.exception_handler(HTTPException)
    async def on_http_error(request: Request, exc: HTTPException) -> Any:
        return error_response(ApiError(exc.status_code, str(exc.detail), "invalid_request_error"))

    def authenticate(request: Request) -> None:
        # Checked in each /v1 handler before the body is read; an HTTP middleware would do the
        # same but costs a task switch and a response copy on every request.
        if not authorized(request.headers.get("authorization"), config.api_key):
            raise ApiError(401, "invalid or missing API key: send 'Authorization: Bearer KEY'",
                           "invalid_request_error", "invalid_api_key")

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "upstream": config.upstream,
                "upstream_preflight": state.get("preflight", "ok")}

    @app.get("/v1/models")
    async def models(request: Request) -> Any:
        authenticate(request)
        return {"object": "list", "data": [{"id": config.served_model, "object": "model",
                                            "created": 0, "owned_by": "medsafe-guard"}]}

    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> Any:
        authenticate(request)
        body = parse_request(await read_body(request, config.max_body_bytes))
        messages = to_messages(body)
        try:
            outcome = await asyncio.wait_for(guard.respond(messages, to_params(body)),
                                             config.timeout_s)
        except TimeoutError as exc:
            guard.record(messages, Decision("upstream", "error", None, None, None, None,
                                            f"no answer within {config.timeout_s:g}s",
                                            config.timeout_s))
            raise upstream_error(exc, config.timeout_s) from exc
        except TargetError as exc:  # already logged by the guard
            raise upstream_error(exc, config.timeout_s) from exc
        completion_id, created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())
        model = body.model or config.served_model
        headers = {"x-medsafe-guard-action": outcome.action,
                   "x-medsafe-guard-principle": str(outcome.principle or "")}
        if body.stream:
            include = bool((body.stream_options or {}).get("include_usage"))
            return StreamingResponse(sse_chunks(outcome, model, completion_id, created, include),
                                     media_type="text/event-stream", headers=headers)
        return JSONResponse(completion_body(outcome, model, completion_id, created),
                            headers=headers)

    return app


def serve(app: Any, host: str = "127.0.0.1", port: int = 8080, log_level: str = "warning",
          limit_concurrency: int = 256) -> None:
    """Run an app from :func:`create_app` with uvicorn until interrupted; past
    ``limit_concurrency`` open requests uvicorn answers 503 instead of queueing without bound."""
    try:
        import uvicorn
    except ImportError as exc:
        raise MissingDependencyError("medsafe guard serve", "guard") from exc
    try:
        uvicorn.run(app, host=host, port=port, log_level=log_level,
                    limit_concurrency=limit_concurrency, timeout_graceful_shutdown=5)
    except OSError as exc:  # the port is taken or the address is not ours
        raise MedsafeError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc


class BackgroundServer:
    """Runs an app on 127.0.0.1 in a background thread (tests, benchmarks, notebooks).

    ``with BackgroundServer(create_app(config)) as server: ... server.base_url``
    """

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 0) -> None:
        import uvicorn

        self.host = host
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind((host, port))
        self.port = self._socket.getsockname()[1]
        self._server = uvicorn.Server(uvicorn.Config(app, log_level="warning",
                                                     timeout_graceful_shutdown=2))
        self._thread = threading.Thread(target=self._server.run,
                                        kwargs={"sockets": [self._socket]}, daemon=True)

    @property
    def base_url(self) -> str:
        """The ``/v1`` URL to give an OpenAI client."""
        return f"http://{self.host}:{self.port}/v1"

    def __enter__(self) -> "BackgroundServer":
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the guard server did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.should_exit = True
        self._thread.join(10)
        self._socket.close()
