"""The shared SmartThings JSON Lines format: reading, SmartGen's time axis, round trips, errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from habitus_engine.datasets import (
    DatasetError,
    load_vocabulary,
    read_raw_sequences,
    read_sequences,
    smartgen_hours,
    to_behaviours,
    to_raw,
    write_sequences,
)
from tests.paths import SMARTTHINGS


@pytest.mark.parametrize(
    ("seq", "hours"),
    [
        ([(0, 0, 1, 1)], [0.0]),
        ([(0, 2, 1, 1), (0, 5, 1, 1), (1, 0, 1, 1)], [6.0, 15.0, 24.0]),
        ([(6, 7, 1, 1), (0, 1, 1, 1)], [165.0, 171.0]),  # Sunday 21 h -> Monday 03 h: week wraps
        ([(4, 2, 1, 1), (4, 1, 1, 1)], [102.0, 267.0]),  # a backward step wraps too (as split.py)
        ([(2, 0, 1, 1), (2, 0, 1, 1)], [48.0, 48.0]),  # equal time is no wrap
    ],
)
def test_smartgen_hours(seq: list[tuple[int, int, int, int]], hours: list[float]) -> None:
    assert smartgen_hours(seq) == hours


def test_vocabulary_of_shipped_dataset() -> None:
    vocab = load_vocabulary(SMARTTHINGS / "fr")
    assert len(vocab.devices) == 33 and len(vocab.actions) == 222
    assert "Light:switch off" in vocab.off_action_names
    assert "Light:switch on" not in vocab.off_action_names


def test_labelled_and_bare_lines(tmp_path: Path) -> None:
    path = tmp_path / "mixed.jsonl"
    path.write_text('[[0,1,2,3]]\n\n{"seq": [[1,2,3,4],[1,3,3,5]], "label": 1}\n')
    seqs = read_sequences(path)
    assert [s.label for s in seqs] == [0, 1]
    assert seqs[1].seq == [(1, 2, 3, 4), (1, 3, 3, 5)]


def test_raw_sequences_drop_labels_keep_a_prefix_and_treat_a_missing_file_as_asked(tmp_path: Path) -> None:
    path = tmp_path / "mixed.jsonl"
    path.write_text('[[0,1,2,3]]\n{"seq": [[1,2,3,4]], "label": 1}\n[[2,2,2,2]]\n')
    assert read_raw_sequences(path) == [[(0, 1, 2, 3)], [(1, 2, 3, 4)], [(2, 2, 2, 2)]]
    assert read_raw_sequences(path, limit=2) == [[(0, 1, 2, 3)], [(1, 2, 3, 4)]]
    assert read_raw_sequences(tmp_path / "absent.jsonl", missing_ok=True) == []
    with pytest.raises(OSError):
        read_raw_sequences(tmp_path / "absent.jsonl")


@pytest.mark.parametrize(
    "line",
    ["[[0,1,2]]", "not json", '{"label": 1}', "[[7,0,0,0]]", "[[0,8,0,0]]", "[[0,0,-1,0]]", '[["a",0,0,0]]'],
)
def test_malformed_line_names_file_and_line(tmp_path: Path, line: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text("[[0,0,0,0]]\n" + line + "\n")
    with pytest.raises(DatasetError, match=r"bad\.jsonl:2"):
        read_sequences(path)


def test_missing_vocabulary_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"vocab\.json"):
        load_vocabulary(tmp_path)


def test_behaviour_round_trip_on_real_file(tmp_path: Path) -> None:
    vocab = load_vocabulary(SMARTTHINGS / "fr")
    seqs = read_sequences(SMARTTHINGS / "fr" / "raw" / "vld.jsonl")
    for labelled in seqs:
        behaviours = to_behaviours(labelled.seq, vocab)
        assert behaviours[0].action == vocab.actions[labelled.seq[0][3]]
        assert to_raw(behaviours, vocab) == labelled.seq
    out = tmp_path / "copy.jsonl"
    assert write_sequences(out, (s.seq for s in seqs)) == len(seqs)
    assert [s.seq for s in read_sequences(out)] == [s.seq for s in seqs]


def test_id_outside_vocabulary(tmp_path: Path) -> None:
    vocab = load_vocabulary(SMARTTHINGS / "fr")
    with pytest.raises(DatasetError, match="outside"):
        to_behaviours([(0, 0, 0, 999)], vocab)
