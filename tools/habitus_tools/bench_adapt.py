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

``--validation-ad`` trains and scores on no test set: it judges TOF's AD half on validation data
instead. Stages 1-5 run once (the report's ``ablate`` says tof); TOF (per task, as the product runs
it, on the same parsed sequences) then gives the set the reconstruction test keeps and the set the
next-action test keeps, and TransAE (each ``--protocol``) is retrained on those two, on every parsed
sequence (no TOF) and on a seeded random draw of as many as the reconstruction test keeps (the
control). Each is scored on a validation AD set: normal = the TSS pieces of the new context's
``context/<shift>/vld`` minus any sequence of the test source (as ``bench models``' oracle) and minus
any piece of ``paper/<shift>/split_test`` (those files are read only to drop them); anomalies = one
copy of each normal piece per ``bench denoise`` injection kind (device, hour, burst, swap; statistics
from the normal pieces themselves, seed 2024 whatever ``--seed``), not the paper's anomaly recipe.
ROC AUC and F1 at the model's threshold, 1:1 per kind, averaged over kinds (``bench denoise``'s
``judge``). The JSON then has ``validation_ad`` instead of ``results``.

``--validation-bp`` (alone or with ``--validation-ad``: one synthesis for both) judges TOF's BP half
the same way: SASRec (each ``--protocol``, trained as ``bench models`` trains it) on the same four
sets and on the original context's ``split_trn`` (``original``: no adaptation, the baseline), scored
on the same normal validation pieces (their last item is the target, the rest its history; pieces
of fewer than two items are skipped) with ``bench models``' metrics: HR@10 / NDCG@10 against 100
sampled negatives (drawn with seed 2024 whatever ``--seed``) and with full ranking. The JSON then has
``validation_bp``.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

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
    tof_filter,
)
from habitus_engine.datasets import (
    RawSequence,
    Vocabulary,
    load_vocabulary,
    read_raw_sequences,
    read_sequences,
    to_behaviours,
    to_raw,
)
from habitus_engine.injection import inject
from habitus_engine.llm.base import DEFAULT_TEMPERATURE
from habitus_engine.models import FieldSizes
from habitus_engine.prompt import GRAPH_BONUS_FORMS, GraphBonusForm
from habitus_engine.shifts import paper_shift
from habitus_engine.transae_sequences import SequenceModelConfig
from habitus_tools.bench_denoise import SEED as INJECTION_SEED
from habitus_tools.bench_denoise import Home, device_action_pairs, judge
from habitus_tools.bench_models import (
    DEFAULT_PAPER_PERCENTILE,
    SHIFTS,
    ShiftData,
    evaluate,
    fit_ad_paper,
    fit_ad_product,
    format_table,
    load_shift,
    oracle_pieces,
    paper_reference,
    run_bp_paper,
    run_bp_product,
)

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
    graph_decoding: bool = False  # GSS top-k successors as a decoding constraint (in process only)
    graph_bonus: float = 0.0  # ... or preferred by this many nats on the logits (soft; 0 = off)
    graph_bonus_form: GraphBonusForm = "flat"  # the soft bonus per edge: flat, no_self_loops, weighted

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
            graph_decoding=self.graph_decoding,
            graph_bonus=self.graph_bonus,
            graph_bonus_form=self.graph_bonus_form,
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


# --- --validation-ad: TOF's AD half judged without a test set -----------------------------------------
# TOF's AD set, its BP set, every parsed sequence, and a seeded random draw of as many as the AD set
TOF_VARIANTS = ("reconstruction", "next_action", "none", "random")


