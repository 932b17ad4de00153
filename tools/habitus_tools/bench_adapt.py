"""``habitus bench adapt``: Habitus's own context adaptation end to end, next to ``bench models``' sets.

The SmartGen pipeline on the original context (``paper/<winter|daytime|single>/split_trn``); stages
1-6 are the engine's ``adapt_pipeline`` (the same code the worker's ``synthesize`` job runs for a home):

1. **TSS** split of the original-context sequences (``segment.split_sequences``);
2. **SSC** (``compress.SemanticCompressor``) with the TransAE encoder trained on the distinct sequences
   (``--ssc-encoder bag``: the bag-of-actions stand-in), grouped by weekday (``--ssc-grouping all``: one
   group) at ``--ssc-alpha`` or, by default, at the alpha of the context-budget rule (the largest
   whose representatives fit ``--ssc-prompts`` prompts of one week; no test data involved);
3. device dictionary + code table, **GSS** hints (``graph.TransitionGraph``) over all sequences;
4. prompts for the paper's shift (``shifts.paper_shift``), counted by the model's tokenizer;
5. generation (in-process llama.cpp with the token automaton, or ``--server`` over HTTP), parsing and
   validation (Pass@1);
6. **TOF** (``outliers.TwoStageOutlierFilter``) on the TransAE reconstruction loss (``--tof-model
   markov``: the Markov stand-in); stage 2 keeps an outlier if the held-out inliers' next-action or
   reconstruction loss does not rise (``--tof-utility reconstruction``: the paper's test alone,
   ``next_action``: both tests); by default (``per_task``) TOF filters once per downstream task;
7. TransAE retrained on the sequences TOF kept by the reconstruction test, SASRec on those it kept by
   the next-action test (one set for both unless ``per_task``), evaluated exactly like ``bench models``.

``--seed`` seeds the whole run: the LLM's sampling (request n: seed + n), the SSC and TOF TransAEs,
TOF's inlier split and the retrained models (the BP test's sampled negatives stay fixed);
``--temperature`` is the LLM's sampling temperature.

``--ablate`` switches stages off (tss: no split; ssc: every sequence is shown; gss: no hints; tof: keep
every parsed sequence). The JSON is ``bench models``' document with a ``habitus_synthetic`` entry in
``results`` and a ``synthesis`` object.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from habitus_engine.adapt_pipeline import (
    STAGES,
    TOF_RESCUE_TRIALS,
    LLMSettings,
    SSCEncoder,
    SSCGrouping,
    SynthesisConfig,
    SynthesisError,
    TOFModel,
    TOFUtility,
    synthesize_raw,
)
from habitus_engine.datasets import RawSequence, Vocabulary, load_vocabulary, read_sequences
from habitus_engine.llm.base import DEFAULT_TEMPERATURE
from habitus_engine.shifts import paper_shift
from habitus_engine.transae_sequences import SequenceModelConfig
from habitus_tools.bench_models import SHIFTS, evaluate, format_table, load_shift

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
    weeks: int | None = None  # synthetic weeks; None: as many as max_prompts allows
    # llama.cpp threads. 1 = the product's (adaptation_job.py keeps a core for HA); on a loaded 2-core
    # box 2 threads wait on each other whenever one is descheduled (FR spring: > 18 min vs 6 min).
    n_threads: int = 1
    ssc_encoder: SSCEncoder = "transae"
    ssc_grouping: SSCGrouping = "weekday"
    ssc_alpha: float | None = None  # None: the context-budget rule
    ssc_prompts: int = 1
    tof_model: TOFModel = "transae"
    seed: int = SEED  # LLM sampling, SSC / TOF TransAEs, TOF's split and the retrained models
    temperature: float = DEFAULT_TEMPERATURE  # LLM sampling temperature (0: greedy)
    tof_trials: int | None = TOF_RESCUE_TRIALS  # TOF stage-2 refits at most; None: every outlier
    tof_utility: TOFUtility = "per_task"  # AD: reconstruction test, BP: next-action; or one set for both

    def synthesis(self) -> SynthesisConfig:
        """The engine pipeline's configuration for this run (the paper's shift, N_CTX, ...)."""
        llm = LLMSettings(
            backend="server" if self.server else "local",
            model_path=self.model,
            server_url=self.server,
            n_threads=self.n_threads,
            n_ctx=N_CTX,
        )
        return SynthesisConfig(
            shift=paper_shift(self.shift),
            llm=llm,
            weeks=self.weeks,
            max_prompts=self.max_prompts,
            ablate=self.ablate,
            seed=self.seed,
            temperature=self.temperature,
            max_new_tokens=MAX_NEW_TOKENS,
            max_codes=MAX_CODES,
            ssc_alpha=self.ssc_alpha,
            ssc_prompts=self.ssc_prompts,
            ssc_encoder=self.ssc_encoder,
            ssc_grouping=self.ssc_grouping,
            tof_model=self.tof_model,
            sequence_model=SequenceModelConfig(seed=self.seed),
            tof_trials=self.tof_trials,
            tof_utility=self.tof_utility,
        )


def synthesize(
    config: AdaptConfig, vocab: Vocabulary
) -> tuple[list[RawSequence], list[RawSequence], dict[str, Any]]:
    """Stages 1-6 on the original context's training split: the kept synthetic sequences (dataset
    form; TOF's AD set, then its BP set) and the ``synthesis`` report."""
    original = SHIFTS[config.shift][0]
    raw = [s.seq for s in read_sequences(config.dataset / "paper" / original / "split_trn.jsonl")]
    try:
        return synthesize_raw(raw, vocab, config.synthesis())
    except SynthesisError as err:
        raise ValueError(str(err)) from err


