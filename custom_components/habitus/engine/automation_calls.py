"""The service calls that put a Home Assistant device into a routine's settings (an automation's actions).

Pure: no Home Assistant import. One builder per domain, all ``(domain, settings) -> [(action, data)]``;
any other domain is switched on or off through ``homeassistant.turn_on|off``. Settings are named as
:mod:`.routines` and ``devices.settings_of`` record them (yes/no settings as ``"true"``/``"false"``,
``hs_color`` as ``"hue,saturation"``).
"""

from __future__ import annotations

from typing import Any

from .routine_words import brightness_percent
from .routines import Setting, Settings, domain_of

_COVER_SERVICES = {"open": "open_cover", "closed": "close_cover"}
# Domains whose state one service sets, per state (a state not listed cannot be set: "triggered").
_STATE_SERVICES: dict[str, dict[str, str]] = {
    "alarm_control_panel": {
        "armed_away": "alarm_arm_away",
        "armed_home": "alarm_arm_home",
        "armed_night": "alarm_arm_night",
        "armed_vacation": "alarm_arm_vacation",
        "armed_custom_bypass": "alarm_arm_custom_bypass",
        "disarmed": "alarm_disarm",
    },
    "lock": {"locked": "lock", "unlocked": "unlock", "open": "open"},
    "valve": {"open": "open_valve", "closed": "close_valve"},
    "vacuum": {
        "cleaning": "start",
        "returning": "return_to_base",
        "docked": "return_to_base",
        "paused": "pause",
        "idle": "stop",
    },
}


def service_calls(entity_id: str, settings: Settings) -> list[dict[str, Any]]:
    """Service calls that put ``entity_id`` into ``settings`` (empty if the domain has no mapping)."""
    domain = domain_of(entity_id)
    builder = _BUILDERS.get(domain, _generic)
    return [
        {"action": action, "target": {"entity_id": entity_id}, **({"data": data} if data else {})}
        for action, data in builder(domain, settings)
    ]


type _Calls = list[tuple[str, dict[str, Any]]]


def _light(domain: str, s: Settings) -> _Calls:
    if s.get("state") == "off":
        return [("light.turn_off", {})]
    data: dict[str, Any] = {}
    if "brightness" in s:  # in %, as the routine's words say it and the automation editor shows it
        data["brightness_pct"] = brightness_percent(s["brightness"])
    if "color_temp_kelvin" in s:
        data["color_temp_kelvin"] = round(float(s["color_temp_kelvin"]))
    elif (hs := _hs_color(s.get("hs_color"))) is not None:  # HA takes one of the two
        data["hs_color"] = hs
    if "effect" in s:
        data["effect"] = str(s["effect"])
    return [("light.turn_on", data)]


def _climate(domain: str, s: Settings) -> _Calls:
    mode = str(s.get("hvac_mode", s.get("state", "")))
    if mode == "off":
        return [("climate.set_hvac_mode", {"hvac_mode": "off"})]
    target: dict[str, Any] = {}
    if "temperature" in s:
        target["temperature"] = float(s["temperature"])
    elif "target_temp_low" in s and "target_temp_high" in s:  # heat/cool: between the two
        target = {name: float(s[name]) for name in ("target_temp_low", "target_temp_high")}
    calls: _Calls = []
    if target:
        calls.append(("climate.set_temperature", {**target, **({"hvac_mode": mode} if mode else {})}))
    elif mode:
        calls.append(("climate.set_hvac_mode", {"hvac_mode": mode}))
    return calls + _climate_options(s)


def _climate_options(s: Settings) -> _Calls:
    """A climate's fan, preset and swing modes and target humidity."""
    calls: _Calls = [
        (f"climate.set_{name}", {name: str(s[name])})
        for name in ("fan_mode", "preset_mode", "swing_mode")
        if name in s
    ]
    if "humidity" in s:
        calls.append(("climate.set_humidity", {"humidity": round(float(s["humidity"]))}))
    return calls


def _media_player(domain: str, s: Settings) -> _Calls:
    if s.get("state") in ("off", "standby"):  # a TV switched off may report standby
        return [("media_player.turn_off", {})]
    calls: _Calls = [("media_player.turn_on", {})] if "state" in s else []  # (device_features)
    if "volume_level" in s:
        calls.append(("media_player.volume_set", {"volume_level": round(float(s["volume_level"]), 2)}))
    if "source" in s:
        calls.append(("media_player.select_source", {"source": str(s["source"])}))
    if "sound_mode" in s:
        calls.append(("media_player.select_sound_mode", {"sound_mode": str(s["sound_mode"])}))
    if s.get("is_volume_muted") == "true":  # (not "false": a player reports it without supporting mute)
        calls.append(("media_player.volume_mute", {"is_volume_muted": True}))
    return calls


