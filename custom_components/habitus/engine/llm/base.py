"""The one interface every LLM backend implements, and its request/result records.

A backend turns a ``GenerationRequest`` (prompt + output format) into a ``GenerationResult``. It
always sends the constraint it can (in-process: token automaton or GBNF; llama.cpp servers: the GBNF
``grammar`` field; other servers: ``response_format`` JSON schema) and reports which one in
``GenerationResult.constraint``; the caller still parses and validates the text (``synth_parse``),
because a server may ignore a constraint. Cancelling the awaiting task stops generation between
tokens (in-process) or drops the connection (HTTP).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

from .grammar import LineFormat

type Constraint = Literal["automaton", "gbnf", "json_schema", "none"]
type FinishReason = Literal["stop", "length", "lines", "cancelled"]

DEFAULT_TEMPERATURE = 0.7  # sampling temperature of a request unless the caller sets one


class LLMError(RuntimeError):
    """The backend could not produce an answer (unreachable server, HTTP error, model failure)."""


@dataclass(frozen=True, slots=True)
class GenerationRequest:
    """One completion: the prompt, the output language, and sampling settings."""

    prompt: str
    format: LineFormat
    max_tokens: int = 512
    temperature: float = DEFAULT_TEMPERATURE
    top_p: float = 0.95
    seed: int = 0

    def __post_init__(self) -> None:
        if self.max_tokens < 1:
            raise ValueError("max_tokens must be at least 1")
        if self.temperature < 0 or not 0 < self.top_p <= 1:
            raise ValueError("temperature must be >= 0 and top_p in (0, 1]")


@dataclass(frozen=True, slots=True)
class GenerationResult:
    """What came back, with the numbers the synthesis report needs."""

    text: str
    prompt_tokens: int
    completion_tokens: int
    seconds: float  # wall time of the whole request (prompt processing + generation)
    decode_seconds: float  # from the first completion token to the last (0 if unknown)
    constraint: Constraint  # the constraint the backend applied (or asked the server to apply)
    finish_reason: FinishReason

    @property
    def tokens_per_second(self) -> float:
        """Generation speed: tokens after the first per decode second (whole request if unknown)."""
        if self.decode_seconds > 0:
            return max(self.completion_tokens - 1, 0) / self.decode_seconds
        return self.completion_tokens / self.seconds if self.seconds > 0 else 0.0


class LLMBackend(Protocol):
    """An LLM that writes behaviour sequences. Implementations: ``LlamaCppBackend``, ``HttpBackend``."""

    @property
    def name(self) -> str:
        """A short description for reports (model file or server URL)."""
        ...

    async def generate(self, request: GenerationRequest) -> GenerationResult:
        """Generate one constrained completion; raises ``LLMError`` on failure."""
        ...

    async def aclose(self) -> None:
        """Release the model or the connection; the backend is unusable afterwards."""
        ...
