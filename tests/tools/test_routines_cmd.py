"""``habitus routines`` and ``habitus bench routines``: round trips through the files and the JSON output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from habitus_engine.households import HouseholdConfig, generate_household, write_households
from habitus_engine.routines import routines_from_json
from habitus_engine.routines_events import parse_events
from habitus_engine.routines_miner import mine_event_log
from habitus_tools.cli import main


def test_routines_round_trip(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    household = generate_household(3, HouseholdConfig.for_variant("a"))
    events = tmp_path / "events.json"
    events.write_text(json.dumps(household.events), encoding="utf-8")
    out = tmp_path / "routines.json"
    assert main(["routines", "--events", str(events), "--json", str(out)]) == 0
    written = routines_from_json(out.read_text(encoding="utf-8"))
    expected = mine_event_log(parse_events(household.events))
    assert [r.to_json() for r in written] == [r.to_json() for r in expected]
    assert all(r.support >= 4 and 0 < r.confidence <= 1 for r in written)
    text = capsys.readouterr().out
    assert f"-> {len(expected)} routines" in text
    assert expected[0].describe() in text
    assert "trigger: time" in text and "action: " in text  # the automation, as YAML


def test_routines_from_an_events_jsonl_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_households(tmp_path, range(10, 12), HouseholdConfig.for_variant("b"))
    out = tmp_path / "second.json"
    assert (
        main(["routines", "--events", str(tmp_path / "events.jsonl"), "--household", "1", "--json", str(out)])
        == 0
    )
    second = generate_household(11, HouseholdConfig.for_variant("b"))
    assert [r.to_json() for r in routines_from_json(out.read_text(encoding="utf-8"))] == [
        r.to_json() for r in mine_event_log(parse_events(second.events))
    ]
    assert main(["routines", "--events", str(tmp_path / "events.jsonl"), "--household", "5"]) == 1
    assert "no line 5" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("[{]", "not JSON"),
        ('{"time": 1}', "JSON array"),
        ('[{"time": "2025-01-01T10:00:00", "entity_id": "light.a", "state": "on"}]', "no UTC offset"),
    ],
)
def test_routines_bad_input_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, message: str
) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content, encoding="utf-8")
    assert main(["routines", "--events", str(path)]) == 1
    assert message in capsys.readouterr().err
    assert main(["routines", "--events", str(tmp_path / "missing.json")]) == 1


def test_bench_routines_generates_and_scores(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "scores.json"
    args = ["bench", "routines", "--households", str(tmp_path / "hh"), "--generate", "2", "--variant", "b"]
    assert main([*args, "--seed", "7", "--json", str(out)]) == 0
    scores = json.loads(out.read_text(encoding="utf-8"))
    assert scores["households"] == 2
    for key in ("exact_match", "jaccard", "trigger_accuracy", "action_accuracy"):
        assert 0.0 <= scores[key] <= 1.0
    assert scores["jaccard"] >= 0.7
    assert scores["scalar_mae"] and scores["categorical_accuracy"]
    assert scores["seconds_per_household"] > 0
    assert json.loads(capsys.readouterr().out) == scores
    # scoring the same directory again (no --generate) gives the same figures
    assert main(["bench", "routines", "--households", str(tmp_path / "hh")]) == 0
    again = json.loads(capsys.readouterr().out)
    assert {k: v for k, v in again.items() if k != "seconds_per_household"} == {
        k: v for k, v in scores.items() if k != "seconds_per_household"
    }


def test_bench_routines_rejects_misaligned_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_households(tmp_path, range(2), HouseholdConfig.for_variant("b"))
    lines = (tmp_path / "routines.jsonl").read_text(encoding="utf-8").splitlines()
    (tmp_path / "routines.jsonl").write_text(lines[0] + "\n", encoding="utf-8")
    assert main(["bench", "routines", "--households", str(tmp_path)]) == 1
    assert "different line counts" in capsys.readouterr().err