def _by_state(domain: str, s: Settings) -> _Calls:
    """Alarm panel, lock, valve, vacuum: the service of the state, then a valve's position or a
    vacuum's fan speed."""
    service = _STATE_SERVICES[domain].get(str(s.get("state")))
    calls: _Calls = [(f"{domain}.{service}", {})] if service else []
    if domain == "valve" and "current_position" in s and s.get("state") == "open":
        calls = [("valve.set_valve_position", {"position": round(float(s["current_position"]))})]
    if domain == "vacuum" and "fan_speed" in s and s.get("state") == "cleaning":
        calls.append(("vacuum.set_fan_speed", {"fan_speed": str(s["fan_speed"])}))
    return calls


def _humidifier(domain: str, s: Settings) -> _Calls:
    if s.get("state") != "on":
        return [("humidifier.turn_off", {})] if s.get("state") == "off" else []
    calls: _Calls = [("humidifier.turn_on", {})]
    if "mode" in s:
        calls.append(("humidifier.set_mode", {"mode": str(s["mode"])}))
    if "humidity" in s:
        calls.append(("humidifier.set_humidity", {"humidity": round(float(s["humidity"]))}))
    return calls


def _water_heater(domain: str, s: Settings) -> _Calls:
    """Its state is its operation mode ("eco", "electric", "off": the mode's service switches it off
    too, where turn_off needs a feature many lack)."""
    mode = str(s.get("operation_mode", s.get("state", "")))
    calls: _Calls = [("water_heater.set_operation_mode", {"operation_mode": mode})] if mode else []
    if "temperature" in s and mode != "off":  # (no mode: a heater without one, device_features)
        calls.append(("water_heater.set_temperature", {"temperature": float(s["temperature"])}))
    return calls


def _cover(domain: str, s: Settings) -> _Calls:
    state = s.get("state")
    if "current_position" in s:
        calls = [("cover.set_cover_position", {"position": round(float(s["current_position"]))})]
    else:
        calls = [(f"cover.{_COVER_SERVICES[state]}", {})] if state in _COVER_SERVICES else []
    if "current_tilt_position" in s and state != "closed":
        tilt = round(float(s["current_tilt_position"]))
        calls.append(("cover.set_cover_tilt_position", {"tilt_position": tilt}))
    return calls


def _fan(domain: str, s: Settings) -> _Calls:
    if s.get("state") == "off":
        return [("fan.turn_off", {})]
    data = {"percentage": round(float(s["percentage"]))} if "percentage" in s else {}
    calls: _Calls = [("fan.turn_on", data)] if "state" in s else []  # (device_features)
    if data and not calls:  # a fan that cannot be turned on, at its speed
        calls = [("fan.set_percentage", data)]
    if "preset_mode" in s:
        calls.append(("fan.set_preset_mode", {"preset_mode": str(s["preset_mode"])}))
    if s.get("oscillating") in ("true", "false"):  # devices.settings_of's form of a yes/no
        calls.append(("fan.oscillate", {"oscillating": s["oscillating"] == "true"}))
    if "direction" in s:
        calls.append(("fan.set_direction", {"direction": str(s["direction"])}))
    return calls


def _hs_color(value: Setting | None) -> list[float] | None:
    """``"30.0,50.0"`` (``devices.settings_of``'s hue, saturation) as HA's ``hs_color``."""
    parts = str(value).split(",") if value is not None else []
    try:
        hue, saturation = (float(part) for part in parts)
    except ValueError:
        return None
    return [hue, saturation]


def _generic(domain: str, s: Settings) -> _Calls:
    """On/off devices of any other domain (switch, input_boolean, ...) through ``homeassistant.turn_*``."""
    state = s.get("state")
    return [(f"homeassistant.turn_{state}", {})] if state in ("on", "off") else []


_BUILDERS = {
    "light": _light,
    "climate": _climate,
    "media_player": _media_player,
    "cover": _cover,
    "fan": _fan,
    "humidifier": _humidifier,
    "water_heater": _water_heater,
    **dict.fromkeys(_STATE_SERVICES, _by_state),
}
