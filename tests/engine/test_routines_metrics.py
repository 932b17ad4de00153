"""EdgeWisePersona metrics: same-count protocol, exact match, Jaccard, trigger/action accuracy, fields."""

from __future__ import annotations

import pytest

from habitus_engine.routines import Routine
from habitus_engine.routines_metrics import RoutineScores, best_pairing, exact, jaccard

MORNING = Routine(
    {"time_of_day": "morning", "day_of_week": "weekday"},
    {
        "light.a": {"state": "on", "brightness": 200.0},
        "climate.a": {"hvac_mode": "heat", "temperature": 21.0},
    },
)
NIGHT = Routine({"time_of_day": "night"}, {"alarm_control_panel.home": {"state": "armed_night"}})


def test_identical_routines_score_perfectly() -> None:
    scores = RoutineScores()
    scores.add([NIGHT, MORNING], [MORNING, NIGHT])  # order does not matter: one-to-one pairing
    result = scores.to_json()
    assert result["exact_match"] == result["jaccard"] == 1.0
    assert result["trigger_accuracy"] == result["action_accuracy"] == 1.0
    assert result["scalar_mae"] == {"climate.temperature": 0.0, "light.brightness": 0.0}
    assert result["categorical_accuracy"] == {
        "alarm_control_panel.state": 1.0,
        "climate.hvac_mode": 1.0,
        "light.state": 1.0,
    }


def test_scalars_match_within_tolerance_but_not_strictly() -> None:
    near = Routine(
        MORNING.triggers,
        {
            "light.a": {"state": "on", "brightness": 205.0},
            "climate.a": {"hvac_mode": "heat", "temperature": 21.5},
        },
    )
    far = Routine(
        MORNING.triggers,
        {
            "light.a": {"state": "on", "brightness": 150.0},
            "climate.a": {"hvac_mode": "heat", "temperature": 21.0},
        },
    )
    assert exact(near, MORNING)
    assert not exact(near, MORNING, strict=True)
    assert not exact(far, MORNING)
    scores = RoutineScores()
    scores.add([near], [MORNING])
    assert scores.to_json()["scalar_mae"] == {"climate.temperature": 0.5, "light.brightness": 5.0}
    assert scores.to_json()["exact_match_strict"] == 0.0


def test_jaccard_counts_shared_components() -> None:
    # pred: 2 triggers + 4 settings; shares 1 trigger and 4 settings with MORNING
    pred = Routine({"time_of_day": "morning", "day_of_week": "weekend"}, MORNING.actions)
    assert jaccard(pred, MORNING) == pytest.approx(5 / 7)
    scores = RoutineScores()
    scores.add([pred], [MORNING])
    result = scores.to_json()
    assert result["exact_match"] == 0.0
    assert result["trigger_accuracy"] == 0.0
    assert result["action_accuracy"] == 1.0


def test_same_count_protocol_truncates_and_blanks() -> None:
    spurious = Routine({"weather": "rainy"}, {"switch.x": {"state": "on"}})
    truncated = RoutineScores()
    truncated.add([MORNING, spurious, NIGHT], [MORNING, NIGHT])  # NIGHT is cut off (3 > 2)
    assert truncated.to_json()["exact_match"] == 0.5
    missing = RoutineScores()
    missing.add([MORNING], [MORNING, NIGHT])  # the second slot is blank
    assert missing.to_json()["exact_match"] == 0.5
    assert missing.to_json()["jaccard"] == 0.5


def test_categorical_field_missing_from_prediction_is_wrong() -> None:
    pred = Routine(MORNING.triggers, {"light.a": {"state": "on", "brightness": 200.0}})
    scores = RoutineScores()
    scores.add([pred], [MORNING])
    assert scores.to_json()["categorical_accuracy"]["climate.hvac_mode"] == 0.0


def test_best_pairing_maximises_total_jaccard() -> None:
    assert sorted(best_pairing([NIGHT, MORNING], [MORNING, NIGHT])) == [(0, 1), (1, 0)]
    assert best_pairing([], [MORNING]) == []
