"""``habitus segment`` on the shared dataset format and on an HA history export."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from habitus_engine.datasets import load_vocabulary, read_sequences, smartgen_hours
from habitus_tools.cli import main
from tests.paths import SMARTTHINGS


def test_segment_dataset_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = SMARTTHINGS / "fr" / "context" / "daytime" / "trn.jsonl"
    out = tmp_path / "pieces.jsonl"
    assert main(["segment", "--input", str(src), "--output", str(out)]) == 0
    pieces = [s.seq for s in read_sequences(out)]
    originals = [s.seq for s in read_sequences(src)]
    assert len(pieces) == 319  # the dataset README's count for TSS with the counter reset
    assert [b for p in pieces for b in p] == [b for s in originals for b in s]
    for piece in pieces:
        hours = smartgen_hours(piece)
        assert hours[-1] - hours[0] <= 24
    assert "180 timelines -> 319 sequences" in capsys.readouterr().out


def test_segment_grid_options_change_the_cut(tmp_path: Path) -> None:
    src = SMARTTHINGS / "fr" / "context" / "single" / "trn.jsonl"
    counts = []
    for gap, span in [(6, 12), (15, 48)]:
        out = tmp_path / f"{gap}-{span}.jsonl"
        assert (
            main(
                [
                    "segment",
                    "--input",
                    str(src),
                    "--output",
                    str(out),
                    "--max-gap",
                    str(gap),
                    "--max-span",
                    str(span),
                ]
            )
            == 0
        )
        counts.append(len(read_sequences(out)))
    assert counts[0] > counts[1]


def test_segment_uses_the_dataset_off_actions(tmp_path: Path) -> None:
    """A Light off 12 h after its on stays with it (the vocabulary's off-action list)."""
    vocab = load_vocabulary(SMARTTHINGS / "fr")
    light = vocab.devices.index("Light")
    on, off = vocab.actions.index("Light:switch on"), vocab.actions.index("Light:switch off")
    src_dir = tmp_path / "ds"
    src_dir.mkdir()
    (src_dir / "vocab.json").write_text((SMARTTHINGS / "fr" / "vocab.json").read_text())
    src = src_dir / "t.jsonl"
    src.write_text(json.dumps([[0, 2, light, on], [0, 6, light, off]]) + "\n")
    out = tmp_path / "o.jsonl"
    assert main(["segment", "--input", str(src), "--output", str(out)]) == 0
    assert len(read_sequences(out)) == 1


def test_segment_ha_history_export(tmp_path: Path) -> None:
    states = [
        {"entity_id": "light.hall", "state": "off", "last_changed": "2026-01-05T06:00:00+00:00"},
        {"entity_id": "light.hall", "state": "on", "last_changed": "2026-01-05T07:00:00+00:00"},
        {"entity_id": "light.hall", "state": "on", "last_changed": "2026-01-05T07:01:00+00:00"},
        {"entity_id": "light.porch", "state": "off", "last_changed": "2026-01-05T07:02:00+00:00"},
        {"entity_id": "switch.kettle", "state": "off", "last_changed": "2026-01-05T06:00:00+00:00"},
        {"entity_id": "switch.kettle", "state": "on", "last_changed": "2026-01-05T07:05:00+00:00"},
        {"entity_id": "switch.kettle", "state": "on", "last_changed": "2026-01-05T20:00:00+00:00"},
        {"entity_id": "light.hall", "state": "off", "last_changed": "2026-01-05T22:30:00+00:00"},
        {"entity_id": "light.porch", "state": "unavailable", "last_changed": "2026-01-05T22:31:00+00:00"},
    ]
    src = tmp_path / "history.json"
    src.write_text(json.dumps([states[:4] + states[7:], states[4:7]]))  # /api/history/period shape
    out = tmp_path / "o.jsonl"
    assert main(["segment", "--input", str(src), "--output", str(out)]) == 0
    pieces = [json.loads(line) for line in out.read_text().splitlines()]
    # baselines, the unchanged kettle state and 'unavailable' are skipped; the hall light's off comes
    # 15.5 h later (gap > 9 h) but completes its on, so TSS keeps it in the same sequence
    assert [[b["device"] for b in p] for p in pieces] == [["light.hall", "switch.kettle", "light.hall"]]
    assert pieces[0][0]["time"].startswith("2026-01-05T07:00:00")
    assert [b["action"] for b in pieces[0]] == ["Light:switch on", "Switch:switch on", "Light:switch off"]


@pytest.mark.parametrize(
    ("content", "message"),
    [("", "empty"), ('[{"entity_id": "light.a", "state": "on"}]', "timestamp"), ('{"a": 1}', "array")],
)
def test_segment_errors_are_clear(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, message: str
) -> None:
    src = tmp_path / "in.json"
    src.write_text(content)
    assert main(["segment", "--input", str(src), "--output", str(tmp_path / "o")]) == 1
    assert message in capsys.readouterr().err


def test_segment_dataset_without_vocab(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "t.jsonl"
    src.write_text("[[0,0,0,0]]\n")
    assert main(["segment", "--input", str(src), "--output", str(tmp_path / "o")]) == 1
    assert "vocab.json" in capsys.readouterr().err
