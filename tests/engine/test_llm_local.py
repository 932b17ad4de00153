"""The in-process llama.cpp backend with the real Gemma 3 270M (kept short: the CPU is shared)."""

from __future__ import annotations

import asyncio
import functools
import itertools
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from habitus_engine.compress import BagOfActionsEncoder, SemanticCompressor, SSCConfig
from habitus_engine.datasets import load_vocabulary, read_sequences, to_behaviours
from habitus_engine.fidelity import behaviour_tokens, fidelity_report, privacy_report
from habitus_engine.graph import TransitionGraph
from habitus_engine.llm.base import GenerationRequest, LLMError
from habitus_engine.llm.grammar import LINE_START, LineFormat
from habitus_engine.llm.local import LlamaCppBackend, LlamaCppConfig, LocalModel
from habitus_engine.llm.model_file import default_model_path
from habitus_engine.outliers import MarkovLossModel, TwoStageOutlierFilter
from habitus_engine.prompt import (
    PromptConfig,
    SynthesisPrompt,
    build_prompts,
    gss_successors,
    total_prompt_tokens,
)
from habitus_engine.shifts import paper_shift
from habitus_engine.synth_parse import (
    CodeTable,
    DeviceDictionary,
    build_code_table,
    parse_response,
    usage_counts,
)

FR = Path(__file__).resolve().parents[2].parent / "shared" / "datasets" / "smartthings" / "fr"
N_CTX = 1024


def small_prompt(shift_name: str = "spring") -> tuple[SynthesisPrompt, CodeTable]:
    """A real synthesis prompt from FR winter with a 12-code table (about 450 tokens).

    For spring the shift's new device (the air conditioner, absent from winter) fills the table, so
    no code has GSS successors; ``night`` brings no device and keeps the household's own pairs."""
    vocab = load_vocabulary(FR)
    raw = [s.seq for s in read_sequences(FR / "paper" / "winter" / "split_trn.jsonl")][:200]
    behaviours = [to_behaviours(seq, vocab) for seq in raw]
    shift = paper_shift(shift_name)
    table = build_code_table(
        DeviceDictionary.from_vocabulary(vocab, raw), usage_counts(behaviours), shift.emphasis_devices, 12
    )
    labels = {pair.action: table.code(pair) for pair in table.entries}
    hints = (
        TransitionGraph()
        .fit([[b.action for b in s] for s in behaviours])
        .hints_json(lambda a: labels.get(str(a), "?"))
    )
    config = PromptConfig(
        n_ctx=N_CTX, max_new_tokens=128, max_sequences_per_chunk=4, sequences_per_response=2
    )
    return build_prompts(behaviours, table, shift, hints, config=config)[0], table


@functools.cache
def model_path() -> Path:
    return default_model_path()


def backend(**overrides: Any) -> LlamaCppBackend:
    return LlamaCppBackend(replace(LlamaCppConfig(model_path(), n_threads=1, n_ctx=N_CTX), **overrides))


async def test_automaton_decoding_writes_parseable_validated_behaviours() -> None:
    prompt, table = small_prompt()
    llm = backend()
    try:
        result = await llm.generate(GenerationRequest(prompt.text, prompt.format, max_tokens=100, seed=3))
    finally:
        await llm.aclose()
    assert result.constraint == "automaton" and result.completion_tokens > 0
    assert result.prompt_tokens > 300 and result.tokens_per_second > 0
    parsed = parse_response(result.text, table)
    assert parsed.sequences, result.text
    assert not parsed.invalid or all("time goes backwards" in r or "spans" in r for r in parsed.invalid)
    complete = result.text[: result.text.rfind("\n") + 1]
    assert prompt.format.run(LINE_START, complete) == LINE_START  # whole lines, all in the format


async def test_graph_guided_decoding_writes_only_gss_edges_within_a_line() -> None:
    prompt, table = small_prompt("night")  # the household's own pairs, so the graph constrains
    vocab = load_vocabulary(FR)
    raw = [s.seq for s in read_sequences(FR / "paper" / "winter" / "split_trn.jsonl")][:200]
    successors, free = gss_successors([to_behaviours(seq, vocab) for seq in raw], table)
    fmt = replace(prompt.format, successors=successors, free_codes=free, max_lines=3)
    llm = backend()
    try:
        result = await llm.generate(GenerationRequest(prompt.text, fmt, max_tokens=90, seed=5))
    finally:
        await llm.aclose()
    on_graph, constrained = _on_graph_pairs(fmt, result.text)
    assert constrained > 0, result.text  # else the test would check nothing
    assert on_graph == constrained, result.text
    assert parse_response(result.text, table).sequences


