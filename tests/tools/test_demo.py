"""``habitus demo``: dataset -> service mapping, accelerated timeline, flow answers, and the real thing.

The last test runs the whole demo headless against a real ``hass`` server (a subprocess on 127.0.0.1)
and checks what Habitus really learned (the home's past, then the live replay), the
anomalies it flagged (injected ones included), its predictions, one adaptation with the embedded
Gemma 3 270M, the routines it suggests (against the routine household's true ones), HA's loop lag and
memory, and, where Chromium is installed, what the UI shows. The others
are fast unit tests; service calls are checked against Home Assistant's own ``services.yaml`` files, not
a hand-made list.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml
from homeassistant.core import Context

from custom_components.habitus.ingest import origin_of
from habitus_engine.behaviour import Behaviour
from habitus_engine.datasets import RawSequence, Vocabulary, iter_sequences, load_vocabulary, smartgen_hours
from habitus_engine.households import Household
from habitus_engine.models import TransAE
from habitus_engine.routines import Routine
from habitus_engine.segment import TSSConfig, split_sequences
from habitus_tools.demo.browser import BrowserCheck, check_frontend, chromium_command, find_chromium
from habitus_tools.demo.controls import Command, Intent, parse_control, split_action
from habitus_tools.demo.habitus_setup import fill_form, menu_choice
from habitus_tools.demo.home import classify, plan_device, slugify
from habitus_tools.demo.injections import InjectedWindow, Injector, flagged_injections, resolve_injections
from habitus_tools.demo.mapping import (
    SKIP_REASONS,
    ActionMapper,
    ServiceCall,
    Skip,
    map_action,
    plan_home,
)
from habitus_tools.demo.observe import (
    adaptation_phase_at,
    anomaly_times,
    completed_jobs,
    hass_rss_mb,
    job_ended,
    prediction_count,
)
from habitus_tools.demo.past import PAST_END_MARGIN_S, split_past
from habitus_tools.demo.paths import HABITUS_INTEGRATION_DIR
from habitus_tools.demo.replay import ReplayStats
from habitus_tools.demo.routines_past import (
    END_MARGIN_DAYS,
    HOUSEHOLD_DEVICES,
    HouseholdPast,
    batches,
    epoch_at,
    household_devices,
    matches,
    plan_household_past,
    routine_household,
    routines_figures,
    service_calls,
    suggested_routine,
    virtual_entity,
    week_shift,
)
from habitus_tools.demo.summary import DemoSummary, find_habitus_sensors
from habitus_tools.demo.timeline import ReplayStep, dataset_offsets, replay_steps, wall_seconds
from habitus_tools.demo.virtual_home.probe import origin_context
from habitus_tools.demo.watch import StateChange, parse_change

ROOT = Path(__file__).resolve().parents[2]
DATASETS = ROOT.parent / "shared" / "datasets" / "smartthings"
SMARTTHINGS = ("fr", "sp")


@cache
def vocab(name: str) -> Vocabulary:
    return load_vocabulary(DATASETS / name)


@cache
def service_fields(domain: str) -> dict[str, set[str]]:
    """Service name -> its field names (sections flattened), from HA's installed services.yaml."""
    import homeassistant.components  # noqa: PLC0415 - only the package path is needed

    path = Path(homeassistant.components.__path__[0]) / domain / "services.yaml"
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))

    def names(fields: dict[str, Any]) -> set[str]:
        found: set[str] = set()
        for name, spec in (fields or {}).items():
            found |= names(spec["fields"]) if isinstance(spec, dict) and "fields" in spec else {name}
        return found

    return {
        svc: names((spec or {}).get("fields", {})) for svc, spec in raw.items() if not svc.startswith(".")
    }


def assert_valid_call(call: ServiceCall) -> None:
    services = service_fields(call.domain)
    assert call.service in services, f"{call.name} is not a {call.domain} service"
    extra = set(call.data) - {"entity_id"}
    assert extra <= services[call.service], f"{call.name} has no field(s) {extra - services[call.service]}"
    assert call.data["entity_id"] == f"{call.domain}.{call.data['entity_id'].split('.', 1)[1]}"


# --- mapping ------------------------------------------------------------------------------------


