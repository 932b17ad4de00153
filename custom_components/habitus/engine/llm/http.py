"""OpenAI-compatible HTTP backend: llama.cpp's ``llama-server``, ``python -m llama_cpp.server``,
Ollama, vLLM, reached through aiohttp (inside Home Assistant: HA's shared client session).

Requests go to ``POST {base_url}/v1/completions`` (a plain completion: the synthesis prompt is written
for a base model). The constraint travels the way the server understands it:

* ``gbnf``: the llama.cpp ``grammar`` field with ``LineFormat.gbnf()`` (llama.cpp server and
  llama-cpp-python's server);
* ``json_schema``: ``response_format`` ``{"type": "json_schema", ...}`` with ``LineFormat.json_schema()``
  (servers that only constrain JSON); ``synth_parse`` reads that JSON too.

A server that cannot parse the constraint may answer 200 with unconstrained text (llama.cpp #19051),
so the caller always validates. Failures: connection errors, timeouts, 429 and 5xx are retried a
bounded number of times with exponential backoff; other 4xx and malformed bodies raise ``LLMError``
at once. Cancelling the awaiting task aborts the request.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any, Literal

from .base import GenerationRequest, GenerationResult, LLMError

type ServerConstraint = Literal["gbnf", "json_schema"]
_RETRY_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})


@dataclass(frozen=True, slots=True)
class HttpBackendConfig:
    """Where the server is and how patiently to talk to it."""

    base_url: str  # "http://127.0.0.1:8080" or ".../v1"
    model: str = ""  # model name for servers that serve several (Ollama, vLLM); "" = server default
    api_key: str = ""  # sent as a bearer token when set
    constraint: ServerConstraint = "gbnf"
    timeout_seconds: float = 300.0  # whole request (a hub's CPU server may be slow)
    connect_timeout_seconds: float = 10.0
    retries: int = 2  # further attempts after the first
    backoff_seconds: float = 1.0  # wait before retry n: backoff * 2**(n-1), at most 30 s

    def __post_init__(self) -> None:
        if not self.base_url.startswith(("http://", "https://")):
            raise ValueError(f"not an http(s) URL: {self.base_url!r}")
        if self.retries < 0 or self.backoff_seconds < 0 or self.timeout_seconds <= 0:
            raise ValueError("retries and backoff must be >= 0 and the timeout positive")

    @property
    def completions_url(self) -> str:
        """The completions endpoint."""
        base = self.base_url.rstrip("/")
        return f"{base}/completions" if base.endswith("/v1") else f"{base}/v1/completions"


class _RetryableError(Exception):
    """A failure worth another attempt."""


def request_body(config: HttpBackendConfig, request: GenerationRequest) -> dict[str, Any]:
    """The JSON body of a completion request carrying the output constraint."""
    body: dict[str, Any] = {
        "prompt": request.prompt,
        "max_tokens": request.max_tokens,
        "temperature": request.temperature,
        "top_p": request.top_p,
        "seed": request.seed,
        "stream": False,
    }
    if config.model:
        body["model"] = config.model
    if config.constraint == "gbnf":
        body["grammar"] = request.format.gbnf()
    else:
        body["response_format"] = {
            "type": "json_schema",
            "json_schema": {"name": "behaviour_sequences", "schema": request.format.json_schema()},
        }
    return body


def _result(payload: object, config: HttpBackendConfig, seconds: float) -> GenerationResult:
    """Read an OpenAI completion body; ``LLMError`` if it is not one.

    ``{"choices": [{"text": "0 07 12;...\\n", "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 812, "completion_tokens": 96}, "timings": {"predicted_ms": ...}}``
    (``timings`` only from llama.cpp's own server).
    """
    try:
        if not isinstance(payload, dict):
            raise TypeError("the body is not a JSON object")
        choice = payload["choices"][0]
        text = choice["text"]
        if not isinstance(text, str):
            raise TypeError("choices[0].text is not a string")
        usage = payload.get("usage") or {}
        timings = payload.get("timings") or {}
        reason = choice.get("finish_reason")
        return GenerationResult(
            text=text,
            prompt_tokens=int(usage.get("prompt_tokens", 0)),
            completion_tokens=int(usage.get("completion_tokens", 0)),
            seconds=seconds,
            decode_seconds=float(timings.get("predicted_ms", 0.0)) / 1000.0,
            constraint=config.constraint,
            finish_reason="length" if reason == "length" else "stop",
        )
    except (KeyError, IndexError, TypeError, ValueError, AttributeError) as err:
        raise LLMError(f"not an OpenAI completion response ({type(err).__name__}: {err})") from err


class HttpBackend:
    """``LLMBackend`` for an OpenAI-compatible completion server."""

    def __init__(self, config: HttpBackendConfig, session: Any | None = None) -> None:
        try:
            import aiohttp  # noqa: PLC0415 (optional outside Home Assistant)
        except ImportError as err:
            raise LLMError("the HTTP backend needs aiohttp") from err
        self.config = config
        self._aiohttp = aiohttp
        self._session = session
        self._owns_session = session is None

    @property
    def name(self) -> str:
        """The server's completions URL."""
        return self.config.completions_url

    def _client(self) -> Any:
        if self._session is None:
            self._session = self._aiohttp.ClientSession()
        return self._session

    async def generate(self, request: GenerationRequest) -> GenerationResult:
        """POST the request; retry transient failures with backoff; ``LLMError`` when out of attempts."""
        body = request_body(self.config, request)
        last_error = "no attempt made"
        for attempt in range(self.config.retries + 1):
            if attempt:
                await asyncio.sleep(min(30.0, self.config.backoff_seconds * 2 ** (attempt - 1)))
            try:
                return await self._post(body)
            except _RetryableError as err:
                last_error = str(err)
        raise LLMError(f"{self.name}: gave up after {self.config.retries + 1} attempts ({last_error})")

    async def _post(self, body: dict[str, Any]) -> GenerationResult:
        aiohttp = self._aiohttp
        headers = {"Authorization": f"Bearer {self.config.api_key}"} if self.config.api_key else {}
        timeout = aiohttp.ClientTimeout(
            total=self.config.timeout_seconds, sock_connect=self.config.connect_timeout_seconds
        )
        started = time.perf_counter()
        try:
            async with self._client().post(
                self.config.completions_url, json=body, headers=headers, timeout=timeout
            ) as response:
                if response.status in _RETRY_STATUS:
                    raise _RetryableError(f"HTTP {response.status}")
                if response.status >= 400:
                    detail = (await response.text())[:200]
                    raise LLMError(f"{self.name}: HTTP {response.status}: {detail}")
                payload = await response.json(content_type=None)
        except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError, TimeoutError) as err:
            raise _RetryableError(f"{type(err).__name__}: {err}") from err
        except ValueError as err:  # body is not JSON
            raise LLMError(f"{self.name}: response is not JSON ({err})") from err
        return _result(payload, self.config, time.perf_counter() - started)

    async def aclose(self) -> None:
        """Close the session if this backend created it."""
        if self._owns_session and self._session is not None:
            await self._session.close()
        self._session = None
