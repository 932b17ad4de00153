"""In-process llama.cpp backend (llama-cpp-python): the embedded default LLM.

The model runs in a single worker thread owned by the backend (one llama.cpp context cannot serve two
completions at once), so the event loop never blocks. Three ways to decode:

* ``automaton`` (default): this module's own decoding loop. Each step reads the last logits, keeps
  only the tokens ``TokenAutomaton`` allows in the current state of ``LineFormat`` (a few dozen), and
  samples among them. The constraint costs a dict lookup per token instead of a grammar check of all
  262k vocabulary entries, so constrained decoding runs at unconstrained speed. Soft graph-guided
  decoding (``LineFormat.graph_bonus``) adds its cached per-state bonus to those logits, as a
  llama.cpp logits processor would (the stock paths below ignore it);
* ``gbnf``: llama-cpp-python's ``create_completion`` with ``LlamaGrammar`` (the stock path; slow with
  Gemma's vocabulary, kept for comparison and as a cross-check of the grammar);
* ``none``: unconstrained ``create_completion`` (benchmark baseline only).

The prompt's KV cache is reused across requests that share a prefix (the fixed part of the synthesis
prompt), and generation stops between tokens once the request is cancelled.
"""

from __future__ import annotations

import asyncio
import ctypes
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from .base import FinishReason, GenerationRequest, GenerationResult, LLMError
from .grammar import ALPHABET, LINE_START, FormatState, LineFormat, TokenAutomaton

type LocalConstraint = Literal["automaton", "gbnf", "none"]


@dataclass(frozen=True, slots=True)
class LlamaCppConfig:
    """How the model is loaded. Keep ``n_threads`` below the hub's core count (HA needs one)."""

    model_path: Path
    n_threads: int = 2
    n_ctx: int = 4096
    n_batch: int = 256
    constraint: LocalConstraint = "automaton"
    reuse_prefix: bool = True  # keep the KV cache of a shared prompt prefix between requests
    # llama.cpp's "extra buffer types" (weight repacking, Intel AMX). None = on, except on CPUs with
    # AMX, where llama-cpp-python 0.3.36's AMX matmul segfaults on Gemma 3 (seen on this project's CI).
    extra_buffer_types: bool | None = None


_LOAD_LOCK = threading.Lock()


def cpu_has_amx() -> bool:
    """Does llama.cpp report Intel AMX on this CPU?"""
    from llama_cpp import llama_cpp as low  # noqa: PLC0415

    info = low.llama_print_system_info()
    return b"AMX_INT8 = 1" in (info if isinstance(info, bytes) else str(info).encode())


def load_llama(model_path: Path, extra_buffer_types: bool | None = None, **kwargs: Any) -> Any:
    """``llama_cpp.Llama(model_path, **kwargs)`` with control over llama.cpp's extra buffer types.

    llama-cpp-python does not expose ``llama_model_params.use_extra_bufts``; its constructor reads
    ``llama_model_default_params()``, so that function is swapped for the duration of the load (under
    a lock: loads are rare and short).
    """
    from llama_cpp import Llama  # noqa: PLC0415
    from llama_cpp import llama_cpp as low  # noqa: PLC0415

    use_extra = (not cpu_has_amx()) if extra_buffer_types is None else extra_buffer_types
    with _LOAD_LOCK:
        original = low.llama_model_default_params

        def without_extra_buffers() -> Any:
            params = original()
            params.use_extra_bufts = use_extra
            return params

        low.llama_model_default_params = without_extra_buffers
        try:
            return Llama(model_path=str(model_path), **kwargs)
        finally:
            low.llama_model_default_params = original