@pytest.mark.parametrize("dataset", SMARTTHINGS)
def test_every_action_of_the_vocabulary_maps_to_a_real_service_or_a_counted_skip(dataset: str) -> None:
    """Each action, on the device its prefix names and on every other virtual device of the home."""
    home = plan_home(vocab(dataset))
    calls = 0
    for action in vocab(dataset).actions:
        for device in home.values():
            for variant in range(3):
                mapped = map_action(action, device, variant)
                if isinstance(mapped, ServiceCall):
                    assert_valid_call(mapped)
                    assert mapped.domain == device.domain and mapped.data["entity_id"] == device.entity_id
                    calls += 1
                else:
                    assert isinstance(mapped, Skip) and mapped.reason in SKIP_REASONS
    assert calls > 0


@pytest.mark.parametrize("dataset", SMARTTHINGS)
def test_own_device_actions_are_understood(dataset: str) -> None:
    """On its own device type, an action is a call, or a skip the mapping can explain (never 'unknown'
    except the two controls whose meaning the SmartThings data does not reveal)."""
    unknown = []
    for action in vocab(dataset).actions:
        mapped = map_action(action, plan_device(split_action(action)[0], set()))
        if isinstance(mapped, Skip) and mapped.reason == "unknown":
            unknown.append(action)
    assert unknown == ["RobotCleaner:setRobotCleanerMovement after"]


@pytest.mark.parametrize(
    ("action", "entity_id", "service", "data"),
    [
        ("Light:switch on", "light.light", "light.turn_on", {}),
        ("Light:switch off", "light.light", "light.turn_off", {}),
        ("Light:setLevel", "light.light", "light.turn_on", {"brightness": 64}),
        ("Blind:windowShade close", "cover.blind", "cover.close_cover", {}),
        ("Blind:windowShadeLevel setShadeLevel", "cover.blind", "cover.set_cover_position", {"position": 25}),
        ("GarageDoor:doorControl open", "cover.garage_door", "cover.open_cover", {}),
        ("Television:switch on", "media_player.television", "media_player.turn_on", {}),
        ("NetworkAudio:mediaPlayback play", "media_player.network_audio", "media_player.media_play", {}),
        ("Television:audioMute mute", "media_player.television", "media_player.volume_mute",
         {"is_volume_muted": True}),
        ("Heater:switch on", "climate.heater", "climate.set_hvac_mode", {"hvac_mode": "heat"}),
        ("AirConditioner:switch on", "climate.air_conditioner", "climate.set_hvac_mode",
         {"hvac_mode": "cool"}),
        ("AirConditioner:switch off", "climate.air_conditioner", "climate.set_hvac_mode",
         {"hvac_mode": "off"}),
        ("SmartLock:lock lock", "lock.smart_lock", "lock.lock", {}),
        ("SmartLock:lock unlock", "lock.smart_lock", "lock.unlock", {}),
        ("RobotCleaner:setRobotCleanerMovement homing", "vacuum.robot_cleaner", "vacuum.return_to_base", {}),
        ("RobotCleaner:setRobotCleanerTurboMode off", "vacuum.robot_cleaner", "vacuum.set_fan_speed",
         {"fan_speed": "standard"}),
        ("WaterValve:valve open", "valve.water_valve", "valve.open_valve", {}),
        ("Siren:alarm both", "siren.siren", "siren.turn_on", {}),
        ("Fan:fanSpeed setFanSpeed", "fan.fan", "fan.set_percentage", {"percentage": 33}),
        ("Washer:washerOperatingState setMachineState run", "switch.washer", "switch.turn_on", {}),
        ("SmartPlug:powerToggle", "switch.smart_plug", "switch.toggle", {}),
    ],
)  # fmt: skip
def test_known_actions(action: str, entity_id: str, service: str, data: dict[str, Any]) -> None:
    mapper = ActionMapper(vocab("fr"))
    device_id = vocab("fr").devices.index(split_action(action)[0])
    mapped = mapper.map(device_id, vocab("fr").actions.index(action), variant=0)
    assert isinstance(mapped, ServiceCall)
    assert (mapped.name, mapped.data) == (service, {"entity_id": entity_id, **data})


