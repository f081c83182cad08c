"""Any OpenAI-compatible chat server (vLLM, llama.cpp server, Ollama, TGI, OpenAI) over aiohttp.

aiohttp rather than httpx: at 64 concurrent connections httpx's pool collapsed to ~90 req/s on
this hardware while aiohttp sustained ~1,000 (see bench/).
"""

from __future__ import annotations

import datetime
import email.utils
import json
import os
import time
from typing import Any

import aiohttp

from medsafe.errors import MedsafeError
from medsafe.samples import Message
from medsafe.targets._base import Completion, GenerationParams, Target, TargetError, TargetOptions

DEFAULT_BASE_URL = "https://api.openai.com/v1"
RETRYABLE_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # an asctime date has no zone; every HTTP date is in GMT
        when = when.replace(tzinfo=datetime.UTC)
    return max(0.0, when.timestamp() - time.time())


def parse_chat_body(raw: bytes) -> Completion:
    """Read an OpenAI chat-completions body; a malformed one raises a retryable TargetError."""
    try:
        body = json.loads(raw)
        choice = body["choices"][0]
        message = choice["message"]
        content = message.get("content")
        if content is not None and not isinstance(content, str):
            raise TypeError("content is not a string")
    except (ValueError, KeyError, IndexError, TypeError, AttributeError) as exc:
        snippet = raw[:120].decode("utf-8", "replace")
        raise TargetError(f"malformed response body ({exc!r}): {snippet!r}", retryable=True) from exc
    usage = body.get("usage") or {}
    return Completion(
        text=content or "",
        finish_reason=choice.get("finish_reason"),
        prompt_tokens=usage.get("prompt_tokens"),
        completion_tokens=usage.get("completion_tokens"),
    )


class OpenAITarget(Target):
    """A model behind ``/v1/chat/completions``; the API key comes from the environment."""

    def __init__(self, spec: str, model: str, base_url: str, options: TargetOptions | None = None):
        super().__init__(spec, options)
        self.model = model
        self.base_url = base_url.rstrip("/")
        self._session: aiohttp.ClientSession | None = None

    def identity(self) -> dict[str, Any]:
        """Model name and server; a different server is a different target."""
        return {"spec": self.spec, "model": self.model, "base_url": self.base_url}

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        key = os.environ.get(self.options.api_key_env)
        if key:
            headers["Authorization"] = f"Bearer {key}"
        return headers

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(
                limit=self.options.concurrency, limit_per_host=self.options.concurrency
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                timeout=aiohttp.ClientTimeout(total=self.options.timeout_s),
                headers=self._headers(),
            )
        return self._session

    async def preflight(self) -> None:
        """Fail fast with one clear line when the server cannot be reached at all."""
        try:
            async with self._get_session().get(
                f"{self.base_url}/models", timeout=aiohttp.ClientTimeout(total=10)
            ) as resp:
                await resp.read()
        except (TimeoutError, aiohttp.ClientConnectionError, aiohttp.InvalidURL) as exc:
            raise MedsafeError(
                f"cannot reach the server of target '{self.spec}' at {self.base_url} ({exc!r}): "
                "start it or fix the URL"
            ) from exc

    async def generate(self, messages: tuple[Message, ...], params: GenerationParams) -> Completion:
        """POST one chat completion; classify failures as retryable or final."""
        payload: dict[str, Any] = {
            "model": self.model,
            "messages": [m.model_dump() for m in messages],
            "max_tokens": params.max_tokens,
            "temperature": params.temperature,
            "top_p": params.top_p,
            "seed": params.seed,
        }
        if params.grammar:
            payload["grammar"] = params.grammar  # llama.cpp and vLLM extension
        if params.json_mode:
            payload["response_format"] = {"type": "json_object"}
        start = time.perf_counter()
        try:
            async with self._get_session().post(
                f"{self.base_url}/chat/completions", json=payload
            ) as resp:
                raw = await resp.read()
                if resp.status != 200:
                    raise TargetError(
                        f"HTTP {resp.status}: {raw[:200].decode('utf-8', 'replace')}",
                        retryable=resp.status in RETRYABLE_STATUS,
                        retry_after_s=parse_retry_after(resp.headers.get("Retry-After")),
                    )
        except TimeoutError as exc:
            raise TargetError(
                f"timed out after {self.options.timeout_s:g}s", retryable=True
            ) from exc
        except aiohttp.ClientError as exc:
            raise TargetError(f"connection error: {exc!r}", retryable=True) from exc
        completion = parse_chat_body(raw)
        completion.latency_s = time.perf_counter() - start  # a fresh object: no copy needed
        return completion

    async def aclose(self) -> None:
        """Close the connection pool."""
        if self._session is not None:
            await self._session.close()
            self._session = None


def create(rest: str, options: TargetOptions) -> OpenAITarget:
    """``openai:MODEL@BASE_URL`` (BASE_URL defaults to $OPENAI_BASE_URL, then OpenAI's)."""
    model, _, base_url = rest.partition("@")
    if not model:
        raise MedsafeError("openai target needs a model name: --target openai:MODEL@BASE_URL")
    base_url = base_url or os.environ.get("OPENAI_BASE_URL", DEFAULT_BASE_URL)
    if not base_url.startswith(("http://", "https://")):
        raise MedsafeError(f"openai target base URL must start with http:// or https://: {base_url}")
    return OpenAITarget(f"openai:{model}@{base_url}", model, base_url, options)