def _on_graph_pairs(fmt: LineFormat, text: str) -> tuple[int, int]:
    """Within-line behaviour pairs of ``text`` on the GSS graph, of those where the graph constrains."""
    on_graph = constrained = 0
    for line in [line for line in text.split("\n")[:-1] if line]:
        codes = [int(b.split(" ")[2]) for b in line.split(";")]
        for prev, code in itertools.pairwise(codes):
            allowed = fmt.allowed_codes(prev)
            if allowed is not None:
                constrained += 1
                on_graph += code in allowed
    return on_graph, constrained


async def test_a_large_graph_bonus_moves_the_output_onto_the_gss_edges() -> None:
    prompt, table = small_prompt("night")  # the household's own pairs, so the graph constrains
    vocab = load_vocabulary(FR)
    raw = [s.seq for s in read_sequences(FR / "paper" / "winter" / "split_trn.jsonl")][:200]
    successors, free = gss_successors([to_behaviours(seq, vocab) for seq in raw], table)
    plain = replace(prompt.format, max_lines=3)
    soft = plain.with_graph(successors, free, bonus=8.0)
    llm = backend()
    try:
        texts = [
            (await llm.generate(GenerationRequest(prompt.text, fmt, max_tokens=90, seed=1))).text
            for fmt in (plain, soft)
        ]
    finally:
        await llm.aclose()
    (plain_on, plain_pairs), (soft_on, soft_pairs) = (_on_graph_pairs(soft, text) for text in texts)
    assert plain_pairs and soft_pairs, texts
    assert soft_on / soft_pairs > plain_on / plain_pairs, texts  # same seed, bonus the only change
    assert soft_on / soft_pairs >= 0.9, texts
    assert parse_response(texts[1], table).sequences


async def test_gbnf_decoding_through_llama_grammar_is_parseable() -> None:
    prompt, table = small_prompt()
    # GBNF cannot say "time goes forward" (the automaton and the parser check it): accept any order here
    fmt = LineFormat(n_codes=len(table), max_lines=1, max_behaviours=3, max_span_hours=None)
    llm = backend(constraint="gbnf")
    try:
        result = await llm.generate(GenerationRequest(prompt.text, fmt, max_tokens=24, seed=1))
    finally:
        await llm.aclose()
    assert result.constraint == "gbnf"
    assert fmt.accepts(result.text), result.text  # the grammar ended the output after one whole line
    assert parse_response(result.text, table).lines == 1


async def test_cancelling_stops_generation_and_the_backend_stays_usable() -> None:
    prompt, table = small_prompt()
    fmt = LineFormat(n_codes=len(table), max_lines=50)
    llm = backend()
    try:
        await llm.generate(GenerationRequest(prompt.text, fmt, max_tokens=2))  # prompt now in the KV cache
        task = asyncio.create_task(llm.generate(GenerationRequest(prompt.text, fmt, max_tokens=300)))
        await asyncio.sleep(1.5)  # decoding, not prompt processing (which is one uninterruptible call)
        started = time.perf_counter()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert time.perf_counter() - started < 2.0  # stopped at the next token, not after 300
        again = await llm.generate(GenerationRequest(prompt.text, prompt.format, max_tokens=20))
        assert again.completion_tokens > 0
    finally:
        await llm.aclose()
    with pytest.raises(LLMError, match="closed"):
        await llm.generate(GenerationRequest(prompt.text, prompt.format, max_tokens=5))