@pytest.mark.parametrize(
    ("action", "reason"),
    [
        ("Camera:notification", "no_state"),
        ("Light:refresh refresh", "no_state"),
        ("None:location", "no_state"),
        ("SmartLock:alarm off", "unsupported"),
        ("RobotCleaner:setRobotCleanerMovement after", "unknown"),
    ],
)
def test_skips_say_why(action: str, reason: str) -> None:
    device = plan_device(split_action(action)[0], set())
    assert map_action(action, device) == Skip(reason)  # type: ignore[arg-type]


def test_device_without_replayable_actions_gets_no_entity_and_its_behaviours_are_skipped() -> None:
    mapper = ActionMapper(vocab("fr"))
    none_id = vocab("fr").devices.index("None")
    assert none_id not in mapper.home
    assert mapper.map(none_id, vocab("fr").actions.index("Light:switch on")) == Skip("no_device")
    with pytest.raises(IndexError):
        mapper.map(len(vocab("fr").devices) + 5, 0)


def test_virtual_home_plan() -> None:
    home = plan_home(vocab("fr"))
    by_name = {d.dataset_device: d for d in home.values()}
    assert by_name["Television"].domain == "media_player" and by_name["Television"].kind == "tv"
    assert by_name["Heater"].kind == "heater" and by_name["AirConditioner"].kind == "air_conditioner"
    assert by_name["GarageDoor"].kind == "garage" and by_name["Blind"].kind == "blind"
    assert len({d.entity_id for d in home.values()}) == len(home)
    # AN's device names are lower case words; two of them slug to the same key and must not collide.
    an_home = plan_home(vocab("an"))
    assert len({d.key for d in an_home.values()}) == len(an_home)
    assert classify("desklight")[0] == "light" and classify("curtains")[0] == "cover"
    assert slugify("AirConditioner") == "air_conditioner" and slugify("xiaodu-bulb") == "xiaodu_bulb"


def test_control_parsing() -> None:
    assert parse_control("temper_up") == Command(Intent.SETPOINT, "up")
    assert parse_control("setRobotCleanerTurboMode silence") == Command(Intent.FAN_SPEED, "quiet")
    assert parse_control("audioMute unmute") == Command(Intent.UNMUTE)
    assert parse_control("lock unlock") == Command(Intent.UNLOCK)
    assert parse_control("no such control") is None


# --- timeline -------------------------------------------------------------------------------------


def test_offsets_spread_bursts_cap_silences_and_pass_over_skipped_behaviours() -> None:
    seq = [(0, 0, 1, 1), (0, 0, 1, 1), (0, 3, 1, 1), (1, 0, 1, 1)]  # 0 h, 0 h, 9 h, 24 h
    assert dataset_offsets(seq) == pytest.approx([0.0, 0.05, 9.0, 21.0])  # 15 h silence -> 12 h
    assert dataset_offsets(seq, [False, True, True, False]) == pytest.approx([0.0, 0.0, 9.0, 9.0])


def test_a_sequence_of_skipped_behaviours_takes_no_time() -> None:
    seqs = [[(0, 0, 1, 1), (0, 2, 1, 1)], [(0, 0, 2, 2)], [(0, 0, 1, 1)]]
    steps = list(replay_steps(lambda: seqs, 3600.0, replayable=lambda dev, _act: dev == 1, loop=False))
    times = [s.at for s in steps]
    # seq 0: 0 h and 6 h; seq 1 (not replayable) costs nothing; seq 2 starts 12 h after seq 0's end.
    assert times == pytest.approx([0.0, 6 * 0.95, 18 * 0.95, 18 * 0.95])
    assert [s.sequence_number for s in steps] == [0, 0, 1, 2]


def test_replay_loops_the_dataset() -> None:
    steps = replay_steps(lambda: [[(0, 0, 1, 1)]], 3600.0)
    first = [next(steps) for _ in range(3)]
    assert [s.sequence_number for s in first] == [0, 1, 2]
    assert first[2].at > first[1].at > first[0].at


def _steps_of(seq: RawSequence, speed: float) -> list[ReplayStep]:
    return list(replay_steps(lambda: [seq], speed, loop=False))