def tof_variants(
    generated: list[RawSequence], vocab: Vocabulary, synthesis: SynthesisConfig
) -> tuple[dict[str, list[RawSequence]], dict[str, Any]]:
    """TOF per task (``tof_filter``, seeded as the pipeline seeds it) on every parsed sequence: the
    set the reconstruction test keeps (TransAE's in the product), the one the next-action test keeps
    (SASRec's), ``none`` (all of them) and ``random`` (the control: as many as the reconstruction
    test keeps, drawn with ``synthesis.seed``, in order); and the two stage-2 counts."""
    tof = tof_filter(
        [to_behaviours(s, vocab) for s in generated],
        True,
        synthesis.tof_model,
        synthesis.sequence_model,
        synthesis.tof_trials,
        utility="per_task",
    )
    sets = {
        "reconstruction": [to_raw(s, vocab) for s in tof.kept],
        "next_action": [to_raw(s, vocab) for s in tof.kept_bp],
        "none": list(generated),
    }
    draw = np.random.default_rng(synthesis.seed).choice(len(generated), len(tof.kept), replace=False)
    sets["random"] = [generated[i] for i in sorted(draw)]
    counts = {"tof": tof.counts(), "tof_bp": tof.bp.counts() if tof.bp else None, "tof_model": tof.model}
    return sets, counts


def validation_pieces(dataset: Path, shift: str, vocab: Vocabulary) -> list[RawSequence]:
    """The new context's ``vld`` TSS pieces minus the test source's sequences and the paper's test
    pieces: the normal pieces both validation halves score on (no test set in them)."""
    pieces = oracle_pieces(dataset, shift, vocab, splits=("vld",)) or []
    test_pieces = read_raw_sequences(dataset / "paper" / shift / "split_test.jsonl", missing_ok=True)
    paper_test = {tuple(s) for s in test_pieces}
    normal = [p for p in pieces if tuple(p) not in paper_test]
    if len(normal) < 2:
        raise ValueError(f"{dataset}/context/{shift}/vld.jsonl: fewer than 2 pieces outside the test sets")
    return normal


def validation_ad_set(dataset: Path, shift: str) -> Home:
    """The validation AD set (no test set in it): ``validation_pieces`` (normal), and ``bench
    denoise``'s injections into one copy of each per kind (anomalies; statistics from those pieces)."""
    vocab = load_vocabulary(dataset)
    sizes = FieldSizes(len(vocab.devices), len(vocab.actions))
    normal = validation_pieces(dataset, shift, vocab)
    anomalies = inject(normal, normal, device_action_pairs(dataset, normal), sizes, INJECTION_SEED)
    return Home(f"{dataset.name} {shift} vld", sizes, normal, normal, anomalies)


def judge_variants(
    sets: dict[str, list[RawSequence]],
    home: Home,
    percentile: float,
    shift: str,
    protocols: list[str],
    *,
    scale: float = 1.0,
    seed: int = SEED,
) -> dict[str, dict[str, Any]]:
    """TransAE retrained on each set as ``bench models`` trains it (``protocols``: paper, product),
    judged on ``home``'s normal and injected pieces (mean over kinds of AUC, F1 at its threshold)."""

    def paper(train: list[RawSequence]) -> dict[str, Any]:
        model = fit_ad_paper(train, home.sizes, shift, percentile=percentile, seed=seed, scale=scale)
        figures: dict[str, Any] = judge(home, model)
        return figures

    def product(train: list[RawSequence]) -> dict[str, Any]:
        figures: dict[str, Any] = judge(home, fit_ad_product(train, home.sizes, seed=seed, scale=scale)[0])
        return figures

    return _per_set(sets, protocols, paper, product)


def _per_set(
    sets: dict[str, list[RawSequence]],
    protocols: list[str],
    paper: Callable[[list[RawSequence]], dict[str, Any]],
    product: Callable[[list[RawSequence]], dict[str, Any]],
) -> dict[str, dict[str, Any]]:
    """``{set: {"n_train", "paper"?, "product"?}}``: each protocol's figures for each training set."""
    out: dict[str, dict[str, Any]] = {}
    for name, train in sets.items():
        entry: dict[str, Any] = {"n_train": len(train)}
        if "paper" in protocols:
            entry["paper"] = paper(train)
        if "product" in protocols:
            entry["product"] = product(train)
        out[name] = entry
    return out