def run(config: AdaptConfig, protocols: list[str], scale: float, sets: list[str] | None) -> dict[str, Any]:
    """The whole benchmark: synthesis, then ``bench models``' training and evaluation."""
    data = load_shift(config.dataset, config.shift)
    vocab = load_vocabulary(config.dataset)
    kept_ad, kept_bp, report = synthesize(config, vocab)
    if not kept_ad or not kept_bp:
        raise ValueError("the model wrote no valid sequence; nothing to train on")
    training = {k: v for k, v in data.training.items() if sets is None or k in sets}
    training["habitus_synthetic"] = (kept_ad, kept_bp)
    doc: dict[str, Any] = evaluate(
        replace(data, training=training),
        protocols,
        scale,
        log=lambda m: print(m, flush=True),
        seed=config.seed,
    )
    doc["synthesis"] = report
    doc["settings"]["llm_threads"] = None if config.server else config.n_threads
    doc["settings"]["llm_temperature"] = config.temperature
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
    parser.add_argument(
        "--weeks", type=int, help="synthetic weeks to ask for (default: as many as --max-prompts allows)"
    )
    parser.add_argument("--protocol", choices=["paper", "product", "both"], default="both")
    parser.add_argument(
        "--sets",
        nargs="*",
        choices=["original", "paper_synthetic", "oracle"],
        help="also train these bench models sets (default: all the dataset has)",
    )
    parser.add_argument(
        "--ssc-encoder", choices=["transae", "bag"], default="transae", help="SSC encoder (bag: stand-in)"
    )
    parser.add_argument(
        "--ssc-grouping", choices=["weekday", "all"], default="weekday", help="SSC groups (SmartGen: weekday)"
    )
    parser.add_argument(
        "--ssc-alpha",
        type=float,
        help="fixed SSC cosine threshold (the reference: 0.905-0.92); default: the context-budget rule",
    )
    parser.add_argument(
        "--ssc-prompts",
        type=int,
        default=1,
        help="budget rule: the compressed sequences fit this many prompts per week (default 1)",
    )
    parser.add_argument(
        "--tof-model", choices=["transae", "markov"], default="transae", help="TOF loss (markov: stand-in)"
    )
    parser.add_argument(
        "--tof-trials",
        type=_trials,
        default=TOF_RESCUE_TRIALS,
        help=f"TOF stage 2 tests this many outliers at most; 'all': every one (default {TOF_RESCUE_TRIALS})",
    )
    parser.add_argument(
        "--tof-utility",
        choices=["per_task", "next_action", "reconstruction"],
        default="per_task",
        help="TOF stage 2 keeps an outlier if this held-out loss does not rise: next_action (or "
        "reconstruction) or reconstruction alone (the paper's); per_task (default): TransAE trains on "
        "the reconstruction test's set, SASRec on the next-action test's",
    )
    parser.add_argument(
        "--threads", type=int, default=1, help="llama.cpp threads in process (default 1, as the hub)"
    )
    parser.add_argument("--epoch-scale", type=float, default=1.0, help="multiply every epoch budget")
    parser.add_argument(
        "--seed",
        type=int,
        default=SEED,
        help=f"seeds the LLM sampling, SSC/TOF and the retrained models (default {SEED})",
    )
    parser.add_argument(
        "--temperature",
        type=float,
        default=DEFAULT_TEMPERATURE,
        help=f"LLM sampling temperature, 0 = greedy (default {DEFAULT_TEMPERATURE:g})",
    )
    parser.set_defaults(func=_handle)


def _trials(text: str) -> int | None:
    """``--tof-trials``: a count >= 0, or ``all`` (None)."""
    if text == "all":
        return None
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"a count >= 0 or 'all', not {text!r}")
    return int(text)


def _handle(args: argparse.Namespace) -> int:
    ablate = frozenset(s.strip() for s in args.ablate.split(",") if s.strip())
    weeks = 1 if args.weeks is None else args.weeks
    counts = (args.max_prompts, weeks, args.ssc_prompts, args.threads)
    if not ablate <= set(STAGES) or min(counts) < 1 or args.temperature < 0:
        print(
            f"habitus bench adapt: --ablate takes {','.join(STAGES)}; --max-prompts, --weeks, "
            "--ssc-prompts, --threads >= 1; --temperature >= 0",
            file=sys.stderr,
        )
        return 2
    config = AdaptConfig(
        args.dataset,
        args.shift,
        args.model,
        args.server,
        ablate,
        args.max_prompts,
        args.weeks,
        n_threads=args.threads,
        ssc_encoder=args.ssc_encoder,
        ssc_grouping=args.ssc_grouping,
        ssc_alpha=args.ssc_alpha,
        ssc_prompts=args.ssc_prompts,
        tof_model=args.tof_model,
        seed=args.seed,
        temperature=args.temperature,
        tof_trials=args.tof_trials,
        tof_utility=args.tof_utility,
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