def test_reusing_the_prompt_prefix_matches_a_fresh_evaluation() -> None:
    """The KV cache of a shared prefix is kept; the next-token logits match a fresh context's (up to
    the rounding of a different batch split: llama.cpp is not bitwise batch-invariant)."""
    prompt, _table = small_prompt()
    other = prompt.text.replace("week 1", "week 2")
    cached = LocalModel(LlamaCppConfig(model_path(), n_threads=1, n_ctx=N_CTX, reuse_prefix=True))
    fresh = LocalModel(LlamaCppConfig(model_path(), n_threads=1, n_ctx=N_CTX, reuse_prefix=False))
    try:
        first, second = (cached.llm.tokenize(text.encode()) for text in (prompt.text, other))
        cached._prepare(first, 10)
        started = time.perf_counter()
        cached._prepare(second, 10)
        reused_seconds = time.perf_counter() - started
        reused = cached._last_logits().copy()
        started = time.perf_counter()
        fresh._prepare(second, 10)
        fresh_seconds = time.perf_counter() - started
        alone = fresh._last_logits().copy()
    finally:
        cached.close()
        fresh.close()
    assert np.corrcoef(reused, alone)[0, 1] > 0.99
    # near-ties may swap places between builds (SIMD width): same best token, same top five but one
    assert np.argmax(reused) == np.argmax(alone)
    assert len(set(np.argsort(-reused)[:5].tolist()) & set(np.argsort(-alone)[:5].tolist())) >= 4
    assert reused_seconds < fresh_seconds / 3  # only the tail after "week " was evaluated again


async def test_a_prompt_longer_than_the_context_is_an_error() -> None:
    prompt, _table = small_prompt()
    llm = backend()
    try:
        with pytest.raises(LLMError, match="exceed n_ctx"):
            await llm.generate(GenerationRequest(prompt.text * 3, prompt.format, max_tokens=10))
    finally:
        await llm.aclose()


def test_a_missing_model_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(LLMError, match="model file not found"):
        LocalModel(LlamaCppConfig(tmp_path / "missing.gguf"))


async def test_the_synthesis_stages_compose_into_a_short_adaptation_run() -> None:
    """The call sequence ``habitus bench adapt`` will use, minus retraining: SSC -> GSS -> prompt
    (model tokenizer) -> in-process LLM -> parse/validate -> TOF -> fidelity and privacy reports."""
    vocab = load_vocabulary(FR)
    raw = [s.seq for s in read_sequences(FR / "paper" / "winter" / "split_trn.jsonl")]
    behaviours = [to_behaviours(seq, vocab) for seq in raw]
    actions = [[b.action for b in seq] for seq in behaviours]
    # 1. SSC (bag-of-actions encoder until the TransAE encoder plugs in), grouped by weekday like SmartGen
    ssc = SemanticCompressor(BagOfActionsEncoder().fit(actions), SSCConfig(alpha=0.918))
    ssc.fit(actions, groups=[seq[0][0] for seq in raw])
    kept = [behaviours[i] for i in ssc.kept_indices_]
    # 2. device dictionary, code table, GSS hints over ALL sequences (frequency SSC dropped)
    shift = paper_shift("spring")
    table = build_code_table(
        DeviceDictionary.from_vocabulary(vocab, raw), usage_counts(behaviours), shift.emphasis_devices, 30
    )
    labels = {pair.action: table.code(pair) for pair in table.entries}
    hints = TransitionGraph().fit(actions).hints_json(lambda a: labels.get(str(a), "?"))
    # 3. prompts within the context window, counted by the model's tokenizer
    llm = backend()
    try:
        model = await llm.load()
        config = PromptConfig(
            n_ctx=N_CTX, max_new_tokens=96, max_sequences_per_chunk=10, sequences_per_response=3
        )
        prompts = build_prompts(kept, table, shift, hints, config=config, count=model.count_tokens)
        uncompressed = build_prompts(behaviours, table, shift, hints, config=config, count=model.count_tokens)
        assert total_prompt_tokens(prompts) < total_prompt_tokens(uncompressed)
        # 4. generate (one request here) and 5. parse + validate
        first = prompts[0]
        result = await llm.generate(GenerationRequest(first.text, first.format, max_tokens=96, seed=11))
    finally:
        await llm.aclose()
    parsed = parse_response(result.text, table, week=first.week)
    assert parsed.passed, result.text  # the automaton makes every complete line valid
    synthetic = parsed.sequences
    # 6. TOF (Markov loss until TransAE plugs in) and 7. reports
    kept_synthetic = TwoStageOutlierFilter(MarkovLossModel).filter([[b.action for b in s] for s in synthetic])
    assert 1 <= len(kept_synthetic) <= len(synthetic)
    fidelity = fidelity_report(synthetic, behaviours)
    assert 0.0 <= fidelity.jsd_action <= 1.0 and 0.0 <= fidelity.ks_hour <= 1.0
    shown = [behaviour_tokens(s) for s in kept]
    privacy = privacy_report([behaviour_tokens(s) for s in synthetic], shown)
    assert 0.0 <= privacy.copy_rate <= privacy.near_copy_rate <= 1.0