def judge_bp_variants(
    sets: dict[str, list[RawSequence]],
    pieces: list[RawSequence],
    sizes: FieldSizes,
    shift: str,
    protocols: list[str],
    *,
    scale: float = 1.0,
    seed: int = SEED,
) -> dict[str, dict[str, Any]]:
    """TOF's BP half on validation: SASRec retrained on each set as ``bench models`` trains it
    (``protocols``: paper, product; ``seed``), scored on ``pieces`` (validation, no test set) with
    ``bench models``' HR@10 / NDCG@10, 1+100 sampled negatives (fixed seed) and full ranking."""
    # bench models' BP runs score ``test_normal``; here that field holds the validation pieces
    data = ShiftData(f"{shift} vld", shift, sizes, pieces, [], {}, DEFAULT_PAPER_PERCENTILE)
    return _per_set(
        sets,
        protocols,
        lambda train: run_bp_paper(train, data, scale, seed=seed),
        lambda train: run_bp_product(train, data, scale, seed=seed),
    )


def run_validation(
    config: AdaptConfig, protocols: list[str], scale: float, tasks: tuple[str, ...] = ("ad",)
) -> dict[str, Any]:
    """``--validation-ad`` / ``--validation-bp`` (``tasks``: ad, bp): one synthesis (stages 1-5),
    TOF's variants, TransAE and / or SASRec judged on the validation pieces."""
    vocab = load_vocabulary(config.dataset)
    home = validation_ad_set(config.dataset, config.shift) if "ad" in tasks else None
    pieces = home.normal if home else validation_pieces(config.dataset, config.shift, vocab)
    generated, _, report = synthesize(replace(config, ablate=config.ablate | {"tof"}), vocab)
    if len(generated) < 2:
        raise ValueError("the model wrote fewer than 2 valid sequences; nothing to filter")
    sets, counts = tof_variants(generated, vocab, config.synthesis())
    report |= counts | {
        "sequences_kept": len(sets["reconstruction"]),
        "sequences_kept_bp": len(sets["next_action"]),
    }
    percentile, _ = paper_reference(
        config.dataset.parent / "paper_results.json", config.dataset.name, config.shift
    )
    doc: dict[str, Any] = {"dataset": config.dataset.name, "shift": config.shift}
    if home:
        doc["validation_ad"] = {
            "normal": len(home.normal),
            "anomalies_per_kind": {kind: len(v) for kind, v in home.anomalies.items()},
            "variants": judge_variants(
                sets, home, percentile, config.shift, protocols, scale=scale, seed=config.seed
            ),
        }
    if "bp" in tasks:
        original = SHIFTS[config.shift][0]
        trn = read_raw_sequences(config.dataset / "paper" / original / "split_trn.jsonl")
        sizes = FieldSizes(len(vocab.devices), len(vocab.actions))
        doc["validation_bp"] = {
            "pieces": len(pieces),
            "variants": judge_bp_variants(
                {"original": trn} | sets,
                pieces,
                sizes,
                config.shift,
                protocols,
                scale=scale,
                seed=config.seed,
            ),
        }
    return doc | {
        "synthesis": report,
        "settings": {
            "protocols": protocols,
            "epoch_scale": scale,
            "seed": config.seed,
            "ad_percentile_paper": percentile,
        },
        "machine": f"{platform.machine()} {platform.system()}, python {platform.python_version()}",
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


def format_validation(doc: dict[str, Any]) -> str:
    """The ``--validation-ad`` table: AUC / F1 / FPR per TOF variant and protocol (means over kinds);
    and / or the ``--validation-bp`` one: HR@10 / NDCG@10 sampled (full ranking) per set and protocol."""
    lines: list[str] = []
    if "validation_ad" in doc:
        lines += _format_validation_ad(doc)
    if "validation_bp" in doc:
        val = doc["validation_bp"]
        first = next(iter(val["variants"].values()))
        cases = ", ".join(f"{p} {first[p]['n_test']}" for p in ("paper", "product") if p in first)
        lines += [
            f"{doc['dataset'].upper()} {doc['shift']} validation BP: {val['pieces']} vld pieces (scored, "
            f"with >= 2 items: {cases}), HR@10 / NDCG@10 vs 100 sampled negatives (full ranking); "
            f"seed {doc['settings']['seed']}",
            f"{'SASRec trained on':<44}{'n':>5}  {'paper':<32}{'product'}",
        ]
        for name, entry in val["variants"].items():
            cells = [
                f"{entry[p]['hr@10']:.3f} / {entry[p]['ndcg@10']:.3f} "
                f"({entry[p]['full_hr@10']:.3f} / {entry[p]['full_ndcg@10']:.3f})"
                if p in entry
                else "-"
                for p in ("paper", "product")
            ]
            lines.append(f"{VARIANT_LABELS[name]:<44}{entry['n_train']:>5}  {cells[0]:<32}{cells[1]}")
    return "\n".join(lines)


def _format_validation_ad(doc: dict[str, Any]) -> list[str]:
    val = doc["validation_ad"]
    lines = [
        f"{doc['dataset'].upper()} {doc['shift']} validation AD: {val['normal']} normal pieces, "
        f"1:1 per injection kind ({', '.join(val['anomalies_per_kind'])}); seed {doc['settings']['seed']}",
        f"{'TransAE trained on':<40}{'n':>4}  {'paper AUC / F1 / FPR':<24}{'product AUC / F1 / FPR'}",
    ]
    for name, entry in val["variants"].items():
        cells = [
            f"{entry[p]['auc']:.3f} / {entry[p]['f1']:.3f} / {entry[p]['fpr']:.2f}" if p in entry else "-"
            for p in ("paper", "product")
        ]
        lines.append(f"{VARIANT_LABELS[name]:<40}{entry['n_train']:>4}  {cells[0]:<24}{cells[1]}")
    return lines


VARIANT_LABELS = {
    "original": "no adaptation: original context's trn",
    "reconstruction": "TOF, reconstruction test (AD default)",
    "next_action": "TOF, next-action test (BP default)",
    "none": "no TOF (every parsed sequence)",
    "random": "control: random draw, as many as TOF AD",
}


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
    parser.add_argument(
        "--graph-decoding",
        action="store_true",
        help="in process: a behaviour's code may follow the previous one only along the GSS graph's "
        "top-k edges (first behaviour of a line, codes absent from the history and codes without "
        "successors are free); off by default",
    )
    parser.add_argument(
        "--graph-bonus",
        type=float,
        default=0.0,
        metavar="NATS",
        help="in process: soft graph-guided decoding, the same GSS edges preferred by NATS added to the "
        "logits instead of forced (default 0: off; not with --graph-decoding)",
    )
    parser.add_argument(
        "--graph-bonus-form",
        choices=GRAPH_BONUS_FORMS,
        default="flat",
        help="the --graph-bonus per GSS edge: flat (default, every edge alike), no_self_loops (none on a "
        "code's edge to itself), weighted (the edge's transition probability over the top edge's)",
    )
    parser.add_argument(
        "--validation-ad",
        action="store_true",
        help="no test set: TransAE retrained on TOF's reconstruction / next-action set, on every parsed "
        "sequence and on a random control, judged on the new context's vld with injected anomalies",
    )
    parser.add_argument(
        "--validation-bp",
        action="store_true",
        help="no test set: SASRec retrained on the same sets and on the original context, HR@10 / "
        "NDCG@10 on the new context's vld pieces (with --validation-ad: one synthesis for both)",
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
        graph_decoding=args.graph_decoding,
        graph_bonus=args.graph_bonus,
        graph_bonus_form=args.graph_bonus_form,
    )
    protocols = ["paper", "product"] if args.protocol == "both" else [args.protocol]
    tasks = tuple(t for t, on in (("ad", args.validation_ad), ("bp", args.validation_bp)) if on)
    try:
        if tasks:
            doc = run_validation(config, protocols, args.epoch_scale, tasks)
        else:
            doc = run(config, protocols, args.epoch_scale, args.sets)
    except (FileNotFoundError, ValueError) as err:
        print(f"habitus bench adapt: {err}", file=sys.stderr)
        return 2
    print(format_validation(doc) if tasks else format_table(doc))
    print(json.dumps(doc["synthesis"], indent=1))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    return 0
