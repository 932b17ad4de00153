"""SSC and SPPC with a deterministic encoder / sequence model (both are model-agnostic)."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray

from habitus_engine.compress import (
    ALPHA_GRID,
    BagOfActionsEncoder,
    CompressionReport,
    PatternPerceptionCompressor,
    SemanticCompressor,
    SPPCConfig,
    SSCConfig,
)
from habitus_engine.datasets import load_vocabulary, read_sequences, to_behaviours
from habitus_engine.outliers import MarkovLossModel
from habitus_engine.prompt import build_prompts, total_prompt_tokens
from habitus_engine.shifts import paper_shift
from habitus_engine.synth_parse import DeviceDictionary, build_code_table, usage_counts

FR = Path(__file__).resolve().parents[2].parent / "shared" / "datasets" / "smartthings" / "fr"

SEQS = [
    ["on", "off"],  # 0
    ["on", "off"],  # 1 duplicate of 0
    ["tv", "tv", "off"],  # 2
    ["off", "on"],  # 3 same bag as 0: order-blind encoder
    ["tv", "off", "tv"],  # 4 same bag as 2
    ["door"],  # 5 unique
]


def _ssc(alpha: float) -> SemanticCompressor[list[str]]:
    return SemanticCompressor(BagOfActionsEncoder().fit(SEQS), SSCConfig(alpha=alpha))


def test_ssc_keeps_one_representative_per_similar_cluster() -> None:
    ssc = _ssc(0.99).fit(SEQS)
    assert ssc.kept_indices_ == [0, 2, 5]
    assert ssc.representative_.tolist() == [0, 0, 2, 0, 2, 5]
    assert ssc.reduction_rate_ == pytest.approx(0.5)


def test_ssc_keeps_later_sequences_only_when_below_alpha() -> None:
    # cos(["on","off"], ["tv","tv","off"]) = 1/sqrt(2*5) ~ 0.316: alpha 0.3 merges them, 0.35 does not
    assert 2 not in _ssc(0.3).fit(SEQS).kept_indices_
    assert 2 in _ssc(0.35).fit(SEQS).kept_indices_
    assert _ssc(1.0).fit(SEQS).kept_indices_ == [0, 1, 2, 3, 4, 5]  # nothing is more than identical


def test_ssc_works_within_groups() -> None:
    ssc = _ssc(0.99).fit(SEQS, groups=["mon", "tue", "mon", "mon", "tue", "mon"])
    assert ssc.kept_indices_ == [0, 1, 2, 4, 5]  # the duplicate 1 is on another day


def test_ssc_is_deterministic_and_predict_maps_to_representatives() -> None:
    first, second = _ssc(0.9).fit(SEQS), _ssc(0.9).fit(SEQS)
    assert first.kept_indices_ == second.kept_indices_
    assert first.predict([["off", "on", "on", "off"], ["door", "door"]]).tolist() == [0, 5]


class _CountingEncoder(BagOfActionsEncoder):
    """The bag encoder, counting how often SSC asks it to encode."""

    calls = 0

    def encode(self, sequences: Sequence[Sequence[Hashable]]) -> NDArray[np.float64]:
        self.calls += 1
        return super().encode(sequences)


def test_budget_rule_takes_the_largest_alpha_whose_representatives_fit() -> None:
    encoder = _CountingEncoder().fit(SEQS)
    tried: list[list[int]] = []

    def at_most(n: int) -> Callable[[list[int]], bool]:
        def fits(kept: list[int]) -> bool:
            tried.append(kept)
            return len(kept) <= n

        return fits

    grid = (0.3, 1.0, 0.5, 0.99)  # any order: the rule scans from the largest
    ssc = SemanticCompressor(encoder).fit_to_budget(SEQS, at_most(3), grid=grid)
    assert ssc.alpha_ == 0.99 and ssc.kept_indices_ == [0, 2, 5]
    assert tried == [[0, 1, 2, 3, 4, 5], [0, 2, 5]] and encoder.calls == 1  # encoded once
    # cos(["on","off"], ["tv","tv","off"]) ~ 0.316: only alpha 0.3 gets down to two
    assert SemanticCompressor(encoder).fit_to_budget(SEQS, at_most(2), grid=grid).alpha_ == 0.3
    nothing_fits = SemanticCompressor(encoder).fit_to_budget(SEQS, lambda kept: False, grid=grid)
    assert nothing_fits.alpha_ == 0.3 and nothing_fits.kept_indices_ == [0, 5]  # the smallest alpha
    assert _ssc(0.9).fit(SEQS).alpha_ == 0.9  # a fixed alpha is reported the same way


def test_budget_rule_respects_groups_and_its_default_grid() -> None:
    assert ALPHA_GRID[0] == 1.0 and ALPHA_GRID[-1] == 0.5 and len(ALPHA_GRID) == 51
    days = ["mon", "tue", "mon", "mon", "tue", "mon"]
    ssc = SemanticCompressor(BagOfActionsEncoder().fit(SEQS)).fit_to_budget(
        SEQS, lambda kept: len(kept) <= 5, groups=days
    )
    assert ssc.alpha_ == 0.99 and ssc.kept_indices_ == [0, 1, 2, 4, 5]  # as fit at 0.99 per group
    with pytest.raises(ValueError, match="grid is empty"):
        SemanticCompressor(BagOfActionsEncoder().fit(SEQS)).fit_to_budget(SEQS, bool, grid=())


def test_ssc_rejects_mismatched_groups() -> None:
    with pytest.raises(ValueError, match="label every sequence"):
        _ssc(0.9).fit(SEQS, groups=["mon"])


def test_bag_encoder_ignores_unseen_tokens() -> None:
    z = BagOfActionsEncoder().fit([["a", "b"]]).encode([["a", "a"], ["zzz"]])
    np.testing.assert_allclose(z, [[1.0, 0.0], [0.0, 0.0]])


def _routine_corpus() -> list[list[str]]:
    common = [["on", "tv", "off"]] * 12 + [["on", "off"]] * 8
    rare = [["garage", "door", "alarm"], ["oven", "fan", "oven"]]
    return common[:10] + rare[:1] + common[10:] + rare[1:]


def test_sppc_selects_the_patterns_the_rest_cannot_explain() -> None:
    corpus = _routine_corpus()
    assert len(corpus) == 22
    sppc = PatternPerceptionCompressor(MarkovLossModel, SPPCConfig(keep_ratio=0.09, n_folds=None)).fit(corpus)
    assert sppc.kept_indices_ == [10, 21]  # the two rare routines, by leave-one-out error
    assert sppc.reduction_rate_ == pytest.approx(1 - 2 / 22)
    assert sppc.predict([["window", "blind", "window"], ["on", "tv", "off"]]).tolist() == [True, False]


def test_sppc_folds_are_seeded() -> None:
    corpus = _routine_corpus()
    runs = [
        PatternPerceptionCompressor(MarkovLossModel, SPPCConfig(keep_ratio=0.2, n_folds=4)).fit(corpus)
        for _ in range(2)
    ]
    np.testing.assert_array_equal(runs[0].errors_, runs[1].errors_)
    assert runs[0].kept_indices_ == runs[1].kept_indices_


def test_compression_saves_prompt_tokens_on_fr_winter() -> None:
    vocab = load_vocabulary(FR)
    raw = [s.seq for s in read_sequences(FR / "paper" / "winter" / "split_trn.jsonl")]
    behaviours = [to_behaviours(seq, vocab) for seq in raw]
    actions = [[b.action for b in seq] for seq in behaviours]
    ssc = SemanticCompressor(BagOfActionsEncoder().fit(actions), SSCConfig(alpha=0.918)).fit(
        actions, groups=[seq[0][0] for seq in raw]
    )
    kept = [behaviours[i] for i in ssc.kept_indices_]
    shift = paper_shift("spring")
    table = build_code_table(
        DeviceDictionary.from_vocabulary(vocab, raw), usage_counts(behaviours), shift.emphasis_devices, 60
    )
    report = CompressionReport(
        sequences_before=len(behaviours),
        sequences_after=len(kept),
        prompt_tokens_before=total_prompt_tokens(build_prompts(behaviours, table, shift, "{}")),
        prompt_tokens_after=total_prompt_tokens(build_prompts(kept, table, shift, "{}")),
    )
    assert 0.5 < report.reduction_rate < 1.0
    assert report.tokens_saved > 0 and 0 < report.token_reduction < 1


def test_configs_reject_nonsense() -> None:
    with pytest.raises(ValueError):
        SSCConfig(alpha=1.5)
    with pytest.raises(ValueError):
        SPPCConfig(keep_ratio=0)
    with pytest.raises(ValueError):
        SPPCConfig(n_folds=1)