@pytest.mark.parametrize("dataset", SMARTTHINGS)
def test_accelerated_clock_keeps_tss_pieces(dataset: str) -> None:
    """TSS with Δt_max/speed and T_max/speed on the wall clock cuts where TSS cuts the dataset clock.

    The SemanticChecker is left out (``is_off`` always false) because the demo caps silences longer
    than Δt_max, which only matters to how far back an "off" may link.
    """
    speed = 14400.0
    paper = TSSConfig(max_gap_hours=9.0, max_span_hours=24.0)
    fast = TSSConfig(max_gap_hours=9.0 / speed, max_span_hours=24.0 / speed)
    path = DATASETS / dataset / "raw" / "trn.jsonl"
    checked = 0
    for labelled in iter_sequences(path):
        seq = labelled.seq
        hours = smartgen_hours(seq)
        dataset_time = [Behaviour(t, str(d), str(a)) for t, (_, _, d, a) in zip(hours, seq, strict=True)]
        wall_time = [Behaviour(s.at / 3600.0, str(s.device), str(s.action)) for s in _steps_of(seq, speed)]
        expected = [len(p) for p in split_sequences(dataset_time, paper, is_off=lambda _a: False)]
        assert [len(p) for p in split_sequences(wall_time, fast, is_off=lambda _a: False)] == expected, seq
        checked += 1
    assert checked > 1000


# --- flows and summary ----------------------------------------------------------------------------


def test_fill_form_answers_only_the_fields_a_form_has() -> None:
    schema = [
        {"name": "include_domains", "required": False, "default": []},
        {"name": "tss", "type": "expandable", "schema": [{"name": "max_gap_hours"}, {"name": "other"}]},
    ]
    values = {"include_domains": ["light"], "max_gap_hours": 0.001, "exclude_entities": []}
    assert fill_form(schema, values) == {"include_domains": ["light"], "tss": {"max_gap_hours": 0.001}}


def test_summary_is_a_flat_json_object(tmp_path: Path) -> None:
    stats = ReplayStats(events_replayed=7, call_errors=1, dataset_sequences=3, elapsed_s=2.04)
    stats.skipped.update({"no_state": 2, "unknown": 1})
    summary = DemoSummary()
    summary.update(stats.figures())
    summary.update({"behaviours": 5, "sequences": 2, "learning_state": "learning"})
    summary.write(tmp_path / "out" / "s.json")
    written = json.loads((tmp_path / "out" / "s.json").read_text())
    assert written["events_replayed"] == 7 and written["actions_skipped"] == 3
    assert {f"skipped_{r}" for r in SKIP_REASONS} <= set(written)
    assert written["skipped_unsupported"] == 0 and written["replay_seconds"] == 2.0
    assert all(not isinstance(v, dict | list) for v in written.values())


def test_habitus_sensors_are_found_by_id_or_by_name() -> None:
    states = {e: {} for e in ("sensor.habitus_behaviours_learned", "sensor.habitus_2_sequences_learned")}
    found = find_habitus_sensors(states)  # type: ignore[arg-type]
    assert found == {
        "behaviours": "sensor.habitus_behaviours_learned",
        "sequences": "sensor.habitus_2_sequences_learned",
    }


