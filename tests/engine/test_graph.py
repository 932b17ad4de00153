"""GSS: the behaviour transition graph, its matrix and the top-k JSON hints."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from habitus_engine.datasets import load_vocabulary, read_sequences
from habitus_engine.graph import GSSConfig, TransitionGraph

FR = Path(__file__).resolve().parents[2].parent / "shared" / "datasets" / "smartthings" / "fr"

SEQS = [["on", "tv", "off"], ["on", "off"], ["on", "tv", "off"], ["tv"]]


def test_matrix_counts_consecutive_pairs_inside_sequences_only() -> None:
    graph = TransitionGraph().fit(SEQS)
    assert graph.actions_ == ["on", "tv", "off"]
    #                      on tv off
    expected = np.array([[0, 2, 1], [0, 0, 2], [0, 0, 0]])
    np.testing.assert_array_equal(graph.matrix_, expected)
    assert ("off", "tv") not in graph.edges  # "off" ends one sequence, "tv" starts another
    assert graph.edges[("on", "tv")] == 2


def test_top_k_successors_are_ordered_by_count_then_first_seen() -> None:
    graph = TransitionGraph(GSSConfig(top_k=1)).fit(SEQS)
    assert graph.predict("on") == [("tv", 2)]
    assert graph.predict("off") == []
    assert graph.predict("unknown") == []
    assert TransitionGraph(GSSConfig(top_k=5)).fit(SEQS).predict("on") == [("tv", 2), ("off", 1)]


def test_min_count_drops_rare_transitions() -> None:
    graph = TransitionGraph(GSSConfig(min_count=2)).fit(SEQS)
    assert graph.top_successors() == {"on": [("tv", 2)], "tv": [("off", 2)]}


def test_hints_json_uses_labels_and_orders_by_frequency() -> None:
    graph = TransitionGraph().fit(SEQS)
    hints = json.loads(graph.hints_json(label=str.upper))
    assert list(hints) == ["ON", "TV"]  # "on" precedes 3 transitions, "tv" 2
    assert hints["ON"] == ["TV", "OFF"]
    assert json.loads(graph.hints_json(with_counts=True))["on"] == [["tv", 2], ["off", 1]]


def test_transition_probabilities_are_row_stochastic() -> None:
    probabilities = TransitionGraph().fit(SEQS).transition_probabilities()
    np.testing.assert_allclose(probabilities.sum(axis=1), [1.0, 1.0, 0.0])


def test_empty_input_gives_an_empty_graph() -> None:
    graph = TransitionGraph().fit([])
    assert graph.matrix_.shape == (0, 0) and graph.hints_json() == "{}"


def test_gss_on_the_fr_winter_training_split() -> None:
    vocab = load_vocabulary(FR)
    seqs = [
        [vocab.actions[act] for *_rest, act in s.seq]
        for s in read_sequences(FR / "paper/winter/split_trn.jsonl")
    ]
    graph = TransitionGraph().fit(seqs)
    assert int(graph.matrix_.sum()) == sum(len(s) - 1 for s in seqs)
    hints = json.loads(graph.hints_json())
    assert all(1 <= len(successors) <= 5 for successors in hints.values())


def test_config_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        GSSConfig(top_k=0)