class LocalModel:
    """A loaded llama.cpp model plus what constrained decoding needs (synchronous; one thread only)."""

    def __init__(self, config: LlamaCppConfig) -> None:
        try:
            import llama_cpp  # noqa: F401, PLC0415 (optional, heavy native library)
        except ImportError as err:
            raise LLMError("the in-process backend needs llama-cpp-python") from err
        if not config.model_path.is_file():
            raise LLMError(f"model file not found: {config.model_path}")
        self.config = config
        self.llm: Any = load_llama(
            config.model_path,
            config.extra_buffer_types,
            n_ctx=config.n_ctx,
            n_threads=config.n_threads,
            n_threads_batch=config.n_threads,
            n_batch=config.n_batch,
            verbose=False,
        )
        self.n_vocab: int = self.llm.n_vocab()
        self._pieces: dict[int, str] | None = None
        self._automata: dict[LineFormat, TokenAutomaton] = {}

    def count_tokens(self, text: str) -> int:
        """Prompt tokens of ``text`` with this model's tokenizer (BOS included)."""
        return len(self.llm.tokenize(text.encode("utf-8"), add_bos=True, special=False))

    def format_pieces(self) -> dict[int, str]:
        """Text of every vocabulary entry made only of format characters (computed once)."""
        if self._pieces is None:
            pieces: dict[int, str] = {}
            for tid in range(self.n_vocab):
                text = self.llm.detokenize([tid]).decode("utf-8", errors="replace")
                if text and set(text) <= ALPHABET:
                    pieces[tid] = text
            self._pieces = pieces
        return self._pieces

    def automaton(self, fmt: LineFormat) -> TokenAutomaton:
        """The token automaton of ``fmt`` (cached per format)."""
        if fmt not in self._automata:
            self._automata[fmt] = TokenAutomaton(fmt, self.format_pieces(), frozenset({self.llm.token_eos()}))
        return self._automata[fmt]

    def close(self) -> None:
        """Free the native model and context."""
        self.llm.close()

    # -- decoding -----------------------------------------------------------------------------------

    def generate(
        self, request: GenerationRequest, cancel: threading.Event, constraint: LocalConstraint | None = None
    ) -> GenerationResult:
        """One completion with the configured constraint, or ``constraint`` (blocking)."""
        constraint = constraint or self.config.constraint
        if constraint == "automaton":
            return self._generate_automaton(request, cancel)
        return self._generate_stock(request, cancel, constraint)

    def _prepare(self, prompt_ids: list[int], max_tokens: int) -> None:
        """Evaluate the prompt, reusing the cached prefix shared with the previous request."""
        if len(prompt_ids) + max_tokens > self.config.n_ctx:
            raise LLMError(
                f"prompt ({len(prompt_ids)} tokens) + answer ({max_tokens}) exceed n_ctx {self.config.n_ctx}"
            )
        prefix = 0
        if self.config.reuse_prefix:
            cached = self.llm.input_ids[: self.llm.n_tokens].tolist()
            while prefix < min(len(cached), len(prompt_ids)) and cached[prefix] == prompt_ids[prefix]:
                prefix += 1
            prefix = min(prefix, len(prompt_ids) - 1)  # re-evaluate at least one token to get logits
        else:
            self.llm.reset()
        self.llm.n_tokens = prefix
        self.llm.eval(prompt_ids[prefix:])

    def _last_logits(self) -> NDArray[np.float32]:
        """Logits of the last evaluated token, ``[n_vocab]`` (a view into llama.cpp's buffer)."""
        from llama_cpp import llama_cpp as low  # noqa: PLC0415

        pointer = low.llama_get_logits_ith(self.llm.ctx, -1)
        return np.ctypeslib.as_array(
            ctypes.cast(pointer, ctypes.POINTER(ctypes.c_float)), shape=(self.n_vocab,)
        )

    def _generate_automaton(self, request: GenerationRequest, cancel: threading.Event) -> GenerationResult:
        started = time.perf_counter()
        prompt_ids = self.llm.tokenize(request.prompt.encode("utf-8"), add_bos=True, special=False)
        self._prepare(prompt_ids, request.max_tokens)
        decode_started = 0.0  # set when the first completion token is chosen, as in _generate_stock
        automaton = self.automaton(request.format)
        sampler = _Sampler(request.temperature, request.top_p, request.seed)
        state, lines, out = LINE_START, 0, bytearray()
        finish: FinishReason = "length"
        generated = 0
        while generated < request.max_tokens:
            if cancel.is_set():
                finish = "cancelled"
                break
            choice = _choose(
                automaton, state, lines, request.format.max_lines, logits=self._last_logits(), sampler=sampler
            )
            if choice is None:
                finish = "stop"
                break
            token, state, newline = choice
            decode_started = decode_started or time.perf_counter()
            out += self.llm.detokenize([token])
            lines += newline
            generated += 1
            if lines >= request.format.max_lines:
                finish = "lines"
                break
            self.llm.eval([token])
        now = time.perf_counter()
        return GenerationResult(
            text=out.decode("utf-8", errors="replace"),
            prompt_tokens=len(prompt_ids),
            completion_tokens=generated,
            seconds=now - started,
            decode_seconds=now - decode_started if decode_started else 0.0,
            constraint="automaton",
            finish_reason=finish,
        )

    def _generate_stock(
        self, request: GenerationRequest, cancel: threading.Event, constraint: Literal["gbnf", "none"]
    ) -> GenerationResult:
        from llama_cpp.llama import StoppingCriteriaList  # noqa: PLC0415
        from llama_cpp.llama_grammar import LlamaGrammar  # noqa: PLC0415

        grammar = (
            LlamaGrammar.from_string(request.format.gbnf(), verbose=False) if constraint == "gbnf" else None
        )
        first_token: list[float] = []

        def stop(_ids: Any, _logits: Any) -> bool:
            if not first_token:
                first_token.append(time.perf_counter())
            return cancel.is_set()

        started = time.perf_counter()
        if not self.config.reuse_prefix:
            self.llm.reset()
        response = self.llm.create_completion(
            request.prompt,
            max_tokens=request.max_tokens,
            temperature=request.temperature,
            top_p=request.top_p,
            seed=request.seed,
            grammar=grammar,
            stopping_criteria=StoppingCriteriaList([stop]),
        )
        now = time.perf_counter()
        usage = response.get("usage", {})
        reason = response["choices"][0].get("finish_reason")
        completion = int(usage.get("completion_tokens", 0))
        return GenerationResult(
            text=str(response["choices"][0]["text"]),
            prompt_tokens=int(usage.get("prompt_tokens", 0)),
            completion_tokens=completion,
            seconds=now - started,
            # The first stopping-criteria call follows the first sampled token, as in the automaton loop.
            decode_seconds=now - first_token[0] if first_token else 0.0,
            constraint="gbnf" if constraint == "gbnf" else "none",
            finish_reason="cancelled" if cancel.is_set() else ("length" if reason == "length" else "stop"),
        )


