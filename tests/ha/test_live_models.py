"""The live model bundle: base models, vocabulary mapping, ONNX Runtime and the numpy fallback."""

from __future__ import annotations

import sys
from dataclasses import replace

import numpy as np
import pytest

from custom_components.habitus.engine.behaviour import Behaviour
from custom_components.habitus.engine.calibration import MIN_CALIBRATION_SEQUENCES
from custom_components.habitus.live_const import SCORING_WINDOW
from custom_components.habitus.live_models import (
    ModelBundle,
    ThresholdSource,
    calibrate_base,
    load_base_bundle,
    score_open_sequence,
)

HOUR = 491_000.0  # epoch hours (2026)
SEQUENCE = [
    Behaviour(time=HOUR, device="valve.main", action="WaterValve:valve open"),
    Behaviour(time=HOUR + 0.01, device="humidifier.bath", action="Humidifier:switch on"),
    Behaviour(time=HOUR + 0.02, device="light.kitchen", action="Light:switch on"),
]


@pytest.fixture(scope="module")
def ort_bundle() -> ModelBundle:
    return load_base_bundle()


def test_onnxruntime_serves_when_it_imports(ort_bundle: ModelBundle) -> None:
    assert ort_bundle.served_by == "onnxruntime"
    assert ort_bundle.info.version == "base-fr" and ort_bundle.info.data == 1125
    assert "detected_share_spring_heater" in ort_bundle.info.metrics  # TransAE's card figures


def test_numpy_serves_when_onnxruntime_does_not_import(
    ort_bundle: ModelBundle, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # "import onnxruntime" raises ImportError
    bundle = load_base_bundle()
    assert bundle.served_by == "numpy"
    fallback = score_open_sequence(bundle, HOUR, SEQUENCE, len(SEQUENCE))
    reference = score_open_sequence(ort_bundle, HOUR, SEQUENCE, len(SEQUENCE))
    assert fallback.score is not None and reference.score is not None
    np.testing.assert_allclose(fallback.score, reference.score, atol=1e-4)
    assert [a for a, _ in fallback.top_k] == [a for a, _ in reference.top_k]


def test_behaviours_map_by_entity_then_device_type_and_unknown_ones_are_reported(
    ort_bundle: ModelBundle,
) -> None:
    vocab = ort_bundle.vocab
    raw = vocab.raw(SEQUENCE[0])
    assert raw is not None
    assert vocab.devices[raw[2]] == "WaterValve" and vocab.actions[raw[3]] == "WaterValve:valve open"
    assert vocab.raw(SEQUENCE[1]) is None and not vocab.knows(SEQUENCE[1])
    result = score_open_sequence(ort_bundle, HOUR, SEQUENCE, 7)
    assert result.unknown == ("Humidifier:switch on",)
    assert result.length == 7
    assert [action for _, _, action in result.behaviours] == ["WaterValve:valve open", "Light:switch on"]
    assert len(result.top_k) == 5


def test_a_sequence_the_models_do_not_know_has_no_score(ort_bundle: ModelBundle) -> None:
    result = score_open_sequence(ort_bundle, HOUR, SEQUENCE[1:2], 1)
    assert result.score is None and not result.anomalous and result.top_k == ()


def test_the_base_threshold_is_calibrated_on_every_reading_live_scoring_made_of_each_sequence(
    ort_bundle: ModelBundle,
) -> None:
    valve = Behaviour(time=HOUR, device="valve.main", action="WaterValve:valve open")
    humid = Behaviour(time=HOUR, device="humidifier.bath", action="Humidifier:switch on")  # not in FR
    # a long TSS sequence: 15 valves, 12 unknown humidifier changes, a light; live scoring read it after
    # each behaviour: the known ones among the last 20 so far, the last 10 of those
    long_day = [replace(valve, time=HOUR + i / 60) for i in range(15)]
    long_day += [replace(humid, time=HOUR + 1 + i / 60) for i in range(12)] + [SEQUENCE[2]]
    home = [long_day, [humid], *([SEQUENCE] * (MIN_CALIBRATION_SEQUENCES - 2))]
    short = calibrate_base(ort_bundle, home, revision=7)
    assert (short.sequences, short.threshold, short.revision) == (MIN_CALIBRATION_SEQUENCES - 1, None, 7)
    assert replace(ort_bundle, calibration=short).threshold_source is ThresholdSource.CALIBRATING

    calibration = calibrate_base(ort_bundle, [*home, SEQUENCE], revision=8)
    assert calibration.sequences == MIN_CALIBRATION_SEQUENCES  # the humidifier-only one is not counted
    served = replace(ort_bundle, calibration=calibration)
    assert served.threshold_source is ThresholdSource.HOME and served.threshold == calibration.threshold
    assert served.threshold_status()["calibration_sequences"] == MIN_CALIBRATION_SEQUENCES

    live = [
        score_open_sequence(ort_bundle, HOUR, long_day[max(0, end - SCORING_WINDOW) : end], end).score
        for end in range(1, len(long_day) + 1)
    ]  # what the scorer read after each behaviour
    same = calibrate_base(ort_bundle, [long_day] * MIN_CALIBRATION_SEQUENCES, revision=0)  # one score
    assert same.threshold == pytest.approx(max(s for s in live if s is not None), abs=1e-4)
    assert same.threshold > (live[-1] or 0.0) + 1e-3  # not only what it read last
