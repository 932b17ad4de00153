"""Constrained vs unconstrained decoding speed of the in-process model, measured side by side.

Target (issue 4): constrained generation at >= 0.67x the unconstrained tokens/s of the same model.
``measure_decoding`` loads the model once and interleaves the modes (``none`` = stock unconstrained
``create_completion``; ``gbnf`` = stock ``create_completion`` with ``LlamaGrammar``; ``automaton`` =
this package's token automaton), so background load on a shared machine hits every mode alike. The
prompt's KV cache is shared, so after the first run only decoding is timed. Each mode's outputs are
also parsed, giving its Pass@1.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field

from ..synth_parse import CodeTable, ParsedResponse, ValidationRules, parse_response, pass_at_1
from .base import GenerationRequest
from .local import LlamaCppConfig, LocalConstraint, LocalModel


@dataclass(slots=True)
class ModeSpeed:
    """Totals of one decoding mode over all repeats."""

    mode: str
    tokens: int = 0  # completion tokens after each run's first (the timed ones)
    decode_seconds: float = 0.0
    runs: int = 0
    pass_at_1: float = 0.0
    samples: list[str] = field(default_factory=list)

    @property
    def tokens_per_second(self) -> float:
        """Timed tokens per decode second."""
        return self.tokens / self.decode_seconds if self.decode_seconds > 0 else 0.0


def measure_decoding(
    config: LlamaCppConfig,
    request: GenerationRequest,
    table: CodeTable,
    modes: Sequence[LocalConstraint] = ("none", "gbnf", "automaton"),
    repeats: int = 3,
) -> dict[str, ModeSpeed]:
    """Decode ``request`` ``repeats`` times per mode (seeds ``seed..seed+repeats-1``), interleaved."""
    model = LocalModel(config)
    try:
        model.format_pieces()  # one-off vocabulary scan, not part of any timing
        model.generate(GenerationRequest(request.prompt, request.format, max_tokens=1), threading.Event())
        rules = ValidationRules.from_format(request.format)  # every mode is held to the same rules
        speeds: dict[str, ModeSpeed] = {mode: ModeSpeed(mode) for mode in modes}
        parsed: dict[str, list[ParsedResponse]] = {mode: [] for mode in modes}
        for repeat in range(repeats):
            for mode in modes:
                run = GenerationRequest(
                    request.prompt,
                    request.format,
                    request.max_tokens,
                    request.temperature,
                    request.top_p,
                    request.seed + repeat,
                )
                result = model.generate(run, threading.Event(), constraint=mode)
                speed = speeds[mode]
                speed.tokens += max(result.completion_tokens - 1, 0)
                speed.decode_seconds += result.decode_seconds
                speed.runs += 1
                speed.samples.append(result.text)
                parsed[mode].append(parse_response(result.text, table, rules=rules))
        for mode in modes:
            speeds[mode].pass_at_1 = pass_at_1(parsed[mode])
        return speeds
    finally:
        model.close()
