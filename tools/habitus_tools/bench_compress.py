"""``habitus bench compress``: SmartGen Table 9 — how much SSC / SPPC shrink the synthesis prompts.

For every shift of a dataset, compresses the paper's original-context TSS split (``paper/<orig>/
split_trn.jsonl``) with SSC (alpha from the reference implementation, grouped by weekday), SSC at the
alpha of the context-budget rule (the largest whose representatives fit one prompt; the synthesis
pipeline's default) and SPPC (held-out reconstruction error, 5 folds), builds the synthesis prompts
of one week for the full and the compressed sets, and counts their tokens with the model's own
tokenizer. Printed next to the paper's Table 9 (its reduction rate and saved tokens come from GPT-4o
prompts and a different prompt, so only the direction and rough size compare).

Until the TransAE encoder is available (issue 3), SSC uses the bag-of-actions encoder and SPPC the
Markov sequence model: both deterministic baselines; pass ``--encoder`` when more exist.
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from habitus_engine.behaviour import Sequence as BehaviourSequence
from habitus_engine.compress import (
    BagOfActionsEncoder,
    PatternPerceptionCompressor,
    SemanticCompressor,
    SPPCConfig,
    SSCConfig,
)
from habitus_engine.datasets import load_vocabulary, read_sequences, to_behaviours
from habitus_engine.llm.model_file import default_model_path
from habitus_engine.llm.tokens import LlamaTokenCounter
from habitus_engine.outliers import MarkovLossModel
from habitus_engine.prompt import PromptConfig, SynthesisPrompt, build_prompts, gss_hints, total_prompt_tokens
from habitus_engine.shifts import paper_shift
from habitus_engine.synth_parse import DeviceDictionary, build_code_table, usage_counts

DEFAULT_DATASET = Path(__file__).resolve().parents[2].parent / "shared" / "datasets" / "smartthings" / "fr"
ORIGINAL = {"spring": "winter", "night": "daytime", "multiple": "single"}
DEFAULT_ALPHA = 0.915


def register(benchmarks: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``habitus bench compress``."""
    parser = benchmarks.add_parser(
        "compress", help="SSC/SPPC reduction and prompt tokens (Table 9)", description=__doc__
    )
    parser.add_argument(
        "--dataset", type=Path, default=DEFAULT_DATASET, help="dataset directory (default: FR)"
    )
    parser.add_argument("--model", type=Path, help="GGUF whose tokenizer counts (default: Gemma 3 270M)")
    parser.add_argument("--keep-ratio", type=float, default=0.1, help="SPPC: share of sequences kept")
    parser.add_argument("--codes", type=int, default=60, help="size of the prompt's code table")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.set_defaults(func=run)


def _paper(dataset: Path) -> dict[str, Any]:
    path = dataset.parent / "paper_results.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def _prompts(sequences: list[BehaviourSequence], context: dict[str, Any]) -> list[SynthesisPrompt]:
    return build_prompts(
        sequences,
        context["table"],
        context["shift"],
        context["hints"],
        config=PromptConfig(),
        count=context["count"],
    )


def _tokens(sequences: list[BehaviourSequence], context: dict[str, Any]) -> int:
    return total_prompt_tokens(_prompts(sequences, context))