def test_bad_options_fail_before_home_assistant_starts(tmp_path: Path) -> None:
    for args, message in (
        (["--speed", "20000"], "--speed must be in"),
        (["--dataset", str(tmp_path)], "not a dataset vocabulary"),
    ):
        result = subprocess.run(
            [sys.executable, "-m", "habitus_tools.cli", "demo", "--for", "5", *args],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 2 and message in result.stderr
        assert "Starting Home Assistant" not in result.stdout


def test_a_taken_port_is_a_clear_error_and_starts_nothing() -> None:
    # The port is held by another process: pytest-socket forbids sockets inside the test process.
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD_PORT], stdout=subprocess.PIPE, stdin=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None
        port = int(holder.stdout.readline())
        result = subprocess.run(
            [sys.executable, "-m", "habitus_tools.cli", "demo", "--for", "5", "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        holder.kill()
        holder.wait()
    assert result.returncode == 1
    assert f"port {port} on 127.0.0.1 is not available" in result.stderr
    assert "Starting Home Assistant" not in result.stdout


_HOLD_PORT = """
import socket, sys
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen()
print(s.getsockname()[1], flush=True)
sys.stdin.read()
"""


# --- the home's past, injected anomalies, live counts -------------------------------------------


def test_the_past_ends_before_home_assistant_started_and_the_live_replay_continues_it() -> None:
    mapper = ActionMapper(vocab("fr"))
    path = DATASETS / "fr" / "raw" / "trn.jsonl"
    steps = replay_steps(lambda: (s.seq for s in iter_sequences(path)), 14400.0, mapper.replayable)
    started = 1_000_000.0
    past = split_past(steps, mapper, days=30, speed=14400.0, end_epoch=started)
    times = [c["at"] for c in past.calls]
    assert past.calls and times == sorted(times)
    assert started - PAST_END_MARGIN_S - wall_seconds(30 * 24.0, 14400.0) <= times[0]
    assert times[-1] <= started - PAST_END_MARGIN_S
    for call in past.calls:
        assert_valid_call(ServiceCall(call["domain"], call["service"], call["data"]))
    live = [next(past.live_steps) for _ in range(5)]
    assert live[0].at == 0.0 and [s.at for s in live] == sorted(s.at for s in live)
    assert live[0].sequence_number >= past.dataset_sequences - 1  # the continuation, not a restart


def test_injections_are_real_calls_and_unusual_to_the_base_model() -> None:
    """Each injection maps onto this home's devices and, read by the shipped base TransAE as live
    scoring reads it (the open sequence after each behaviour), crosses the anomaly threshold in nearly
    every (weekday, 3-hour bucket) cell of the week."""
    fr = vocab("fr")
    injections = resolve_injections(fr, ActionMapper(fr))
    assert len(injections) >= 3
    model = TransAE.load(HABITUS_INTEGRATION_DIR / "model_assets" / "transae_fr.npz")
    for injection in injections:
        for call in injection.calls:
            assert_valid_call(call)
        raw = [(fr.devices.index(a.split(":")[0]), fr.actions.index(a)) for a in _actions_of(injection.name)]
        flagged = 0
        for day in range(7):
            for bucket in range(8):
                prefixes = [[(day, bucket, d, a) for d, a in raw[:n]] for n in range(2, len(raw) + 1)]
                flagged += bool((model.score(prefixes) > model.threshold_).any())
        assert flagged / 56 >= 0.9, (injection.name, flagged)


def _actions_of(name: str) -> tuple[str, ...]:
    from habitus_tools.demo.injections import INJECTIONS  # noqa: PLC0415

    return dict(INJECTIONS)[name]


def test_injections_without_their_devices_are_left_out() -> None:
    an = vocab("an")  # no Heater, WaterValve or SmartLock device types
    assert resolve_injections(an, ActionMapper(an)) == []


def test_injector_schedule_and_matching_by_time_window() -> None:
    injector = Injector([], gap_s=3.0, first_after_s=5.0, every_s=15.0)
    assert not injector.due(100.0)  # nothing to inject
    injector.injections = resolve_injections(vocab("fr"), ActionMapper(vocab("fr")))
    assert not injector.due(4.9) and injector.due(5.0)
    injector.played.append(InjectedWindow("a", 10.0, 11.0, 4))
    assert not injector.due(19.0) and injector.due(20.0)
    windows = [InjectedWindow("a", 10.0, 11.0, 4), InjectedWindow("b", 30.0, 31.0, 4)]
    assert flagged_injections(windows, [9.0, 13.5, 50.0], settle_s=3.0) == 1  # 13.5 is inside a's window
    assert flagged_injections(windows, [14.5, 29.0], settle_s=3.0) == 0
    assert flagged_injections(windows, [10.5, 33.9, 34.0], settle_s=3.0) == 2


def _change(entity_id: str, new: str | None, old: str | None = None, t: float = 0.0) -> StateChange:
    return StateChange(t, entity_id, old, new, {})


def test_live_counts_from_state_changes() -> None:
    event = {
        "time_fired": "2026-11-22T08:00:00.500000+00:00",
        "data": {
            "entity_id": "event.habitus_anomaly",
            "old_state": {"state": "unknown"},
            "new_state": {"state": "2026-11-22T08:00:00.500+00:00", "attributes": {"score": 3.1}},
        },
    }
    change = parse_change(event)
    assert change is not None and change.time == 1795334400.5 and change.attributes == {"score": 3.1}
    assert parse_change({"data": {}}) is None
    changes = [
        change,
        _change("binary_sensor.habitus_anomaly", "on", "off", 1.0),
        _change("sensor.habitus_next_action", "Light:switch on"),
        _change("sensor.habitus_next_action", "unknown"),
        _change("sensor.habitus_next_action", "Heater:switch on"),
    ]
    assert anomaly_times(changes) == [change.time]  # the event entity, once per anomaly
    assert anomaly_times(changes[1:]) == [1.0]  # else the binary sensor turning on
    assert prediction_count(changes) == 2
    assert completed_jobs({"state": "idle", "attributes": {"completed_jobs": 2}}) == 2
    assert completed_jobs(None) is None and completed_jobs({"attributes": {}}) is None
    phases = [
        _change("sensor.habitus_adaptation", p, t=t) for p, t in (("synthesizing", 10.0), ("idle", 20.0))
    ]
    assert adaptation_phase_at(phases, 5.0) is None
    assert job_ended(phases, since=0.0) and not job_ended(phases, since=15.0)  # busy, then idle
    assert not job_ended(phases[:1], since=0.0)  # still busy
    assert adaptation_phase_at(phases, 15.0) == "synthesizing" and adaptation_phase_at(phases, 20.0) == "idle"


def test_options_menu_takes_the_general_options() -> None:
    assert menu_choice({"menu_options": ["synthesis_model", "general", "adaptation"]}) == "general"
    assert menu_choice({"menu_options": ["other", "more"]}) == "other"


def test_rss_is_read_from_proc() -> None:
    rss = hass_rss_mb(os.getpid())
    assert rss is not None and rss > 10
    assert hass_rss_mb(None) is None


def test_browser_check_skips_cleanly_without_chromium(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    assert find_chromium() is None
    result = check_frontend(None, None, None)  # type: ignore[arg-type]  # not reached without chromium
    assert result.status == "skipped" and "chromium" in result.message
    assert result.figures() == {"ui_check": "skipped", "ui_entities_rendered": 0}
    assert BrowserCheck("ok", "", ["Anomaly"]).figures()["ui_entities_rendered"] == 1
    command = chromium_command("chromium", tmp_path)
    assert "--headless=new" in command and "--remote-debugging-port=0" in command


# --- the real thing -------------------------------------------------------------------------------


# --- the routine household ----------------------------------------------------------------------

PARIS = ZoneInfo("Europe/Paris")


@cache
def _household_past() -> tuple[Household, HouseholdPast]:
    household = routine_household(days=21)
    return household, plan_household_past(household, PARIS, datetime(2026, 11, 2, 12, 0, tzinfo=UTC))


def test_routine_household_keeps_clock_times_and_weekdays_and_ends_before_home_assistant_started() -> None:
    household, past = _household_past()
    end = datetime(2026, 11, 2, 12, 0, tzinfo=UTC).timestamp()
    margin = END_MARGIN_DAYS * 86400.0
    assert end - margin - 7 * 86400.0 - 3600.0 <= past.last_epoch <= end - margin + 3600.0
    shift = week_shift(datetime(2026, 10, 1, 20, 0), datetime(2026, 11, 2, 12, 0), timedelta(days=1))
    assert shift == timedelta(weeks=4)
    # Across the DST change (25 Oct 2026): the same local clock time and weekday in HA's time zone.
    for when in (datetime(2026, 10, 20, 19, 30, tzinfo=UTC), datetime(2026, 10, 30, 7, 5, tzinfo=UTC)):
        moved = datetime.fromtimestamp(epoch_at(when, timedelta(weeks=2), PARIS), PARIS)
        assert (moved.hour, moved.minute, moved.weekday()) == (when.hour, when.minute, when.weekday())
    events = [e for e in household.events if e["entity_id"].split(".")[0] not in ("sun", "weather")]
    assert {e["entity_id"] for e in events} <= set(HOUSEHOLD_DEVICES)
    first = min(events, key=lambda e: e["time"])
    at = min(c["at"] for c in past.calls)
    local = datetime.fromtimestamp(at, PARIS)
    original = datetime.fromisoformat(first["time"])
    assert (local.hour, local.minute, local.weekday()) == (original.hour, original.minute, original.weekday())


def test_routine_household_calls_are_real_services_with_their_origin_and_the_world_goes_along() -> None:
    household, past = _household_past()
    keys = {d.entity_id for d in household_devices()}
    for call in past.calls:
        assert call["data"]["entity_id"] in keys
        if call["domain"] != "homeassistant":  # homeassistant.turn_on/off: any domain
            assert_valid_call(ServiceCall(call["domain"], call["service"], call["data"]))
    origins = {c["origin"] for c in past.calls}
    assert origins == {"user", "automation"}  # its existing automations are no user behaviour
    automated = {c["data"]["entity_id"] for c in past.calls if c["origin"] == "automation"}
    assert automated == {virtual_entity(e) for e in household.automation_entities}
    assert {s["entity_id"] for s in past.states} == {"sun.sun", "weather.home"}
    assert all("temperature" in s["attributes"] for s in past.states if s["entity_id"] == "weather.home")
    assert [set(r.actions) <= keys for r in past.truth] == [True] * len(household.routines)
    assert [r.triggers for r in past.truth] == [r.triggers for r in household.routines]


def test_every_past_call_sees_the_household_sun_and_weather_of_its_batch() -> None:
    _household, past = _household_past()
    requests = list(batches(past, size=50))
    assert sum(len(r["calls"]) for r in requests) == len(past.calls)
    for request in requests[1:]:
        first_call = min(c["at"] for c in request["calls"]) if request["calls"] else float("inf")
        earlier = {s["entity_id"] for s in request["states"] if s["at"] <= first_call}
        assert earlier == {"sun.sun", "weather.home"}  # the real sun is back between requests


def test_service_calls_reach_each_setting() -> None:
    climate = service_calls("climate.x", {"hvac_mode": "heat", "temperature": 21.0, "fan_mode": "low"})
    assert climate == [
        {
            "domain": "climate",
            "service": "set_temperature",
            "data": {"entity_id": "climate.x", "temperature": 21.0, "hvac_mode": "heat"},
        },
        {
            "domain": "climate",
            "service": "set_fan_mode",
            "data": {"entity_id": "climate.x", "fan_mode": "low"},
        },
    ]
    assert service_calls("cover.x", {"state": "open", "current_position": 40.0})[0]["data"]["position"] == 40
    assert service_calls("cover.x", {"state": "closed"})[0]["service"] == "close_cover"
    light = service_calls("light.x", {"state": "on", "brightness": 120.0, "effect": "none"})
    assert light == [
        {
            "domain": "light",
            "service": "turn_on",
            "data": {"entity_id": "light.x", "brightness_pct": 47, "effect": "none"},
        }
    ]
    radio = service_calls("media_player.x", {"state": "on", "volume_level": 0.4, "source": "FM"})
    assert [c["service"] for c in radio] == ["turn_on", "volume_set", "select_source"]
    assert service_calls("fan.x", {"state": "off"})[0]["service"] == "turn_off"
    assert service_calls("switch.x", {"state": "on"}) == [
        {"domain": "homeassistant", "service": "turn_on", "data": {"entity_id": "switch.x"}}
    ]


def test_suggestions_are_compared_with_the_true_routines() -> None:
    truth = [
        Routine({"time_of_day": "evening"}, {"light.a": {"state": "on", "brightness": 200.0}}),
        Routine({"day_of_week": "weekday"}, {"fan.b": {"state": "on", "percentage": 70.0}}),
    ]
    suggestions: list[dict[str, Any]] = [
        {
            "description": "a",
            "triggers": {"time_of_day": "evening"},
            "actions": {"light.a": {"state": "on", "brightness": 204.0}},
        },
        {
            "description": "b",
            "triggers": {"time_of_day": "evening"},
            "actions": {"fan.b": {"state": "on", "percentage": 70.0}},
        },
        {"description": "c"},  # an older Habitus: no routine in the answer
    ]
    found = matches([suggested_routine(s) for s in suggestions], truth)
    assert found == [0, None, None]  # a brightness one user step off is the routine; other triggers are not
    assert routines_figures(suggestions, found, truth) == {
        "routine_true": 2,
        "routine_suggestions": 3,
        "routine_suggestions_true": 1,
        "routine_true_recovered": 1,
        "routine_suggestion_texts": "= a | ? b | ? c",
    }


def test_past_calls_keep_their_origin_as_habitus_reads_it() -> None:
    caller = Context(user_id="demo-user")
    assert origin_of(origin_context(caller, "user")) == "user"
    assert origin_of(origin_context(caller, "automation")) == "automation"
    assert origin_of(origin_context(caller, "device")) == "device"


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@pytest.mark.slow
def test_headless_demo_runs_real_home_assistant_and_habitus_learns(tmp_path: Path) -> None:
    summary_path = tmp_path / "s.json"
    started = time.monotonic()
    screenshot = tmp_path / "ui.png"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "habitus_tools.cli",
            "demo",
            "--for",
            "30",
            "--summary",
            str(summary_path),
            "--screenshot",
            str(screenshot),
        ],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    elapsed = time.monotonic() - started
    assert result.returncode == 0, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    out = result.stdout
    assert re.search(r"URL:\s+http://127\.0\.0\.1:\d+", out), out
    assert re.search(r"Login: user 'demo', password '\S+'", out), out
    summary = json.loads(summary_path.read_text())
    assert summary["events_replayed"] > 0
    # Learned: the past (the routine household's and SmartThings'), the live replay and the injections
    # (4 calls each); no call is two behaviours.
    assert summary["behaviours"] > summary["events_replayed"]  # the past was learned too
    past = summary["routine_calls"] + summary["history_calls"]
    calls = past + summary["events_replayed"] + 4 * summary["injected_anomalies"]
    assert summary["behaviours"] <= calls
    assert summary["sequences"] >= 25 and summary["learning_state"] == "ready"
    assert summary["call_errors"] == 0
    assert summary["replay_seconds"] >= 30
    # Live: injected anomalies (some flagged), predictions, one adaptation, HA's loop lag and memory.
    assert summary["injected_anomalies"] > 0
    assert 0 <= summary["injected_anomalies_flagged"] <= summary["injected_anomalies"]
    assert summary["anomalies_flagged"] >= summary["injected_anomalies_flagged"]
    assert summary["predictions"] > 0
    assert summary["adaptation_service"] in ("habitus.adapt", "habitus.retrain")
    assert summary["adaptations"] == 1, out
    assert isinstance(summary["adaptation_deployed"], bool)
    assert summary["loop_lag_p99_ms"] > 0 and summary["loop_lag_samples"] > 100
    assert 0 <= summary["loop_lag_worst_at_s"] <= elapsed and isinstance(
        summary["loop_lag_worst_during"], str
    )
    assert summary["rss_mb"] > 50
    # Routines: mined in HA from the household's weeks; at least one suggestion is a true routine.
    assert summary["routine_true"] >= 1
    assert summary["routine_suggestions"] >= summary["routine_suggestions_true"] >= 1, out
    assert 1 <= summary["routine_true_recovered"] <= summary["routine_true"]
    assert "Habitus suggests" in out and "\n  = " in out
    # One accepted through its repair's fix flow (REST): a real automation now exists.
    assert summary["routine_accepted_automation"].startswith("automation.habitus_"), out
    if find_chromium() is None:
        assert summary["ui_check"] == "skipped"
    else:
        assert summary["ui_check"] == "ok", out
        assert summary["ui_entities_rendered"] == 3
        assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        # Settings > System > Repairs lists the suggestions left after the demo accepted one.
        assert summary["ui_repairs_suggestions"] == summary["routine_suggestions"] - 1, out
        assert (tmp_path / "ui-repairs.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # HA and everything it started are gone, and so is the throwaway config dir.
    match = re.search(r"Starting Home Assistant \(pid (\d+)\) in (\S+) \.\.\.", out)
    assert match, out
    assert not _alive(int(match.group(1)))
    assert not Path(match.group(2)).exists()
    print(f"headless demo: {elapsed:.1f} s wall, {summary}")
