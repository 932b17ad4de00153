"""SmartGen's context-adaptive synthesis over any home: behaviour sequences in, synthetic ones out.

The pipeline (SmartGen §4, with BehaviorGen's week-by-week segmentation):

1. **TSS** (``segment.split_sequences``): the home's timelines cut into sequences;
2. the home's **device dictionary** and the prompt's **code table** (``synth_parse``), the devices the
   new context brings in first, and the **GSS** habit hints (``prompt.gss_hints``: the transition
   graph over the table's codes, from every TSS sequence);
3. **SSC** (``compress.SemanticCompressor``): near-duplicate sequences dropped per weekday (or over
   the whole history), so the prompt shows the home's variety in few tokens. The encoder is a small
   TransAE trained on the home's sequences (``transae_sequences``, mean-pooled encoder output, eval
   mode), or the bag-of-actions stand-in (``ssc_encoder="bag"``: no training, for speed / ablation).
   The threshold alpha is set by the context-budget rule (``ssc_alpha=None``, the default): the
   largest alpha whose representatives fit ``ssc_prompts`` prompts of one week, so every request
   shows the home's whole compressed variety; a fixed ``ssc_alpha`` is the reference's way;
4. the prompts for the context shift (``shifts.ContextShift``, the paper's or a free-text custom one),
   counted with the model's own tokenizer (or ``prompt.estimate_tokens`` for a server);
5. generation, one prompt at a time, by the in-process llama.cpp model (``llm.local``, default the
   packaged Gemma 3 270M) or an OpenAI-compatible server (``llm.http``); every answer is parsed and
   validated against the code table (Pass@1). Bad output never raises: it only lowers Pass@1;
6. **TOF** (``outliers.TwoStageOutlierFilter``) keeps the plausible sequences: stage 1 IQR fence on
   the TransAE reconstruction loss; stage 2 utility test on held-out inliers: an outlier is kept if
   adding it does not raise their next-action loss (``outliers.NextActionLossModel``) or does not
   raise their reconstruction loss (``tof_utility="reconstruction"``: the latter alone, the paper's).
   ``tof_utility="per_task"`` (the default) filters once per downstream task, stage 1 shared: the
   anomaly model (TransAE) gets the set the reconstruction test keeps, the next-action model
   (SASRec) the set the next-action test keeps (``Synthesis.bp_sequences``);
   ``tof_model="markov"``: a first-order Markov loss stand-in for TransAE; fewer than
   ``MIN_TRANSAE_SEQUENCES`` sequences fall back to the stand-ins (a TransAE needs data to train
   on); the report's ``encoder`` says what ran.

``ablate`` switches stages off (tss: no split; ssc: every sequence is shown; gss: no hints; tof: keep
every parsed sequence). ``synthesize`` works on behaviours; ``synthesize_raw`` on the raw
``[day, bucket, device, action]`` form with a vocabulary (a dataset's, or the home's own as
``export.to_home_raw`` writes it; ``home_vocabulary``). Progress is reported per stage and per prompt;
cancellation is polled between prompts and while one is generating.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from .behaviour import Sequence as BehaviourSequence
from .compress import BagOfActionsEncoder, SemanticCompressor, SSCConfig
from .datasets import RawSequence, Vocabulary, to_behaviours, to_raw
from .fidelity import behaviour_tokens, fidelity_report, privacy_report
from .llm.base import DEFAULT_TEMPERATURE, GenerationRequest, GenerationResult, LLMBackend, LLMError
from .outliers import (
    MarkovLossModel,
    NextActionLossModel,
    SequenceLossModel,
    TOFConfig,
    TwoStageOutlierFilter,
)
from .prompt import (
    GRAPH_BONUS_FORMS,
    GraphBonusForm,
    PromptBudgetError,
    PromptConfig,
    SynthesisPrompt,
    TokenCount,
    build_prompts,
    estimate_tokens,
    gss_hints,
    gss_successor_weights,
    gss_successors,
    shown_lines,
    successor_share,
    total_prompt_tokens,
    transition_counts,
)
from .segment import is_off_action, split_sequences
from .shifts import ContextShift
from .synth_parse import (
    CodeTable,
    DeviceDictionary,
    ParsedResponse,
    ValidationRules,
    build_code_table,
    parse_response,
    pass_at_1,
    usage_counts,
)
from .transae_sequences import SequenceModelConfig, TransAESequenceModel

STAGES = ("tss", "ssc", "gss", "tof")
MIN_TRANSAE_SEQUENCES = 10  # below this SSC / TOF use the stand-ins (too little to train a TransAE)
TOF_RESCUE_TRIALS = 8  # stage-2 refits at most (each trains a TransAE)
CANCEL_POLL_SECONDS = 0.1  # how often a running generation checks ``cancelled()``

type ProgressFn = Callable[[float, str], None]
type CancelledFn = Callable[[], bool]
type BackendKind = Literal["local", "server"]
type SSCEncoder = Literal["transae", "bag"]
type TOFModel = Literal["transae", "markov"]
type TOFUtility = Literal["per_task", "next_action", "reconstruction"]
type SSCGrouping = Literal["weekday", "all"]


class SynthesisError(RuntimeError):
    """The pipeline could not run: no LLM (llama-cpp-python or the model file missing, the server
    unreachable) or a context window too small for the prompt. The message says what to fix."""


class SynthesisCancelledError(Exception):
    """``cancelled()`` turned True; the run stopped without a result."""


@dataclass(frozen=True, slots=True)
class LLMSettings:
    """Which LLM writes the sequences: the in-process model or an OpenAI-compatible server."""

    backend: BackendKind = "local"
    model_path: Path | None = None  # None: the packaged Gemma 3 270M (llm.model_file)
    server_url: str | None = None
    server_model: str | None = None  # for servers that serve several models ("" / None = default)
    n_threads: int = 1  # in-process decoding threads (keep one core for HA)
    n_ctx: int = 2048  # context window the prompts are budgeted to

    def __post_init__(self) -> None:
        if self.backend not in ("local", "server"):
            raise ValueError(f"llm backend must be 'local' or 'server', not {self.backend!r}")
        if self.backend == "server" and not self.server_url:
            raise ValueError("the server backend needs a server_url")
        if self.n_threads < 1 or self.n_ctx < 256:
            raise ValueError("n_threads must be >= 1 and n_ctx >= 256")

    def describe(self) -> str:
        """The backend as the report names it."""
        if self.backend == "server":
            return str(self.server_url)
        return str(self.model_path or "default Gemma 3 270M")


@dataclass(frozen=True, slots=True)
class SynthesisConfig:
    """One synthesis run: the context shift, the LLM and how much to ask of it."""

    shift: ContextShift
    llm: LLMSettings = field(default_factory=LLMSettings)
    # Synthetic weeks asked for (build_prompts repeats the chunks per week); None: as many as
    # max_prompts allows, ceil(max_prompts / prompts per week), so the request budget is used.
    weeks: int | None = None
    max_prompts: int = 4  # LLM requests at most
    ablate: frozenset[str] = frozenset()  # stages switched off, a subset of STAGES
    seed: int = 2024  # request n is sampled with seed + n
    temperature: float = DEFAULT_TEMPERATURE  # sampling temperature of every request (0: greedy)
    max_new_tokens: int = 256  # answer budget per request
    max_codes: int = 40  # device-action pairs in the code table
    sequences_per_response: int = 6
    ssc_alpha: float | None = None  # SSC threshold; None: the context-budget rule (ssc_prompts)
    ssc_prompts: int = 1  # budget rule: the compressed sequences fit this many prompts per week
    ssc_encoder: SSCEncoder = "transae"  # "bag": the bag-of-actions stand-in (no training)
    ssc_grouping: SSCGrouping = "weekday"  # SmartGen's; "all": one group over the whole history
    tof_model: TOFModel = "transae"  # "markov": the Markov loss stand-in (no training)
    # TOF stage 2 refits at most with TransAE (the least extreme outliers first; the others are
    # deleted untested); None: every outlier is tested, as in the paper (one TransAE fit each)
    tof_trials: int | None = TOF_RESCUE_TRIALS
    # TOF stage 2 keeps an outlier if the held-out next-action loss or the reconstruction loss does
    # not rise ("reconstruction": the paper's test alone, which cost BP on the night shifts);
    # "per_task": both, one set per downstream task (AD: reconstruction, BP: next_action)
    tof_utility: TOFUtility = "per_task"
    sequence_model: SequenceModelConfig = field(default_factory=SequenceModelConfig)
    # Graph-guided decoding: the in-process decoder lets a behaviour's code follow the previous one
    # only along the GSS graph's top-k edges (``LineFormat.successors``; escapes there). Off by
    # default; in process only (a server's GBNF / JSON schema cannot say it); off when GSS is ablated.
    graph_decoding: bool = False
    # Soft graph-guided decoding: the same GSS edges preferred by this many nats on the logits instead
    # of forced (``LineFormat.graph_bonus``). 0 (default): off; in process only; off when GSS is ablated.
    graph_bonus: float = 0.0
    # The soft bonus's shape per GSS edge (``prompt.gss_successor_weights``): "flat" (default, every
    # edge alike), "no_self_loops" (none on a code's edge to itself), "weighted" (by the edge's
    # transition probability over the top edge's). Ignored when graph_bonus is 0.
    graph_bonus_form: GraphBonusForm = "flat"

    def __post_init__(self) -> None:
        if self.ssc_encoder not in ("transae", "bag") or self.tof_model not in ("transae", "markov"):
            raise ValueError("ssc_encoder must be transae|bag and tof_model transae|markov")
        if self.ssc_grouping not in ("weekday", "all"):
            raise ValueError("ssc_grouping must be weekday|all")
        if not self.ablate <= set(STAGES):
            raise ValueError(f"stages to ablate are {','.join(STAGES)}, not {sorted(self.ablate)}")
        weeks = 1 if self.weeks is None else self.weeks
        if min(weeks, self.max_prompts, self.max_new_tokens, self.max_codes) < 1:
            raise ValueError("weeks, max_prompts, max_new_tokens and max_codes must be >= 1")
        if self.sequences_per_response < 1 or self.ssc_prompts < 1:
            raise ValueError("sequences_per_response and ssc_prompts must be >= 1")
        if self.tof_trials is not None and self.tof_trials < 0:
            raise ValueError("tof_trials must be >= 0 (or None: every outlier)")
        if self.tof_utility not in ("per_task", "next_action", "reconstruction"):
            raise ValueError("tof_utility must be per_task|next_action|reconstruction")
        if self.temperature < 0:
            raise ValueError("temperature must be >= 0")
        if (self.graph_decoding or self.graph_bonus) and self.llm.backend != "local":
            raise ValueError("graph-guided decoding runs in the in-process decoder only (not a server)")
        if not 0 <= self.graph_bonus < math.inf:
            raise ValueError("graph_bonus must be a finite number of nats >= 0")
        if self.graph_decoding and self.graph_bonus:
            raise ValueError("graph_decoding (hard) and graph_bonus (soft) are alternatives: pick one")
        if self.graph_bonus_form not in GRAPH_BONUS_FORMS:
            raise ValueError(f"graph_bonus_form is one of {', '.join(GRAPH_BONUS_FORMS)}")
        if self.ssc_alpha is not None and not -1.0 <= self.ssc_alpha <= 1.0:
            raise ValueError("ssc_alpha is a cosine similarity in [-1, 1] (or None: the budget rule)")


@dataclass(frozen=True, slots=True)
class Prepared:
    """Stages 1-4: what the LLM is asked."""

    behaviours: list[BehaviourSequence]  # after TSS (the real sequences fidelity is measured against)
    shown: list[BehaviourSequence]  # after SSC (the ones the prompts show)
    table: CodeTable
    prompts: list[SynthesisPrompt]
    uncompressed_tokens: int  # prompt tokens had SSC shown every sequence
    ssc_encoder: str = "none"  # what SSC encoded with ("transae", "bag", "none" when ablated)
    ssc_alpha: float | None = None  # the threshold SSC used (None when ablated)
    weeks: int = 1  # synthetic weeks the prompts ask for
    seconds: dict[str, float] = field(default_factory=dict)  # wall time of TSS, GSS, SSC, prompts


class StageClock:
    """Wall time per pipeline stage (the report's ``stage_seconds``): ``lap(name)`` closes a stage."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._last = time.monotonic()

    def lap(self, stage: str) -> None:
        """Charge the time since the previous lap to ``stage``."""
        now = time.monotonic()
        self.seconds[stage] = round(self.seconds.get(stage, 0.0) + now - self._last, 3)
        self._last = now


@dataclass(frozen=True, slots=True)
class Synthesis:
    """The kept synthetic sequences and the ``synthesis`` report (the bench-adapt object).

    ``sequences`` trains the anomaly model (TransAE), ``bp_sequences`` the next-action model
    (SASRec): TOF's per-task sets (``tof_utility="per_task"``), else the same list."""

    sequences: list[BehaviourSequence]
    report: dict[str, Any]
    bp_sequences: list[BehaviourSequence]


def home_vocabulary(devices: Sequence[str], actions: Sequence[str], name: str = "home") -> Vocabulary:
    """A vocabulary from the home's own id lists (``export.to_home_raw``: entity ids, ``Type:control``)."""
    off = frozenset(i for i, action in enumerate(actions) if is_off_action(action))
    return Vocabulary(name, tuple(devices), tuple(actions), off)


# -------------------------------------------------------------------------------- stages 1-4


def _tss(behaviours: Sequence[BehaviourSequence], enabled: bool) -> list[BehaviourSequence]:
    """TSS: split every sequence (unless ablated); empty pieces are dropped."""
    if not enabled:
        return [list(seq) for seq in behaviours if seq]
    return [piece for seq in behaviours for piece in split_sequences(seq) if piece]


def _ssc(
    behaviours: list[BehaviourSequence], config: SynthesisConfig, fits: Callable[[list[int]], bool]
) -> tuple[list[BehaviourSequence], str, float]:
    """SSC: the representative sequences per weekday (or over all), the encoder that ran and alpha.

    The TransAE encoder is trained first on the distinct action sequences (a home repeats its
    routines, so this is a fraction of them: seconds; ``SequenceModelConfig``). Alpha is
    ``config.ssc_alpha`` or, when that is None, the largest one whose kept sequences ``fits``.
    """
    actions = [[b.action for b in seq] for seq in behaviours]
    distinct = [list(seq) for seq in dict.fromkeys(tuple(a) for a in actions)]
    use_transae = config.ssc_encoder == "transae" and len(distinct) >= MIN_TRANSAE_SEQUENCES
    encoder = TransAESequenceModel(config.sequence_model) if use_transae else BagOfActionsEncoder()
    alpha = config.ssc_alpha
    ssc = SemanticCompressor(encoder.fit(distinct), SSCConfig(alpha=1.0 if alpha is None else alpha))
    weekday = config.ssc_grouping == "weekday"
    groups = [int(seq[0].time // 24) % 7 if weekday else 0 for seq in behaviours]
    if alpha is None:
        ssc.fit_to_budget(actions, fits, groups=groups)
    else:
        ssc.fit(actions, groups=groups)
    return [behaviours[i] for i in ssc.kept_indices_], "transae" if use_transae else "bag", ssc.alpha_


def prepare(
    behaviours: Sequence[BehaviourSequence],
    dictionary: DeviceDictionary,
    config: SynthesisConfig,
    count: TokenCount = estimate_tokens,
) -> Prepared:
    """TSS -> code table + GSS hints -> SSC -> prompts (stages 1-4).

    Raises ``ValueError`` if there is nothing to show (no behaviour, or no pair of the dictionary)
    and ``PromptBudgetError`` if the fixed prompt does not fit ``config.llm.n_ctx``.
    """
    clock = StageClock()
    split = _tss(behaviours, "tss" not in config.ablate)
    clock.lap("tss")
    if not split:
        raise ValueError("synthesis needs at least one behaviour")
    table = build_code_table(dictionary, usage_counts(split), config.shift.emphasis_devices, config.max_codes)
    hints = "{}" if "gss" in config.ablate else gss_hints(split, table)
    clock.lap("gss")
    prompt_config = PromptConfig(
        n_ctx=config.llm.n_ctx,
        max_new_tokens=config.max_new_tokens,
        sequences_per_response=config.sequences_per_response,
    )

    def prompts(sequences: list[BehaviourSequence], weeks: int) -> list[SynthesisPrompt]:
        return build_prompts(
            sequences, table, config.shift, hints, weeks=weeks, config=prompt_config, count=count
        )

    def fits(kept: list[int]) -> bool:
        """The budget rule's test: one week of the kept sequences needs at most ``ssc_prompts``."""
        sequences = [split[i] for i in kept]
        most = config.ssc_prompts * prompt_config.max_sequences_per_chunk
        return len(shown_lines(sequences, table, prompt_config)) <= most and (
            len(prompts(sequences, 1)) <= config.ssc_prompts
        )

    if "ssc" in config.ablate:
        shown, encoder, alpha = split, "none", None
    else:
        shown, encoder, alpha = _ssc(split, config, fits)
    clock.lap("ssc")
    weeks = config.weeks or math.ceil(config.max_prompts / len(prompts(shown, 1)))
    uncompressed = total_prompt_tokens(prompts(split, weeks))
    final = prompts(shown, weeks)
    if (config.graph_decoding or config.graph_bonus) and "gss" not in config.ablate:
        successors, free = gss_successors(split, table)
        weights = gss_successor_weights(split, table, config.graph_bonus_form) if config.graph_bonus else ()
        graph = [p.format.with_graph(successors, free, config.graph_bonus, weights) for p in final]
        final = [replace(p, format=fmt) for p, fmt in zip(final, graph, strict=True)]
    clock.lap("prompts")
    return Prepared(split, shown, table, final, uncompressed, encoder, alpha, weeks, clock.seconds)


# -------------------------------------------------------------------------------- stage 5


async def open_backend(settings: LLMSettings) -> tuple[LLMBackend, TokenCount]:
    """The backend ``settings`` name, ready to generate, and its prompt token counter.

    In process: loads the model (the model's tokenizer counts exactly). Server: nothing is sent yet
    (an unreachable server shows on the first request); tokens are estimated pessimistically.
    Raises ``SynthesisError`` when the library or the model file is missing.
    """
    from .llm.model_file import ModelFileError, default_model_path  # noqa: PLC0415

    try:
        if settings.backend == "server":
            from .llm.http import HttpBackend, HttpBackendConfig  # noqa: PLC0415

            config = HttpBackendConfig(str(settings.server_url), model=settings.server_model or "")
            return HttpBackend(config), estimate_tokens
        from .llm.local import LlamaCppBackend, LlamaCppConfig  # noqa: PLC0415

        path = settings.model_path or default_model_path()
        local = LlamaCppBackend(LlamaCppConfig(path, n_threads=settings.n_threads, n_ctx=settings.n_ctx))
        try:
            model = await local.load()
            # The constrained decoder's one-off vocabulary scan (seconds), done now rather than inside
            # the first request, where it could not be cancelled.
            await asyncio.get_running_loop().run_in_executor(None, model.format_pieces)
        except BaseException:
            await local.aclose()
            raise
        return local, model.count_tokens
    except (LLMError, ModelFileError, ValueError) as err:
        raise SynthesisError(f"cannot start the LLM ({settings.describe()}): {err}") from err


async def _generate_one(
    backend: LLMBackend, request: GenerationRequest, cancelled: CancelledFn
) -> GenerationResult:
    """One request; polls ``cancelled`` while it runs and cancels it (the backend stops decoding)."""
    task = asyncio.ensure_future(backend.generate(request))
    while not task.done():
        await asyncio.wait({task}, timeout=CANCEL_POLL_SECONDS)
        if not task.done() and cancelled():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, LLMError):
                await task
            raise SynthesisCancelledError("cancelled while generating")
    try:
        return task.result()
    except LLMError as err:
        raise SynthesisError(f"the LLM failed ({backend.name}): {err}") from err


async def generate(
    prepared: Prepared,
    backend: LLMBackend,
    config: SynthesisConfig,
    progress: ProgressFn,
    cancelled: CancelledFn,
) -> list[tuple[SynthesisPrompt, GenerationResult]]:
    """Stage 5: send up to ``max_prompts`` prompts, one at a time; progress fills [0.1, 0.9]."""
    prompts = prepared.prompts[: config.max_prompts]
    results = []
    for n, prompt in enumerate(prompts):
        if cancelled():
            raise SynthesisCancelledError(f"cancelled before prompt {n + 1}/{len(prompts)}")
        progress(0.1 + 0.8 * n / len(prompts), f"prompt {n + 1}/{len(prompts)}")
        request = GenerationRequest(
            prompt.text,
            prompt.format,
            max_tokens=config.max_new_tokens,
            temperature=config.temperature,
            seed=config.seed + n,
        )
        results.append((prompt, await _generate_one(backend, request, cancelled)))
    return results


# -------------------------------------------------------------------------------- stage 6 + report


def parse_all(
    results: Sequence[tuple[SynthesisPrompt, GenerationResult]], table: CodeTable
) -> list[ParsedResponse]:
    """Parse and validate every answer against the code table and its format (never raises)."""
    return [
        parse_response(result.text, table, week=prompt.week, rules=ValidationRules.from_format(prompt.format))
        for prompt, result in results
    ]


@dataclass(frozen=True, slots=True)
class TOFOutcome:
    """What TOF did to the synthetic set: the kept sequences and each stage's count.

    Stage 1 (IQR fence) flags ``flagged`` sequences; stage 2 (utility test) keeps
    ``next_action_rescued`` of them by the next-action test, refits the loss model with ``tried`` of
    the others (the least extreme first, ``trials`` at most with TransAE) and keeps ``rescued`` in all;
    the other ``flagged - rescued`` are deleted. ``bp``: stage 2 again with the next-action test
    for the next-action model's own set (``utility="per_task"``; ``kept`` is then the anomaly
    model's set, the reconstruction test's).
    """

    kept: list[BehaviourSequence]
    model: str  # the loss model that ran: "transae", "markov" or "none" (ablated / too few)
    flagged: int = 0
    tried: int = 0
    rescued: int = 0
    next_action_rescued: int = 0
    bp: TOFOutcome | None = None

    @property
    def kept_bp(self) -> list[BehaviourSequence]:
        """The next-action model's (SASRec's) set: ``bp``'s when TOF filtered per task."""
        return self.kept if self.bp is None else self.bp.kept

    def counts(self) -> dict[str, int]:
        """The report's ``tof`` object: stage 1 flags and stage 2's verdicts."""
        return {
            "stage1_flagged": self.flagged,
            "stage2_tried": self.tried,
            "stage2_rescued": self.rescued,
            "stage2_next_action_rescued": self.next_action_rescued,
            "rejected": self.flagged - self.rescued,
        }


def tof_filter(
    synthetic: list[BehaviourSequence],
    enabled: bool,
    model: TOFModel = "transae",
    sequence_model: SequenceModelConfig | None = None,
    trials: int | None = TOF_RESCUE_TRIALS,
    *,
    utility: TOFUtility = "per_task",
) -> TOFOutcome:
    """TOF: drop the synthetic sequences the two-stage outlier filter rejects (needs two or more).
    The loss models and stage 2's inlier split are seeded with ``sequence_model.seed``; stage 2
    tries every outlier with the next-action test (``utility="next_action"``), then refits TransAE
    with ``trials`` of the others at most (None: all; the Markov stand-in always tests all).
    ``utility="per_task"``: stage 1 once, stage 2 with the reconstruction test alone (``kept``, the
    anomaly model's set) and again with the next-action test first (``bp``, the next-action one's)."""
    if not enabled or len(synthetic) < 2:
        return TOFOutcome(synthetic, "none")
    use_transae = model == "transae" and len(synthetic) >= MIN_TRANSAE_SEQUENCES
    settings = sequence_model or SequenceModelConfig()

    def factory() -> SequenceLossModel[list[str]]:
        return TransAESequenceModel(settings) if use_transae else MarkovLossModel()

    config = TOFConfig(seed=settings.seed, max_rescue_trials=trials if use_transae else None)
    next_action = NextActionLossModel.over if utility == "next_action" else None
    tof = TwoStageOutlierFilter(factory, config, next_action).fit([[b.action for b in s] for s in synthetic])
    outcome = _outcome(synthetic, tof, "transae" if use_transae else "markov")
    if utility != "per_task":
        return outcome
    tof.utility_factory = NextActionLossModel.over
    bp = _outcome(synthetic, tof.fit_stage2(), outcome.model)
    return replace(outcome, bp=bp)


def _outcome(
    synthetic: list[BehaviourSequence], tof: TwoStageOutlierFilter[list[str]], model: str
) -> TOFOutcome:
    """A fitted TOF's kept sequences and counts."""
    return TOFOutcome(
        [seq for seq, keep in zip(synthetic, tof.kept_mask_, strict=True) if keep],
        model,
        flagged=len(tof.outliers_),
        tried=len(tof.tried_),
        rescued=len(tof.rescued_),
        next_action_rescued=len(tof.next_action_rescued_),
    )


def _report(
    prepared: Prepared,
    *,
    results: Sequence[tuple[SynthesisPrompt, GenerationResult]],
    parsed: list[ParsedResponse],
    synthetic: list[BehaviourSequence],
    tof: TOFOutcome,
    config: SynthesisConfig,
    backend_name: str,
) -> dict[str, Any]:
    """The ``synthesis`` report (bench adapt's object; ``wall_seconds`` is added by the caller)."""
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
        "sequences_kept": len(tof.kept),
        "sequences_kept_bp": len(tof.kept_bp),
        "tof": tof.counts(),
        "completion_tokens": completion,
        "tokens_per_second": round(completion / decode, 2) if decode > 0 else 0.0,
        "weeks": prepared.weeks,
        "ablate": sorted(config.ablate),
        "backend": backend_name,
        "encoder": f"SSC: {prepared.ssc_encoder}, TOF: {tof.model}",
        "temperature": config.temperature,
        "seed": config.seed,
        "tof_utility": config.tof_utility,
        **({"tof_bp": tof.bp.counts()} if tof.bp is not None else {}),
        "ssc_alpha": prepared.ssc_alpha,
        "ssc_alpha_rule": "fixed"
        if config.ssc_alpha is not None
        else f"budget ({config.ssc_prompts} prompt/week)",
        "ssc_grouping": config.ssc_grouping,
        "graph_decoding": config.graph_decoding and "gss" not in config.ablate,
        "graph_bonus": 0.0 if "gss" in config.ablate else config.graph_bonus,
        "graph_bonus_form": config.graph_bonus_form,
        "degenerate_sequences": sum(len({b.action for b in seq}) == 1 for seq in synthetic),
    }
    # How closely the synthetic transitions follow the GSS graph (top-k edges), next to the real data's.
    successors, _free = gss_successors(prepared.behaviours, prepared.table)
    report["successor_share"] = successor_share(synthetic, prepared.table, successors)
    report["successor_share_real"] = successor_share(prepared.behaviours, prepared.table, successors)
    # The pairs behind the share, and how many repeat the previous code (self-loops).
    report["transitions"] = transition_counts(synthetic, prepared.table, successors)
    report["transitions_real"] = transition_counts(prepared.behaviours, prepared.table, successors)
    if synthetic:
        report["jsd_action"] = fidelity_report(synthetic, prepared.behaviours).jsd_action
        shown_tokens = [behaviour_tokens(s) for s in prepared.shown]
        report["copy_rate"] = privacy_report([behaviour_tokens(s) for s in synthetic], shown_tokens).copy_rate
    else:
        report["jsd_action"] = report["copy_rate"] = None
    return report


# -------------------------------------------------------------------------------- the whole run


def _never() -> bool:
    return False


def _ignore(_fraction: float, _message: str) -> None:
    return None


async def _run(
    behaviours: Sequence[BehaviourSequence],
    dictionary: DeviceDictionary,
    config: SynthesisConfig,
    *,
    backend: LLMBackend | None,
    progress: ProgressFn,
    cancelled: CancelledFn,
) -> tuple[Prepared, list[tuple[SynthesisPrompt, GenerationResult]], str]:
    """Stages 1-5 with ``backend`` (or the one ``config.llm`` names, opened and closed here)."""
    owned = backend is None
    count: TokenCount = estimate_tokens
    clock = StageClock()
    if backend is None:
        progress(0.0, "loading the LLM")
        backend, count = await open_backend(config.llm)
    clock.lap("load_llm")
    try:
        progress(0.05, "preparing prompts (TSS, SSC, GSS)")
        try:
            prepared = prepare(behaviours, dictionary, config, count)
        except PromptBudgetError as err:
            raise SynthesisError(f"the prompt does not fit the LLM's context window: {err}") from err
        clock.lap("prepare")
        results = await generate(prepared, backend, config, progress, cancelled)
        clock.lap("generate")
        prepared.seconds.update({stage: clock.seconds[stage] for stage in ("load_llm", "generate")})
    finally:
        if owned:
            await backend.aclose()
    return prepared, results, config.llm.describe() if owned else backend.name


def synthesize(
    behaviours: Sequence[BehaviourSequence],
    dictionary: DeviceDictionary,
    config: SynthesisConfig,
    *,
    backend: LLMBackend | None = None,
    progress: ProgressFn | None = None,
    cancelled: CancelledFn | None = None,
) -> Synthesis:
    """Stages 1-6 (blocking; runs its own event loop): the kept synthetic sequences and the report.

    ``backend`` None opens (and closes) the LLM ``config.llm`` names; a given backend is the
    caller's to close, and prompts are then counted with ``estimate_tokens``. Raises
    ``SynthesisError`` (no LLM), ``SynthesisCancelledError`` and ``ValueError`` (no behaviour).
    """
    progress = progress or _ignore
    cancelled = cancelled or _never
    started = time.monotonic()
    prepared, results, backend_name = asyncio.run(
        _run(behaviours, dictionary, config, backend=backend, progress=progress, cancelled=cancelled)
    )
    progress(0.9, "parsing and filtering (TOF)")
    clock = StageClock()
    parsed = parse_all(results, prepared.table)
    synthetic = [seq for p in parsed for seq in p.sequences]
    clock.lap("parse")
    tof = tof_filter(
        synthetic,
        "tof" not in config.ablate,
        config.tof_model,
        config.sequence_model,
        config.tof_trials,
        utility=config.tof_utility,
    )
    clock.lap("tof")
    report = _report(
        prepared,
        results=results,
        parsed=parsed,
        synthetic=synthetic,
        tof=tof,
        config=config,
        backend_name=backend_name,
    )
    report["wall_seconds"] = round(time.monotonic() - started, 1)
    report["stage_seconds"] = {**prepared.seconds, **clock.seconds}  # load_llm tss gss ssc prompts ...
    progress(1.0, f"kept {len(tof.kept)} of {len(synthetic)} synthetic sequences")
    return Synthesis(tof.kept, report, tof.kept_bp)


def synthesize_raw(
    raw: Sequence[RawSequence],
    vocab: Vocabulary,
    config: SynthesisConfig,
    *,
    backend: LLMBackend | None = None,
    progress: ProgressFn | None = None,
    cancelled: CancelledFn | None = None,
) -> tuple[list[RawSequence], list[RawSequence], dict[str, Any]]:
    """``synthesize`` on raw ``[day, bucket, device, action]`` sequences named by ``vocab``: the kept
    sequences in the same raw form with the same ids, as TOF's per-task sets (the anomaly model's
    (TransAE's), the next-action model's (SASRec's); the same list twice unless ``config.tof_utility``
    is ``"per_task"``), and the report."""
    behaviours = [to_behaviours(seq, vocab) for seq in raw]
    dictionary = DeviceDictionary.from_vocabulary(vocab, raw)
    result = synthesize(
        behaviours, dictionary, config, backend=backend, progress=progress, cancelled=cancelled
    )
    ad = [to_raw(seq, vocab) for seq in result.sequences]
    bp = ad if result.bp_sequences is result.sequences else [to_raw(s, vocab) for s in result.bp_sequences]
    return ad, bp, result.report