def _setting(
    dataset: Path, env: str, count: LlamaTokenCounter, args: argparse.Namespace, paper: dict[str, Any]
) -> dict[str, Any]:
    vocab = load_vocabulary(dataset)
    raw = [s.seq for s in read_sequences(dataset / "paper" / ORIGINAL[env] / "split_trn.jsonl")]
    behaviours = [to_behaviours(seq, vocab) for seq in raw]
    actions = [[b.action for b in seq] for seq in behaviours]
    shift = paper_shift(env)
    table = build_code_table(
        DeviceDictionary.from_vocabulary(vocab, raw),
        usage_counts(behaviours),
        shift.emphasis_devices,
        args.codes,
    )
    context = {"table": table, "shift": shift, "hints": gss_hints(behaviours, table), "count": count}
    settings = (
        paper.get("repo_settings", {}).get("alpha_and_ad_percentile", {}).get(vocab.name, {}).get(env, {})
    )
    alpha = float(settings.get("alpha", DEFAULT_ALPHA))
    started = time.perf_counter()
    ssc = SemanticCompressor(BagOfActionsEncoder().fit(actions), SSCConfig(alpha)).fit(
        actions, groups=[s[0][0] for s in raw]
    )
    ssc_seconds = time.perf_counter() - started
    started = time.perf_counter()
    budget = SemanticCompressor(BagOfActionsEncoder().fit(actions)).fit_to_budget(
        actions,
        lambda kept: len(_prompts([behaviours[i] for i in kept], context)) <= 1,
        groups=[s[0][0] for s in raw],
    )
    budget_seconds = time.perf_counter() - started
    started = time.perf_counter()
    sppc = PatternPerceptionCompressor(MarkovLossModel, SPPCConfig(keep_ratio=args.keep_ratio)).fit(actions)
    sppc_seconds = time.perf_counter() - started
    full = _tokens(behaviours, context)
    result: dict[str, Any] = {
        "sequences": len(behaviours),
        "prompt_tokens_uncompressed": full,
        "alpha": alpha,
        "budget_alpha": budget.alpha_,
    }
    for name, kept, seconds in (
        ("ssc", ssc.kept_indices_, ssc_seconds),
        ("ssc_budget", budget.kept_indices_, budget_seconds),
        ("sppc", sppc.kept_indices_, sppc_seconds),
    ):
        tokens = _tokens([behaviours[i] for i in kept], context)
        result[name] = {
            "kept": len(kept),
            "reduction_rate": 1 - len(kept) / len(behaviours),
            "prompt_tokens": tokens,
            "tokens_saved": full - tokens,
            "token_reduction": 1 - tokens / full if full else 0.0,
            "seconds": seconds,
        }
    result["paper"] = paper.get("ssc_table9", {}).get(vocab.name, {}).get(env, {})
    return result


def run(args: argparse.Namespace) -> int:
    """Print one row per shift; 0 when every setting saves >= 90% of prompt tokens with SSC or SPPC."""
    count = LlamaTokenCounter(args.model or default_model_path())
    paper = _paper(args.dataset)
    results = {env: _setting(args.dataset, env, count, args, paper) for env in ORIGINAL}
    print(
        f"{'setting':<22} {'seqs':>5} {'tokens':>7} | {'SSC kept':>8} {'red.':>6} {'tokens':>7}"
        f" {'saved':>6} | {'budget a':>8} {'kept':>5} {'saved':>6} | {'SPPC kept':>9} {'tokens':>7}"
        f" {'saved':>6} | paper red. / saved"
    )
    for env, r in results.items():
        s, b, p, ref = r["ssc"], r["ssc_budget"], r["sppc"], r["paper"]
        print(
            f"{ORIGINAL[env] + '->' + env:<22} {r['sequences']:>5} {r['prompt_tokens_uncompressed']:>7} | "
            f"{s['kept']:>8} {s['reduction_rate']:>6.1%} {s['prompt_tokens']:>7}"
            f" {s['token_reduction']:>6.1%} | "
            f"{r['budget_alpha']:>8.2f} {b['kept']:>5} {b['token_reduction']:>6.1%} | "
            f"{p['kept']:>9} {p['prompt_tokens']:>7} {p['token_reduction']:>6.1%} | "
            f"{ref.get('reduction_rate_pct', '?')}% / {ref.get('saved_tokens_k', '?')}K"
        )
    summary = {
        "benchmark": "compress",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "dataset": str(args.dataset),
        "results": results,
    }
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    best = [
        max(r[name]["token_reduction"] for name in ("ssc", "ssc_budget", "sppc")) for r in results.values()
    ]
    return 0 if min(best) >= 0.9 else 1
