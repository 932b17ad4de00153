"""The device dictionary: HA entity changes -> SmartThings-style actions and settings."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from habitus_engine.devices import (
    SUPPORTED_DOMAINS,
    DeviceAction,
    DeviceState,
    describe_change,
    device_type,
    settings_of,
)
from habitus_engine.segment import is_off_action

VOCAB = (
    Path(__file__).resolve().parents[2] / ".." / "shared" / "datasets" / "smartthings" / "fr" / "vocab.json"
)


def S(domain: str, state: str, device_class: str | None = None, **attributes: object) -> DeviceState:
    return DeviceState(domain, state, device_class, attributes)


@pytest.mark.parametrize(
    ("current", "previous", "expected"),
    [
        (S("light", "on"), None, "Light"),
        (S("switch", "on"), None, "Switch"),
        (S("switch", "on", "outlet"), None, "SmartPlug"),
        (S("input_boolean", "on"), None, "Switch"),
        (S("fan", "on"), None, "Fan"),
        (S("climate", "heat"), None, "Heater"),
        (S("climate", "cool"), None, "AirConditioner"),
        (S("climate", "dry"), None, "AirConditioner"),
        (S("climate", "fan_only"), None, "AirConditioner"),
        (S("climate", "auto"), None, "AirConditioner"),
        (S("climate", "heat_cool"), None, "AirConditioner"),
        (S("climate", "off"), S("climate", "heat"), "Heater"),
        (S("climate", "off"), S("climate", "cool"), "AirConditioner"),
        (S("climate", "off"), None, "AirConditioner"),
        (S("climate", "off"), S("climate", "off"), "AirConditioner"),
        (S("cover", "open", "garage"), None, "GarageDoor"),
        (S("cover", "open", "gate"), None, "GarageDoor"),
        (S("cover", "open", "blind"), None, "Blind"),
        (S("cover", "open", "shade"), None, "Blind"),
        (S("cover", "open", "curtain"), None, "Blind"),
        (S("cover", "open", "shutter"), None, "Blind"),
        (S("cover", "open", "awning"), None, "Blind"),
        (S("cover", "open"), None, "Blind"),
        (S("cover", "open", "window"), None, "Window"),
        (S("cover", "open", "door"), None, "Door"),
        (S("media_player", "on", "tv"), None, "Television"),
        (S("media_player", "on", "speaker"), None, "NetworkAudio"),
        (S("media_player", "on", "receiver"), None, "NetworkAudio"),
        (S("media_player", "on"), None, "MediaPlayer"),
        (S("lock", "locked"), None, "SmartLock"),
        (S("vacuum", "cleaning"), None, "RobotCleaner"),
        (S("valve", "open"), None, "WaterValve"),
        (S("siren", "on"), None, "Siren"),
        (S("humidifier", "on"), None, "Humidifier"),
        (S("water_heater", "eco"), None, "WaterHeater"),
        (S("alarm_control_panel", "armed_away"), None, "SecuritySystem"),
        (S("camera", "idle"), None, "Camera"),
        (S("sensor", "21.5", "temperature"), None, None),
        (S("person", "home"), None, None),
    ],
)
def test_device_type(current: DeviceState, previous: DeviceState | None, expected: str | None) -> None:
    assert device_type(current, previous) == expected


CHANGES = [
    ("light on", S("light", "off"), S("light", "on", brightness=128), "Light:switch on"),
    ("light off", S("light", "on", brightness=128), S("light", "off"), "Light:switch off"),
    ("switch", S("switch", "off"), S("switch", "on"), "Switch:switch on"),
    ("outlet", S("switch", "on", "outlet"), S("switch", "off", "outlet"), "SmartPlug:switch off"),
    ("input_boolean", S("input_boolean", "off"), S("input_boolean", "on"), "Switch:switch on"),
    ("fan on", S("fan", "off"), S("fan", "on", percentage=50), "Fan:switch on"),
    ("heater on", S("climate", "off"), S("climate", "heat", temperature=21), "Heater:switch on"),
    ("heater off", S("climate", "heat"), S("climate", "off"), "Heater:switch off"),
    ("ac off", S("climate", "cool"), S("climate", "off"), "AirConditioner:switch off"),
    ("ac on", S("climate", "off"), S("climate", "cool"), "AirConditioner:switch on"),
    ("heat to cool", S("climate", "heat"), S("climate", "cool"), "AirConditioner:setAirConditionerMode"),
    ("cool to heat", S("climate", "cool"), S("climate", "heat"), "Heater:setHeaterMode"),
    ("blind open", S("cover", "closed"), S("cover", "open"), "Blind:windowShade open"),
    ("blind close", S("cover", "closing"), S("cover", "closed"), "Blind:windowShade close"),
    ("blind stops", S("cover", "closing"), S("cover", "open"), "Blind:windowShadeLevel setShadeLevel"),
    (
        "garage open",
        S("cover", "opening", "garage"),
        S("cover", "open", "garage"),
        "GarageDoor:doorControl open",
    ),
    (
        "garage close",
        S("cover", "open", "garage"),
        S("cover", "closed", "garage"),
        "GarageDoor:doorControl close",
    ),
    ("door open", S("cover", "closed", "door"), S("cover", "open", "door"), "Door:doorControl open"),
    ("window", S("cover", "closed", "window"), S("cover", "open", "window"), "Window:windowShade open"),
    ("lock", S("lock", "unlocked"), S("lock", "locked"), "SmartLock:lock lock"),
    ("unlock", S("lock", "unlocking"), S("lock", "unlocked"), "SmartLock:lock unlock"),
    ("tv on", S("media_player", "off", "tv"), S("media_player", "on", "tv"), "Television:switch on"),
    ("tv off", S("media_player", "on", "tv"), S("media_player", "standby", "tv"), "Television:switch off"),
    (
        "play",
        S("media_player", "paused", "speaker"),
        S("media_player", "playing", "speaker"),
        "NetworkAudio:mediaPlayback play",
    ),
    ("pause", S("media_player", "playing"), S("media_player", "paused"), "MediaPlayer:mediaPlayback pause"),
    ("stop", S("media_player", "playing"), S("media_player", "idle"), "MediaPlayer:mediaPlayback stop"),
    (
        "play from off",
        S("media_player", "off"),
        S("media_player", "playing"),
        "MediaPlayer:mediaPlayback play",
    ),
    (
        "vacuum",
        S("vacuum", "docked"),
        S("vacuum", "cleaning"),
        "RobotCleaner:setRobotCleanerMovement cleaning",
    ),
    (
        "vacuum home",
        S("vacuum", "cleaning"),
        S("vacuum", "returning"),
        "RobotCleaner:setRobotCleanerMovement homing",
    ),
    ("valve", S("valve", "open"), S("valve", "closed"), "WaterValve:valve close"),
    ("siren", S("siren", "off"), S("siren", "on"), "Siren:alarm both"),
    ("humidifier", S("humidifier", "off"), S("humidifier", "on"), "Humidifier:switch on"),
    ("water heater on", S("water_heater", "off"), S("water_heater", "eco"), "WaterHeater:switch on"),
    (
        "water heater mode",
        S("water_heater", "eco"),
        S("water_heater", "performance"),
        "WaterHeater:setWaterHeaterMode",
    ),
    (
        "arm",
        S("alarm_control_panel", "arming"),
        S("alarm_control_panel", "armed_away"),
        "SecuritySystem:securitySystem armAway",
    ),
    (
        "disarm",
        S("alarm_control_panel", "armed_home"),
        S("alarm_control_panel", "disarmed"),
        "SecuritySystem:securitySystem disarm",
    ),
    ("camera", S("camera", "idle"), S("camera", "recording"), "Camera:videoCapture capture"),
    # settings changed by a person while the device is active
    ("dim", S("light", "on", brightness=255), S("light", "on", brightness=80), "Light:setLevel"),
    (
        "ct",
        S("light", "on", color_temp_kelvin=2700, hs_color=(30, 60)),
        S("light", "on", color_temp_kelvin=4000, hs_color=(27, 20)),
        "Light:setColorTemperature",
    ),
    ("colour", S("light", "on", hs_color=(30, 60)), S("light", "on", hs_color=(200, 60)), "Light:setColor"),
    ("effect", S("light", "on", effect="none"), S("light", "on", effect="rainbow"), "Light:setLightingMode"),
    ("fan speed", S("fan", "on", percentage=33), S("fan", "on", percentage=66), "Fan:fanSpeed setFanSpeed"),
    (
        "volume",
        S("media_player", "playing", "speaker", volume_level=0.2),
        S("media_player", "playing", "speaker", volume_level=0.5),
        "NetworkAudio:setVolume",
    ),
    (
        "mute",
        S("media_player", "on", "tv", is_volume_muted=False),
        S("media_player", "on", "tv", is_volume_muted=True),
        "Television:audioMute mute",
    ),
    (
        "source",
        S("media_player", "on", "tv", source="HDMI 1"),
        S("media_player", "on", "tv", source="HDMI 2"),
        "Television:setInputSource",
    ),
    (
        "heat setpoint",
        S("climate", "heat", temperature=20),
        S("climate", "heat", temperature=21.5),
        "Heater:setHeatingSetpoint",
    ),
    (
        "cool setpoint",
        S("climate", "cool", temperature=25),
        S("climate", "cool", temperature=23),
        "AirConditioner:setCoolingSetpoint",
    ),
    (
        "ac fan",
        S("climate", "cool", fan_mode="low"),
        S("climate", "cool", fan_mode="high"),
        "AirConditioner:setFanMode",
    ),
    (
        "heater fan",
        S("climate", "heat", fan_mode="low"),
        S("climate", "heat", fan_mode="high"),
        "Heater:setHeaterFanMode",
    ),
    (
        "shade level",
        S("cover", "open", current_position=100),
        S("cover", "open", current_position=40),
        "Blind:windowShadeLevel setShadeLevel",
    ),
    (
        "humidity",
        S("humidifier", "on", humidity=40),
        S("humidifier", "on", humidity=55),
        "Humidifier:setHumidity",
    ),
]


@pytest.mark.parametrize(("old", "new", "action"), [c[1:] for c in CHANGES], ids=[c[0] for c in CHANGES])
def test_describe_change_names_the_action(old: DeviceState, new: DeviceState, action: str) -> None:
    described = describe_change(old, new)
    assert described is not None
    assert described.action == action


NOT_BEHAVIOURS = [
    ("unchanged", S("light", "on", brightness=10), S("light", "on", brightness=10)),
    (
        "measured churn",
        S("climate", "heat", current_temperature=19),
        S("climate", "heat", current_temperature=19.5),
    ),
    ("hvac_action", S("climate", "heat", hvac_action="idle"), S("climate", "heat", hvac_action="heating")),
    (
        "media position",
        S("media_player", "playing", media_position=10),
        S("media_player", "playing", media_position=20),
    ),
    ("setting while off", S("climate", "off", temperature=20), S("climate", "off", temperature=22)),
    ("light attrs while off", S("light", "off", friendly_name="a"), S("light", "off", friendly_name="b")),
    ("unavailable", S("light", "on"), S("light", "unavailable")),
    ("back from unavailable", S("light", "unavailable"), S("light", "on")),
    ("unknown", S("switch", "off"), S("switch", "unknown")),
    ("transitional", S("cover", "closed"), S("cover", "opening")),
    ("locking", S("lock", "unlocked"), S("lock", "locking")),
    ("new entity", None, S("light", "on")),
    ("unsupported domain", S("sensor", "1"), S("sensor", "2")),
    (
        "garage position",
        S("cover", "open", "garage", current_position=100),
        S("cover", "open", "garage", current_position=90),
    ),
    ("domain changed", S("switch", "off"), S("light", "on")),
]


@pytest.mark.parametrize(("old", "new"), [c[1:] for c in NOT_BEHAVIOURS], ids=[c[0] for c in NOT_BEHAVIOURS])
def test_describe_change_ignores_what_is_not_a_behaviour(old: DeviceState | None, new: DeviceState) -> None:
    assert describe_change(old, new) is None


def test_settings_are_read_from_the_new_state() -> None:
    light = S(
        "light", "on", brightness=200, color_temp_kelvin=3000, hs_color=(27.5, 44.0), effect="none", x=1
    )
    assert settings_of(light) == {
        "brightness": 200.0,
        "color_temp_kelvin": 3000.0,
        "hs_color": "27.5,44.0",
        "effect": "none",
    }
    climate = S("climate", "heat", temperature=21, fan_mode="auto", current_temperature=18)
    assert settings_of(climate) == {"hvac_mode": "heat", "temperature": 21.0, "fan_mode": "auto"}
    media = S("media_player", "playing", volume_level=0.3, is_volume_muted=False, source="Radio")
    assert settings_of(media) == {"volume_level": 0.3, "is_volume_muted": "false", "source": "Radio"}
    assert settings_of(S("light", "off", brightness=None)) == {}


def test_change_carries_settings_and_several_changes_name_the_first() -> None:
    old = S("light", "on", brightness=100, color_temp_kelvin=2700)
    new = S("light", "on", brightness=200, color_temp_kelvin=4000)
    assert describe_change(old, new) == DeviceAction(
        "Light", "setColorTemperature", {"brightness": 200.0, "color_temp_kelvin": 4000.0}
    )


def test_off_controls_are_seen_as_off_by_tss() -> None:
    """TSS's SemanticChecker links these to the 'on' that started them."""
    for old, new in [
        (S("light", "on"), S("light", "off")),
        (S("cover", "open"), S("cover", "closed")),
        (S("cover", "open", "garage"), S("cover", "closed", "garage")),
        (S("media_player", "playing"), S("media_player", "paused")),
        (S("valve", "open"), S("valve", "closed")),
        (S("siren", "on"), S("siren", "off")),
        (S("alarm_control_panel", "armed_away"), S("alarm_control_panel", "disarmed")),
        (S("climate", "heat"), S("climate", "off")),
    ]:
        described = describe_change(old, new)
        assert described is not None
        assert is_off_action(described.action), described.action
    assert not is_off_action(describe_change(S("light", "off"), S("light", "on")).action)  # type: ignore[union-attr]