class _Sampler:
    """Temperature + top-p sampling over a small candidate set (greedy at temperature 0)."""

    def __init__(self, temperature: float, top_p: float, seed: int) -> None:
        self.temperature = temperature
        self.top_p = top_p
        self.rng = np.random.default_rng(seed)

    def pick(self, logits: NDArray[np.float32]) -> int:
        """Index into ``logits`` (``[k]``) of the sampled candidate."""
        if self.temperature == 0 or len(logits) == 1:
            return int(np.argmax(logits))
        z = (logits.astype(np.float64) - float(np.max(logits))) / self.temperature  # [k]
        p = np.exp(z)
        p /= p.sum()
        order = np.argsort(-p, kind="stable")  # [k]
        keep = order[: int(np.searchsorted(np.cumsum(p[order]), self.top_p)) + 1]
        q = p[keep] / p[keep].sum()
        return int(keep[self.rng.choice(len(keep), p=q)])


def _choose(
    automaton: TokenAutomaton,
    state: FormatState,
    lines: int,
    max_lines: int,
    *,
    logits: NDArray[np.float32],
    sampler: _Sampler,
) -> tuple[int, FormatState, int] | None:
    """Sample the next token among those the format allows; None means the output ends here."""
    moves = automaton.transitions(state)
    allowed = np.ones(len(moves.token_ids), dtype=bool)  # [k]
    if lines == max_lines - 1:  # the last line must end exactly at a newline
        allowed &= np.array(
            [n == 0 or s == LINE_START for n, s in zip(moves.newlines, moves.next_states, strict=True)]
        )
    ids = moves.token_ids[allowed]  # [k']
    ends = sorted(automaton.end_ids) if automaton.may_end(state, lines) else []
    candidates = np.concatenate([ids, np.asarray(ends, dtype=np.int64)])  # [k' + e]
    if len(candidates) == 0:
        return None
    scores = logits[candidates]  # [k' + e]
    if moves.bonus is not None:  # soft graph-guided decoding: GSS successors preferred, not forced
        scores = scores + np.concatenate([moves.bonus[allowed], np.zeros(len(ends), dtype=np.float32)])
    index = sampler.pick(scores)
    if index >= len(ids):
        return None
    position = int(np.flatnonzero(allowed)[index])
    return int(ids[index]), moves.next_states[position], int(moves.newlines[position])


class LlamaCppBackend:
    """``LLMBackend`` running llama.cpp in-process, in a dedicated worker thread."""

    def __init__(self, config: LlamaCppConfig) -> None:
        self.config = config
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="habitus-llm")
        self._model: LocalModel | None = None
        self._closed = False
        self._loading = asyncio.Lock()

    @property
    def name(self) -> str:
        """The model file's name and the constraint mode."""
        return f"llama.cpp:{self.config.model_path.name} ({self.config.constraint})"

    async def _run[T](self, func: Callable[[], T]) -> T:
        if self._closed:
            raise LLMError("the backend is closed")
        return await asyncio.get_running_loop().run_in_executor(self._executor, func)

    async def load(self) -> LocalModel:
        """Load the model (in the worker thread) if not loaded yet; concurrent callers share one load."""
        async with self._loading:
            if self._model is None:
                self._model = await self._run(lambda: LocalModel(self.config))
            return self._model

    async def count_tokens(self, text: str) -> int:
        """Tokens of ``text`` with the loaded model's tokenizer."""
        model = await self.load()
        return await self._run(lambda: model.count_tokens(text))

    async def generate(self, request: GenerationRequest) -> GenerationResult:
        """Generate in the worker thread; cancelling stops decoding at the next token."""
        model = await self.load()
        cancel = threading.Event()
        future = asyncio.get_running_loop().run_in_executor(self._executor, model.generate, request, cancel)
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            cancel.set()
            await asyncio.wait([future])  # the thread stops at the next token; never leave it running
            raise

    async def aclose(self) -> None:
        """Free the model and stop the worker thread."""
        if self._closed:
            return
        model, self._model = self._model, None
        if model is not None:
            await self._run(model.close)
        self._closed = True
        await asyncio.get_running_loop().run_in_executor(None, self._executor.shutdown)
