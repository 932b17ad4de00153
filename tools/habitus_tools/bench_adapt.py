"""``habitus bench adapt``: Habitus's own context adaptation end to end, next to ``bench models``' sets.

The SmartGen pipeline on the original context (``paper/<winter|daytime|single>/split_trn``):

1. **TSS** split of the original-context sequences (``segment.split_sequences``);
2. **SSC** (``compress.SemanticCompressor``) with the deterministic bag-of-actions encoder (the TransAE
   encoder is not plugged in here yet), grouped by weekday;
3. device dictionary + code table, **GSS** hints (``graph.TransitionGraph``) over all sequences;
4. prompts for the paper's shift (``shifts.paper_shift``), counted by the model's tokenizer;
5. generation (in-process llama.cpp with the token automaton, or ``--server`` over HTTP), parsing and
   validation (Pass@1);
6. **TOF** (``outliers.TwoStageOutlierFilter`` over a Markov loss model, not yet TransAE);
7. TransAE / SASRec retrained on the kept sequences and evaluated exactly like ``bench models``.

``--ablate`` switches stages off (tss: no split; ssc: every sequence is shown; gss: no hints; tof: keep
every parsed sequence). The JSON is ``bench models``' document with a ``habitus_synthetic`` entry in
``results`` and a ``synthesis`` object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from habitus_engine.behaviour import Behaviour
from habitus_engine.compress import BagOfActionsEncoder, SemanticCompressor, SSCConfig
from habitus_engine.datasets import (
    RawSequence,
    Vocabulary,
    load_vocabulary,
    read_sequences,
    to_behaviours,
    to_raw,
)
from habitus_engine.fidelity import behaviour_tokens, fidelity_report, privacy_report
from habitus_engine.graph import TransitionGraph
from habitus_engine.llm.base import GenerationRequest
from habitus_engine.llm.http import HttpBackend, HttpBackendConfig
from habitus_engine.llm.local import LlamaCppBackend, LlamaCppConfig
from habitus_engine.llm.model_file import default_model_path
from habitus_engine.outliers import MarkovLossModel, TwoStageOutlierFilter
from habitus_engine.prompt import (
    PromptConfig,
    SynthesisPrompt,
    build_prompts,
    estimate_tokens,
    total_prompt_tokens,
)
from habitus_engine.segment import split_sequences
from habitus_engine.shifts import paper_shift
from habitus_engine.synth_parse import (
    CodeTable,
    DeviceDictionary,
    ParsedResponse,
    build_code_table,
    parse_response,
    pass_at_1,
    usage_counts,
)
from habitus_tools.bench_models import SHIFTS, evaluate, format_table, load_shift

STAGES = ("tss", "ssc", "gss", "tof")
N_CTX = 2048
MAX_NEW_TOKENS = 256
MAX_CODES = 40
SEED = 2024


@dataclass(frozen=True, slots=True)
class AdaptConfig:
    """One adaptation run."""

    dataset: Path
    shift: str
    model: Path | None = None
    server: str | None = None
    ablate: frozenset[str] = frozenset()
    max_prompts: int = 4
    weeks: int = 1  # synthetic weeks asked for (build_prompts repeats the chunks per week)
    n_threads: int = 2


@dataclass(frozen=True, slots=True)
class Prepared:
    """Stages 1-4: what the LLM is asked."""

    behaviours: list[list[Behaviour]]
    shown: list[list[Behaviour]]
    table: CodeTable
    prompts: list[SynthesisPrompt]
    uncompressed_tokens: int


def _original(dataset: Path, shift: str, vocab: Vocabulary, tss: bool) -> list[list[Behaviour]]:
    """Original-context sequences as behaviours, TSS-split unless ablated."""
    original = SHIFTS[shift][0]
    raw = [s.seq for s in read_sequences(dataset / "paper" / original / "split_trn.jsonl")]
    behaviours = [to_behaviours(seq, vocab) for seq in raw]
    if not tss:
        return behaviours
    return [piece for seq in behaviours for piece in split_sequences(seq) if piece]


def prepare(config: AdaptConfig, vocab: Vocabulary, count: Any) -> Prepared:
    """TSS -> SSC -> code table + GSS hints -> prompts (stages 1-4)."""
    behaviours = _original(config.dataset, config.shift, vocab, "tss" not in config.ablate)
    actions = [[b.action for b in seq] for seq in behaviours]
    shown = behaviours
    if "ssc" not in config.ablate:
        ssc = SemanticCompressor(BagOfActionsEncoder().fit(actions), SSCConfig(alpha=0.918))
        ssc.fit(actions, groups=[int(seq[0].time // 24) % 7 for seq in behaviours])
        shown = [behaviours[i] for i in ssc.kept_indices_]
    shift = paper_shift(config.shift)
    raw = [to_raw(seq, vocab) for seq in behaviours]
    table = build_code_table(
        DeviceDictionary.from_vocabulary(vocab, raw),
        usage_counts(behaviours),
        shift.emphasis_devices,
        MAX_CODES,
    )
    hints = "{}"
    if "gss" not in config.ablate:
        labels = {pair.action: table.code(pair) for pair in table.entries}
        hints = TransitionGraph().fit(actions).hints_json(lambda a: labels.get(str(a), "?"))
    prompt_config = PromptConfig(n_ctx=N_CTX, max_new_tokens=MAX_NEW_TOKENS, sequences_per_response=6)
    prompts = build_prompts(shown, table, shift, hints, weeks=config.weeks, config=prompt_config, count=count)
    uncompressed = build_prompts(
        behaviours, table, shift, hints, weeks=config.weeks, config=prompt_config, count=count
    )
    return Prepared(behaviours, shown, table, prompts, total_prompt_tokens(uncompressed))


async def _generate(config: AdaptConfig, vocab: Vocabulary) -> tuple[Prepared, list[Any]]:
    """Stages 1-5 with the in-process model or the HTTP server; returns the raw generation results."""
    if config.server:
        backend: Any = HttpBackend(HttpBackendConfig(config.server))
        count: Any = estimate_tokens
    else:
        path = config.model or default_model_path()
        backend = LlamaCppBackend(LlamaCppConfig(path, n_threads=config.n_threads, n_ctx=N_CTX))
    try:
        if not config.server:
            count = (await backend.load()).count_tokens
        prepared = prepare(config, vocab, count)
        results = []
        for n, prompt in enumerate(prepared.prompts[: config.max_prompts]):
            request = GenerationRequest(prompt.text, prompt.format, max_tokens=MAX_NEW_TOKENS, seed=SEED + n)
            results.append((prompt, await backend.generate(request)))
    finally:
        await backend.aclose()
    return prepared, results


def synthesize(config: AdaptConfig, vocab: Vocabulary) -> tuple[list[RawSequence], dict[str, Any]]:
    """Stages 1-6: the kept synthetic sequences (dataset form) and the ``synthesis`` report."""
    started = time.monotonic()
    prepared, results = asyncio.run(_generate(config, vocab))
    parsed: list[ParsedResponse] = [
        parse_response(result.text, prepared.table, week=prompt.week) for prompt, result in results
    ]
    synthetic = [seq for p in parsed for seq in p.sequences]
    kept = synthetic
    if "tof" not in config.ablate and len(synthetic) >= 2:
        tof = TwoStageOutlierFilter(MarkovLossModel).fit([[b.action for b in s] for s in synthetic])
        kept = [seq for seq, keep in zip(synthetic, tof.kept_mask_, strict=True) if keep]
    completion = sum(r.completion_tokens for _p, r in results)
    decode = sum(r.decode_seconds or r.seconds for _p, r in results)
    report: dict[str, Any] = {
        "pass_at_1": pass_at_1(parsed),
        "prompts_total": len(prepared.prompts),
        "prompts_sent": len(results),
        "prompt_tokens": total_prompt_tokens(prepared.prompts),
        "prompt_tokens_uncompressed": prepared.uncompressed_tokens,
        "prompt_tokens_sent": sum(r.prompt_tokens for _p, r in results),
        "sequences_original": len(prepared.behaviours),
        "sequences_shown": len(prepared.shown),
        "sequences_generated": len(synthetic),
        "sequences_kept": len(kept),
        "completion_tokens": completion,
        "tokens_per_second": round(completion / decode, 2) if decode > 0 else 0.0,
        "weeks": config.weeks,
        "ablate": sorted(config.ablate),
        "backend": config.server or str(config.model or "default Gemma 3 270M"),
        "encoder": "bag-of-actions (SSC), Markov loss (TOF)",
    }
    if synthetic:
        report["jsd_action"] = fidelity_report(synthetic, prepared.behaviours).jsd_action
        shown_tokens = [behaviour_tokens(s) for s in prepared.shown]
        report["copy_rate"] = privacy_report([behaviour_tokens(s) for s in synthetic], shown_tokens).copy_rate
    else:
        report["jsd_action"] = report["copy_rate"] = None
    report["wall_seconds"] = round(time.monotonic() - started, 1)
    return [to_raw(seq, vocab) for seq in kept], report


def run(config: AdaptConfig, protocols: list[str], scale: float, sets: list[str] | None) -> dict[str, Any]:
    """The whole benchmark: synthesis, then ``bench models``' training and evaluation."""
    data = load_shift(config.dataset, config.shift)
    vocab = load_vocabulary(config.dataset)
    kept, report = synthesize(config, vocab)
    if not kept:
        raise ValueError("the model wrote no valid sequence; nothing to train on")
    training = {k: v for k, v in data.training.items() if sets is None or k in sets}
    training["habitus_synthetic"] = (kept, kept)
    doc: dict[str, Any] = evaluate(
        replace(data, training=training), protocols, scale, log=lambda m: print(m, flush=True)
    )
    doc["synthesis"] = report
    return doc


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``habitus bench adapt``."""
    parser = subparsers.add_parser(
        "adapt",
        help="Habitus's own synthesis (TSS, SSC, GSS, LLM, TOF) retrained and evaluated like bench models",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--dataset", required=True, type=Path, help="dataset directory (e.g. .../fr)")
    parser.add_argument("--shift", required=True, choices=sorted(SHIFTS), help="context shift")
    parser.add_argument("--model", type=Path, help="GGUF file (default: Gemma 3 270M)")
    parser.add_argument("--server", help="OpenAI-compatible server URL instead of the in-process model")
    parser.add_argument(
        "--ablate", default="", help=f"comma-separated stages to switch off: {','.join(STAGES)}"
    )
    parser.add_argument("--json", type=Path, help="write the raw figures here")
    parser.add_argument("--max-prompts", type=int, default=4, help="LLM requests at most (default 4)")
    parser.add_argument("--weeks", type=int, default=1, help="synthetic weeks to ask for (default 1)")
    parser.add_argument("--protocol", choices=["paper", "product", "both"], default="both")
    parser.add_argument(
        "--sets",
        nargs="*",
        choices=["original", "paper_synthetic", "oracle"],
        help="also train these bench models sets (default: all the dataset has)",
    )
    parser.add_argument("--epoch-scale", type=float, default=1.0, help="multiply every epoch budget")
    parser.set_defaults(func=_handle)


def _handle(args: argparse.Namespace) -> int:
    ablate = frozenset(s.strip() for s in args.ablate.split(",") if s.strip())
    if not ablate <= set(STAGES) or args.max_prompts < 1 or args.weeks < 1:
        print(
            f"habitus bench adapt: --ablate takes {','.join(STAGES)}; --max-prompts, --weeks >= 1",
            file=sys.stderr,
        )
        return 2
    config = AdaptConfig(
        args.dataset, args.shift, args.model, args.server, ablate, args.max_prompts, args.weeks
    )
    protocols = ["paper", "product"] if args.protocol == "both" else [args.protocol]
    try:
        doc = run(config, protocols, args.epoch_scale, args.sets)
    except (FileNotFoundError, ValueError) as err:
        print(f"habitus bench adapt: {err}", file=sys.stderr)
        return 2
    print(format_table(doc))
    print(json.dumps(doc["synthesis"], indent=1))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    return 0