def test_actions_share_the_smartthings_vocabulary() -> None:
    """Most actions produced for the common domains exist verbatim in the FR dataset's vocabulary."""
    if not VOCAB.exists():
        pytest.skip(f"dataset not found at {VOCAB}")
    vocab = set(json.loads(VOCAB.read_text())["actions"])
    produced = {
        c[3] for c in CHANGES if c[3].split(":")[0] in {"Light", "Switch", "SmartPlug", "Fan", "Television"}
    }
    assert {"Light:switch on", "Light:switch off", "Light:setLevel", "Television:switch on"} <= produced
    assert produced <= vocab, produced - vocab


def test_every_supported_domain_has_a_type() -> None:
    assert "light" in SUPPORTED_DOMAINS and "camera" in SUPPORTED_DOMAINS
    for domain in SUPPORTED_DOMAINS:
        assert device_type(S(domain, "on")) is not None


_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-1000, 1000),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
    st.lists(st.floats(-400, 400), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)
_states = st.sampled_from(
    [
        "on",
        "off",
        "open",
        "closed",
        "opening",
        "heat",
        "cool",
        "playing",
        "idle",
        "locked",
        "unavailable",
        "x",
    ]
)
_attribute_names = st.sampled_from(
    ["brightness", "color_temp_kelvin", "hs_color", "effect", "temperature", "volume_level", "source",
     "is_volume_muted", "percentage", "current_position", "fan_mode", "humidity", "friendly_name"]
)  # fmt: skip


@st.composite
def _device_states(draw: st.DrawFn) -> DeviceState:
    return DeviceState(
        domain=draw(st.sampled_from([*SUPPORTED_DOMAINS, "sensor", ""])),
        state=draw(_states),
        device_class=draw(
            st.one_of(st.none(), st.sampled_from(["tv", "outlet", "garage", "door", "speaker"]))
        ),
        attributes=draw(st.dictionaries(_attribute_names, _values, max_size=5)),
    )


@given(old=st.one_of(st.none(), _device_states()), new=_device_states())
@settings(max_examples=300, deadline=None)
def test_any_state_pair_maps_to_nothing_or_a_well_formed_action(
    old: DeviceState | None, new: DeviceState
) -> None:
    """Fuzzed state pairs (odd attribute types included) never raise; actions are "Type:control"."""
    described = describe_change(old, new)
    if described is not None:
        device_kind, _, control = described.action.partition(":")
        assert device_kind == device_type(new, old) and control
        assert all(isinstance(v, str) or math.isfinite(v) for v in described.settings.values())
