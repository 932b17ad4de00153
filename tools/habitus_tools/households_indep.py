"""Independently designed synthetic households for ``habitus bench routines --variant indep``.

Written from the issue text and the EdgeWisePersona paper (appendix: routine schema; section 3.2: a
profile of routines, contexts sampled per session, a routine applies when its triggers match the
context) without reading Habitus' miner or its own generator, so the miner can be judged on
households it has never seen.

Design (all of it deterministic by seed, numpy ``default_rng``):

* **World.** A real place (latitude, longitude, IANA time zone; southern hemisphere included, DST
  included) and a start date anywhere in the year; 8-12 weeks. Sunrise and sunset from the NOAA solar
  equations for that place and day. Weather: a persistent daily regime (Markov chain: clear, partly
  cloudy, overcast, wet) with hourly HA conditions (``clear-night`` at night, ``fog``, ``pouring``,
  ``snowy-rainy``...), temperatures from a seasonal curve plus a persistent (AR(1)) anomaly and a
  diurnal cycle. The log carries ``sun.sun`` (state changes at sunrise/sunset, ``next_rising`` /
  ``next_setting`` as HA provides) and an hourly ``weather.*`` entity (``temperature`` in °C).
* **Persona.** A lifestyle (commuter, home worker, retired, shift worker, family) with a device
  inventory of realistic HA entities (lights with brightness / colour temperature / effect, climate
  with hvac_mode / temperature / fan_mode / preset_mode, media players with volume / source /
  sound_mode, an alarm panel, switches, covers, a fan) and 3-8 routines drawn from life episodes
  (waking, leaving, coming home, dusk, evening TV, bedtime, reactions to rain, snow, heat or cold).
* **Identifiable truth.** A routine's triggers are a subset of the schema. A drawn routine is kept only
  if, on this world's calendar at its habitual time, every *undeclared* field takes at least two
  values (the most common one in at most 80 % of the eligible days) and every *declared* condition
  actually excludes some days (else no data could tell it apart from a routine without it). A clock
  habit whose sun phase is (almost) constant over the weeks declares that phase too (and a sun-timed
  habit its part of the day), since the two are tied by the season. A routine seen fewer than 6 times
  in the final log leaves the truth (its few events stay, as unlabelled behaviour).
* **Events.** On each day where a routine's triggers hold at its habitual time (clock, or minutes
  from sunrise/sunset, or any time of a span for weather reactions) it fires with its own probability,
  with time jitter, its devices in a random order a few minutes apart, an occasional missed device,
  noisy settings (brightness, colour temperature, setpoint, volume, position; rarely a categorical
  slip) and sometimes an intermediate value before the final one. An occurrence whose events would
  leave the trigger context is not emitted. About a quarter of the user events are not routines
  (random devices, settings and times, and the user switching things off later). Automations
  (origin ``automation``: auto-off timers, a porch light at sunset, a night thermostat setback) and
  device reports (origin ``device``: sensors, a TV going to ``playing``, covers moving, Wi-Fi blips to
  ``unavailable``) are in the log too. As in HA, a command that changes nothing leaves no event.

The truth's actions are the settings the noise-free target state shows, named as HA attributes
(``habitus_engine.routines.settings_from_snapshot``: the documented schema, not the miner).
"""

from __future__ import annotations

import bisect
import json
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from habitus_engine.context import day_of_week as day_kind
from habitus_engine.context import outdoor_temp_band, sun_phase, time_of_day, weather_category
from habitus_engine.routines import settings_from_snapshot

type Json = dict[str, Any]

MIN_OCCURRENCES = 6
type Rng = np.random.Generator

# ---------------------------------------------------------------------------------------------- world


@dataclass(frozen=True, slots=True)
class Place:
    """A location with its climate (°C: annual mean, seasonal and diurnal half-amplitudes; wet share)."""

    name: str
    tz: str
    lat: float
    lon: float
    t_mean: float
    t_amp: float
    diurnal: float
    wet: float


PLACES: tuple[Place, ...] = (
    Place("Paris", "Europe/Paris", 48.86, 2.35, 12.5, 8.0, 4.5, 0.30),
    Place("Oslo", "Europe/Oslo", 59.91, 10.75, 6.5, 10.5, 4.0, 0.32),
    Place("Helsinki", "Europe/Helsinki", 60.17, 24.94, 6.0, 11.0, 3.5, 0.30),
    Place("Madrid", "Europe/Madrid", 40.42, -3.70, 15.0, 9.5, 6.5, 0.15),
    Place("Munich", "Europe/Berlin", 48.14, 11.58, 9.5, 9.5, 5.0, 0.33),
    Place("Edinburgh", "Europe/London", 55.95, -3.19, 9.0, 5.5, 3.5, 0.40),
    Place("Chicago", "America/Chicago", 41.88, -87.63, 10.5, 14.0, 5.0, 0.27),
    Place("Seattle", "America/Los_Angeles", 47.61, -122.33, 11.5, 7.0, 4.5, 0.38),
    Place("Montreal", "America/Toronto", 45.50, -73.57, 7.0, 15.0, 4.5, 0.30),
    Place("Denver", "America/Denver", 39.74, -104.99, 10.5, 11.5, 8.0, 0.18),
    Place("Sydney", "Australia/Sydney", -33.87, 151.21, 18.5, 5.0, 4.0, 0.25),
    Place("Melbourne", "Australia/Melbourne", -37.81, 144.96, 15.5, 5.5, 5.0, 0.28),
    Place("Tokyo", "Asia/Tokyo", 35.68, 139.69, 16.5, 10.0, 4.0, 0.28),
    Place("Christchurch", "Pacific/Auckland", -43.53, 172.64, 12.0, 5.5, 5.5, 0.25),
)


def sun_times_utc(day: date, lat: float, lon: float) -> tuple[datetime, datetime]:
    """Sunrise and sunset (UTC) of the local ``day`` by the NOAA solar equations (zenith 90.833°)."""
    g = 2 * math.pi / 365 * (day.timetuple().tm_yday - 1)
    eqtime = 229.18 * (
        0.000075
        + 0.001868 * math.cos(g)
        - 0.032077 * math.sin(g)
        - 0.014615 * math.cos(2 * g)
        - 0.040849 * math.sin(2 * g)
    )
    decl = (
        0.006918
        - 0.399912 * math.cos(g)
        + 0.070257 * math.sin(g)
        - 0.006758 * math.cos(2 * g)
        + 0.000907 * math.sin(2 * g)
        - 0.002697 * math.cos(3 * g)
        + 0.00148 * math.sin(3 * g)
    )
    phi = math.radians(lat)
    cos_ha = math.cos(math.radians(90.833)) / (math.cos(phi) * math.cos(decl)) - math.tan(phi) * math.tan(
        decl
    )
    ha = math.degrees(math.acos(max(-1.0, min(1.0, cos_ha))))
    midnight = datetime(day.year, day.month, day.day, tzinfo=UTC)
    # Local solar day: shift by the longitude so that the times fall on the local date.
    shift = -round(lon / 360.0)
    rise = midnight + timedelta(days=shift, minutes=720 - 4 * (lon + ha) - eqtime)
    sets = midnight + timedelta(days=shift, minutes=720 - 4 * (lon - ha) - eqtime)
    return rise, sets


_REGIMES = ("clear", "partly", "overcast", "wet")
_HOURLY: dict[str, tuple[tuple[str, float], ...]] = {
    "clear": (("sunny", 0.82), ("partlycloudy", 0.18)),
    "partly": (("partlycloudy", 0.65), ("sunny", 0.2), ("cloudy", 0.15)),
    "overcast": (("cloudy", 0.75), ("partlycloudy", 0.12), ("fog", 0.08), ("windy", 0.05)),
    "wet": (("rainy", 0.55), ("cloudy", 0.25), ("pouring", 0.12), ("lightning-rainy", 0.08)),
}


@dataclass(slots=True)
class World:
    """The simulated place and calendar: sun transitions and hourly weather (all times UTC)."""

    place: Place
    tz: ZoneInfo
    start: datetime  # UTC, local midnight of the first day
    days: list[date]
    sun: list[tuple[datetime, str]]  # transitions (time, above_horizon/below_horizon)
    rises: list[datetime]
    sets: list[datetime]
    weather: list[tuple[datetime, str, float]]  # hourly (time, HA condition, °C)
    _sun_t: list[float] = field(default_factory=list)
    _wx_t: list[float] = field(default_factory=list)

    def index(self) -> None:
        """Prepare the look-ups (latest snapshot at or before a moment)."""
        self._sun_t = [t.timestamp() for t, _ in self.sun]
        self._wx_t = [t.timestamp() for t, _, _ in self.weather]

    def context(self, when: datetime) -> dict[str, str]:
        """EdgeWisePersona context at ``when``, read like HA would: the latest sun/weather snapshot."""
        local = when.astimezone(self.tz)
        ts = when.timestamp()
        i = bisect.bisect_right(self._sun_t, ts) - 1
        j = bisect.bisect_right(self._wx_t, ts) - 1
        sun_state = self.sun[i][1] if i >= 0 else None
        condition, temp = (self.weather[j][1], self.weather[j][2]) if j >= 0 else (None, None)
        return {
            "time_of_day": time_of_day(local),
            "day_of_week": day_kind(local),
            "sun_phase": sun_phase(sun_state, local),
            "weather": weather_category(condition),
            "outdoor_temp": outdoor_temp_band(temp),
        }

    def local(self, day: date, minutes: float) -> datetime:
        """UTC moment of ``minutes`` after local midnight of ``day``."""
        base = datetime(day.year, day.month, day.day, tzinfo=self.tz)
        return (base + timedelta(minutes=minutes)).astimezone(UTC)


def build_world(rng: Rng) -> World:
    """Draw a place, a start date and 8-12 weeks of sun and weather."""
    place = PLACES[int(rng.integers(len(PLACES)))]
    tz = ZoneInfo(place.tz)
    first = date(2025, 1, 1) + timedelta(days=int(rng.integers(0, 730)))
    days = [first + timedelta(days=k) for k in range(7 * int(rng.integers(8, 13)))]
    start = datetime(first.year, first.month, first.day, tzinfo=tz).astimezone(UTC)
    sun: list[tuple[datetime, str]] = []
    rises, sets = [], []
    for day in [first - timedelta(days=1), *days, days[-1] + timedelta(days=1)]:
        rise, sset = sun_times_utc(day, place.lat, place.lon)
        rises.append(rise)
        sets.append(sset)
        sun += [(rise, "above_horizon"), (sset, "below_horizon")]
    sun.sort()
    weather = _weather(rng, place, tz, days, rises=rises[1:-1], sets=sets[1:-1])
    world = World(place, tz, start, days, sun, rises, sets, weather)
    world.index()
    return world


def _weather(
    rng: Rng, place: Place, tz: ZoneInfo, days: list[date], *, rises: list[datetime], sets: list[datetime]
) -> list[tuple[datetime, str, float]]:
    stay = 0.6 + 0.15 * rng.random()
    wet = place.wet
    stationary = np.array([0.45 - wet / 2, 0.3, 0.25 - wet / 2, wet]) + np.array(
        [0.0, 0.0, wet / 2 + 0.0, 0.0]
    )
    stationary = stationary / stationary.sum()
    peak = 200 if place.lat > 0 else 17  # warmest day of the year
    minute = int(rng.integers(0, 60))  # the weather integration's update minute
    regime = int(rng.choice(4, p=stationary))
    anomaly = float(rng.normal(0, 3))
    condition = "cloudy"
    out: list[tuple[datetime, str, float]] = []
    for k, day in enumerate(days):
        if rng.random() > stay:
            regime = int(rng.choice(4, p=stationary))
        anomaly = 0.8 * anomaly + float(rng.normal(0, 2.0))
        name = _REGIMES[regime]
        seasonal = place.t_mean + place.t_amp * math.cos(
            2 * math.pi * (day.timetuple().tm_yday - peak) / 365.25
        )
        damp = 0.5 if name in ("overcast", "wet") else 1.0
        for hour in range(24):
            when = datetime(day.year, day.month, day.day, hour, minute, tzinfo=tz).astimezone(UTC)
            temp = seasonal + anomaly + place.diurnal * damp * math.cos(2 * math.pi * (hour - 15) / 24)
            temp += float(rng.normal(0, 0.3))
            if hour == 0 or rng.random() > 0.7:
                names, probs = zip(*_HOURLY[name], strict=True)
                condition = str(rng.choice(names, p=np.array(probs) / sum(probs)))
            shown = condition
            if shown in ("rainy", "pouring", "lightning-rainy") and temp < 2.0:
                shown = "snowy" if temp < 0.5 else "snowy-rainy"
            elif shown == "lightning-rainy" and temp < 16:
                shown = "rainy"
            if shown == "sunny" and not rises[k] <= when < sets[k]:
                shown = "clear-night"
            out.append((when, shown, round(temp, 1)))
    return out


# -------------------------------------------------------------------------------------------- devices


@dataclass(slots=True)
class Device:
    """An HA entity with its capabilities (``kind``) and the settings it can show."""

    entity_id: str
    kind: str  # light_dim, light_ct, light_fx, thermostat, ac, tv, speaker, alarm, switch, cover, fan
    name: str

    @property
    def domain(self) -> str:
        return self.entity_id.split(".", 1)[0]


_ROOMS = {
    "living": ("living_room", "lounge", "sitting_room", "family_room"),
    "kitchen": ("kitchen", "kitchen_island", "dining"),
    "bedroom": ("bedroom", "master_bedroom", "primary_bedroom"),
    "hall": ("hallway", "entrance", "hall"),
    "office": ("office", "study"),
    "outdoor": ("porch", "front_door", "garden"),
}


def _room(rng: Rng, key: str) -> str:
    options = _ROOMS[key]
    return str(options[int(rng.integers(len(options)))])


def build_devices(rng: Rng) -> dict[str, Device]:
    """A household inventory, keyed by role (``living_light``...)."""
    living, kitchen, bedroom = _room(rng, "living"), _room(rng, "kitchen"), _room(rng, "bedroom")
    hall, office, outdoor = _room(rng, "hall"), _room(rng, "office"), _room(rng, "outdoor")
    light_kind = ("light_dim", "light_ct", "light_fx")
    devices = {
        "living_light": Device(f"light.{living}_{rng.choice(['ceiling', 'lamps', 'main'])}", "", "Living"),
        "kitchen_light": Device(f"light.{kitchen}", "", "Kitchen"),
        "bedroom_light": Device(f"light.{bedroom}_{rng.choice(['lamp', 'ceiling'])}", "", "Bedroom"),
        "hall_light": Device(f"light.{hall}", "light_dim", "Hall"),
        "office_light": Device(f"light.{office}_desk", "light_ct", "Office"),
        "heating": Device(
            f"climate.{living}" if rng.random() < 0.5 else "climate.thermostat", "thermostat", "Heat"
        ),
        "ac": Device(f"climate.{bedroom}_ac", "ac", "AC"),
        "tv": Device(f"media_player.{living}_tv", "tv", "TV"),
        "speaker": Device(f"media_player.{kitchen}_speaker", "speaker", "Speaker"),
        "alarm": Device(
            f"alarm_control_panel.{rng.choice(['home_alarm', 'alarmo', 'house'])}", "alarm", "Alarm"
        ),
        "coffee": Device("switch.coffee_maker", "switch", "Coffee"),
        "heater_switch": Device("switch.driveway_heater", "switch", "Driveway heater"),
        "blinds": Device(f"cover.{living}_blinds", "cover", "Blinds"),
        "shutter": Device(f"cover.{bedroom}_shutter", "cover", "Shutter"),
        "fan": Device(f"fan.{bedroom}_fan", "fan", "Fan"),
        "porch": Device(f"light.{outdoor}", "light_dim", "Porch"),
    }
    for role in ("living_light", "kitchen_light", "bedroom_light"):
        devices[role].kind = str(light_kind[int(rng.choice(3, p=[0.25, 0.5, 0.25]))])
    return devices


_TV_SOURCES = ("HDMI 1", "HDMI 2", "Netflix", "YouTube", "Live TV", "Disney+")
_SPEAKER_SOURCES = ("Spotify", "Radio", "TuneIn", "Line-in", "AirPlay")
_SOUND_MODES = ("music", "movie", "night", "voice", "bass boost")
_FX = ("off", "colorloop", "candle", "fireplace")


def snapshot(device: Device, s: dict[str, Any]) -> tuple[str, Json]:
    """Full HA state (state string and attributes) for the settings ``s`` (realistic extras included)."""
    kind = device.kind
    attrs: Json = {"friendly_name": device.name}
    state = str(s.get("state", "off"))
    if kind.startswith("light"):
        modes = ["brightness"] if kind == "light_dim" else ["color_temp", "hs"]
        attrs |= {"supported_color_modes": modes, "supported_features": 44 if kind == "light_fx" else 40}
        if kind != "light_dim":
            attrs |= {"min_color_temp_kelvin": 2202, "max_color_temp_kelvin": 6535}
        if kind == "light_fx":
            attrs["effect_list"] = list(_FX)
        on = state == "on"
        attrs["brightness"] = int(s["brightness"]) if on else None
        attrs["color_mode"] = ("brightness" if kind == "light_dim" else "color_temp") if on else None
        if kind != "light_dim":
            kelvin = round(1e6 / round(1e6 / min(6535.0, max(2202.0, float(s["kelvin"]))))) if on else None
            attrs["color_temp_kelvin"] = kelvin
            attrs["color_temp"] = round(1e6 / kelvin) if kelvin else None
            attrs["hs_color"] = [28.0, round(max(0.0, (6600 - kelvin) / 60), 1)] if kelvin else None
        if kind == "light_fx":
            attrs["effect"] = s.get("effect", "off") if on else None
    elif kind in ("thermostat", "ac"):
        state = str(s.get("hvac_mode", "off"))
        attrs |= {
            "hvac_modes": ["off", "heat", "auto"]
            if kind == "thermostat"
            else ["off", "cool", "heat", "auto", "dry"],
            "min_temp": 7 if kind == "thermostat" else 16,
            "max_temp": 30,
            "target_temp_step": 0.5,
            "current_temperature": round(float(s.get("room", 20.0)), 1),
            "temperature": float(s.get("temperature", 18.0)) if state != "off" else None,
        }
        if kind == "ac":
            attrs["fan_modes"] = ["auto", "low", "medium", "high"]
            attrs["fan_mode"] = s.get("fan_mode", "auto")
        else:
            attrs["preset_modes"] = ["none", "eco", "comfort", "away"]
            attrs["preset_mode"] = s.get("preset_mode", "none")
        attrs["hvac_action"] = "idle" if state == "off" else ("heating" if state == "heat" else "cooling")
    elif kind in ("tv", "speaker"):
        on = state != "off"
        sources = _TV_SOURCES if kind == "tv" else _SPEAKER_SOURCES
        attrs |= {"source_list": list(sources), "supported_features": 152461}
        if on:
            attrs |= {
                "volume_level": float(s["volume_level"]),
                "is_volume_muted": False,
                "source": s["source"],
            }
            if "sound_mode" in s:
                attrs |= {"sound_mode": s["sound_mode"], "sound_mode_list": list(_SOUND_MODES)}
    elif kind == "alarm":
        attrs |= {
            "code_format": "number",
            "changed_by": None,
            "code_arm_required": True,
            "supported_features": 63,
        }
    elif kind == "cover":
        pos = int(s.get("current_position", 0))
        state = "closed" if pos == 0 else "open"
        attrs |= {"current_position": pos, "device_class": "blind", "supported_features": 15}
    elif kind == "fan":
        on = state == "on"
        attrs |= {"percentage": int(s["percentage"]) if on else 0, "percentage_step": 1, "preset_mode": None}
    return state, attrs


def observed_settings(device: Device, s: dict[str, Any]) -> dict[str, Any]:
    """What the schema reads from the snapshot (state plus the domain's setting attributes)."""
    state, attrs = snapshot(device, s)
    return dict(settings_from_snapshot(device.entity_id, state, attrs))


def idle(device: Device) -> dict[str, Any]:
    """The resting settings a device returns to (off, closed, setback...)."""
    kind = device.kind
    if kind == "thermostat":
        return {"hvac_mode": "heat", "temperature": 17.0, "preset_mode": "eco", "room": 19.0}
    if kind == "ac":
        return {"hvac_mode": "off"}
    if kind == "alarm":
        return {"state": "disarmed"}
    if kind == "cover":
        return {"current_position": 100}
    return {"state": "off"}


def _pct(p: float) -> int:
    return round(max(1.0, min(100.0, p)) * 255 / 100)


def draw_target(device: Device, mood: str, rng: Rng) -> dict[str, Any]:
    """A plausible target for one device in a life episode (``on``, ``off``, ``bright``, ``dim``...)."""
    kind = device.kind
    if mood == "off":
        if kind == "cover":
            return {"current_position": 0}
        if kind == "thermostat":
            return {
                "hvac_mode": "heat",
                "temperature": float(rng.choice([16.0, 16.5, 17.0, 17.5, 18.0])),
                "preset_mode": "eco",
                "room": 19.0,
            }
        if kind == "alarm":
            return {"state": str(rng.choice(["armed_away", "armed_night", "armed_home"]))}
        return {"state": "off"}
    if kind.startswith("light"):
        pct = float(rng.integers(55, 101)) if mood == "bright" else float(rng.integers(10, 50))
        kelvin = float(rng.choice([4000, 5000, 6500] if mood == "bright" else [2200, 2700, 3000]))
        target: dict[str, Any] = {"state": "on", "brightness": _pct(pct), "pct": pct, "kelvin": kelvin}
        if kind == "light_fx":
            target["effect"] = "off" if mood == "bright" or rng.random() < 0.5 else str(rng.choice(_FX[1:]))
        return target
    if kind == "thermostat":
        temp = float(rng.choice(np.arange(19.0, 23.5, 0.5)))
        return {
            "hvac_mode": "heat",
            "temperature": temp,
            "preset_mode": str(rng.choice(["none", "comfort"])),
            "room": 19.0,
        }
    if kind == "ac":
        cool = mood != "warm_up"
        temp = float(rng.choice(np.arange(21.0, 26.5, 0.5) if cool else np.arange(20.0, 24.5, 0.5)))
        return {
            "hvac_mode": "cool" if cool else "heat",
            "temperature": temp,
            "fan_mode": str(rng.choice(["low", "medium", "high", "auto"])),
            "room": 24.0,
        }
    if kind in ("tv", "speaker"):
        sources = _TV_SOURCES if kind == "tv" else _SPEAKER_SOURCES
        target = {
            "state": "on" if kind == "tv" else "playing",
            "volume_level": round(float(rng.uniform(0.12, 0.55)), 2),
            "source": str(sources[int(rng.integers(len(sources)))]),
        }
        if kind == "tv" or rng.random() < 0.5:
            target["sound_mode"] = str(rng.choice(_SOUND_MODES))
        return target
    if kind == "alarm":
        return {"state": "disarmed"}
    if kind == "cover":
        return {"current_position": int(rng.choice([100, 100, 60, 40, 30]))}
    if kind == "fan":
        return {"state": "on", "percentage": int(rng.choice([33, 50, 66, 100]))}
    return {"state": "on"}


def noisy(device: Device, target: dict[str, Any], rng: Rng) -> dict[str, Any]:
    """The settings a user actually leaves: the target with slider and step noise, rare slips."""
    s = dict(target)
    if "pct" in s and s.get("state") == "on":
        s["brightness"] = _pct(s["pct"] + float(rng.normal(0, 1.5)))
        if rng.random() < 0.2:
            s["kelvin"] = float(s["kelvin"]) + float(rng.choice([-100, 100]))
    climate_on = device.kind in ("thermostat", "ac") and s.get("hvac_mode") != "off"
    if "temperature" in s and climate_on and rng.random() < 0.12:
        s["temperature"] = float(s["temperature"]) + float(rng.choice([-0.5, 0.5]))
    if "volume_level" in s:
        s["volume_level"] = round(
            min(1.0, max(0.0, float(s["volume_level"]) + float(rng.normal(0, 0.012)))), 2
        )
        if rng.random() < 0.03:
            s["source"] = str(rng.choice(_TV_SOURCES if device.kind == "tv" else _SPEAKER_SOURCES))
    if "current_position" in s and 0 < int(s["current_position"]) < 100:
        s["current_position"] = int(max(1, min(99, int(s["current_position"]) + int(rng.integers(-2, 3)))))
    if "fan_mode" in s and rng.random() < 0.03:
        s["fan_mode"] = str(rng.choice(["low", "medium", "high", "auto"]))
    return s


def random_setting(device: Device, rng: Rng) -> dict[str, Any]:
    """A spontaneous setting: anything the device can do."""
    mood = str(rng.choice(["off", "bright", "dim", "on"]))
    return draw_target(device, mood, rng)


# ------------------------------------------------------------------------------------------- routines

# Episode: (time spec, day_of_week default, [(device role, mood)], optional conditions it may carry).
# Time specs: ("clock", lo_min, hi_min, declare) with declare in {"tod"}, ("sunrise"|"sunset", lo, hi,
# declare) with declare in {"sun", "sun+tod"}, ("span", lo, hi, "") for reactions at any time.
_EPISODES: dict[str, tuple[tuple[str, int, int, str], str | None, list[tuple[str, str]], tuple[str, ...]]] = {
    "wake": (
        ("clock", 330, 540, "tod"),
        "weekday",
        [
            ("bedroom_light", "bright"),
            ("kitchen_light", "bright"),
            ("heating", "on"),
            ("coffee", "on"),
            ("speaker", "on"),
            ("shutter", "on"),
        ],
        ("outdoor_temp", "weather"),
    ),
    "weekend_wake": (
        ("clock", 480, 630, "tod"),
        "weekend",
        [("kitchen_light", "dim"), ("speaker", "on"), ("blinds", "on"), ("coffee", "on")],
        ("weather", "outdoor_temp"),
    ),
    "leave": (
        ("clock", 440, 555, "tod"),
        "weekday",
        [("alarm", "off"), ("kitchen_light", "off"), ("heating", "off"), ("speaker", "off")],
        ("weather",),
    ),
    "predawn": (
        ("sunrise", -95, -35, "sun"),
        "weekday",
        [("hall_light", "dim"), ("kitchen_light", "dim"), ("coffee", "on")],
        (),
    ),
    "home": (
        ("clock", 1035, 1170, "tod"),
        "weekday",
        [("alarm", "on"), ("hall_light", "bright"), ("heating", "on"), ("tv", "on")],
        ("outdoor_temp", "weather"),
    ),
    "dusk": (
        ("sunset", 10, 55, "sun"),
        None,
        [("blinds", "off"), ("living_light", "dim")],
        ("day_of_week", "weather"),
    ),
    "tv": (
        ("clock", 1140, 1275, "tod"),
        None,
        [("tv", "on"), ("living_light", "dim"), ("blinds", "off")],
        ("day_of_week", "weather", "outdoor_temp"),
    ),
    "bedtime": (
        ("clock", 1335, 1420, "tod"),
        None,
        [
            ("living_light", "off"),
            ("tv", "off"),
            ("alarm", "off"),
            ("bedroom_light", "dim"),
            ("heating", "off"),
        ],
        ("day_of_week",),
    ),
    "work": (
        ("clock", 735, 960, "tod"),
        "weekday",
        [("office_light", "bright"), ("speaker", "on")],
        ("weather",),
    ),
    "rain": (
        ("span", 540, 1230, ""),
        None,
        [("living_light", "bright"), ("blinds", "off"), ("speaker", "on")],
        ("weather",),
    ),
    "heat": (
        ("span", 720, 1080, ""),
        None,
        [("ac", "on"), ("shutter", "off"), ("fan", "on")],
        ("outdoor_temp",),
    ),
    "cold": (
        ("clock", 390, 690, "tod"),
        None,
        [("heating", "on"), ("heater_switch", "on"), ("ac", "warm_up")],
        ("outdoor_temp",),
    ),
    "snow": (
        ("span", 420, 1140, ""),
        None,
        [("heater_switch", "on"), ("hall_light", "bright")],
        ("weather",),
    ),
}
_REACTION_CONDITION = {"rain": ("weather", "rainy"), "snow": ("weather", "snowy")}


@dataclass(slots=True)
class Spec:
    """A true routine and how it happens (habitual time, jitter, probability, noise-free targets)."""

    triggers: dict[str, str]
    anchor: tuple[
        str, float, float
    ]  # ("clock", minute, 0) | ("sunrise"/"sunset", offset, 0) | ("span", lo, hi)
    jitter: float
    prob: float
    targets: dict[str, dict[str, Any]]  # entity id -> noise-free settings

    def truth(self, devices: dict[str, Device]) -> Json:
        """The ``routines.jsonl`` element."""
        by_id = {d.entity_id: d for d in devices.values()}
        actions = {e: observed_settings(by_id[e], t) for e, t in self.targets.items()}
        return {"triggers": dict(self.triggers), "actions": actions}


def nominal(world: World, spec: Spec, day: date, rng: Rng | None = None) -> datetime:
    """The routine's habitual moment on ``day`` (UTC); a span draws a moment (mid-span without rng)."""
    kind, a, b = spec.anchor
    if kind == "clock":
        return world.local(day, a)
    if kind in ("sunrise", "sunset"):
        k = world.days.index(day) + 1
        return (world.rises if kind == "sunrise" else world.sets)[k] + timedelta(minutes=a)
    minute = (a + b) / 2 if rng is None else float(rng.uniform(a, b))
    return world.local(day, minute)


def holds(context: dict[str, str], triggers: dict[str, str]) -> bool:
    """All of the routine's triggers hold in this context."""
    return all(context.get(k) == v for k, v in triggers.items())


def identifiable(world: World, spec: Spec, rng: Rng) -> bool:
    """Every undeclared field varies and every declared condition excludes days (see module doc)."""
    probes = 3 if spec.anchor[0] == "span" else 1
    contexts = [
        world.context(nominal(world, spec, d, rng if probes > 1 else None))
        for d in world.days
        for _ in range(probes)
    ]
    eligible = [c for c in contexts if holds(c, spec.triggers)]
    if len(eligible) * spec.prob / probes < 10:
        return False
    for name in ("time_of_day", "day_of_week", "sun_phase", "weather", "outdoor_temp"):
        if name in spec.triggers:
            others = {k: v for k, v in spec.triggers.items() if k != name}
            pool = [c for c in contexts if holds(c, others)]
            excluded = sum(c[name] != spec.triggers[name] for c in pool)
            if excluded < 0.15 * len(pool) and name not in ("time_of_day", "sun_phase"):
                return False
        else:
            values = [c[name] for c in eligible]
            if max(values.count(v) for v in set(values)) > 0.8 * len(values):
                return False
    return True


def draw_spec(world: World, devices: dict[str, Device], rng: Rng, episode: str) -> Spec | None:
    """One routine of an episode, with its triggers drawn from the schema; None if it does not fit."""
    (kind, lo, hi, declare), dow, roles, optional = _EPISODES[episode]
    minute = float(rng.uniform(lo, hi))
    anchor: tuple[str, float, float] = (kind, minute, 0.0) if kind != "span" else ("span", lo, hi)
    triggers: dict[str, str] = {}
    mid = world.days[len(world.days) // 2]
    spec = Spec(triggers, anchor, float(rng.uniform(4, 12)), float(rng.uniform(0.72, 0.95)), {})
    if episode in ("rain", "snow", "heat") and rng.random() < 0.5:
        spec.anchor = ("clock", float(rng.uniform(lo, hi)), 0.0)  # a reaction bound to a part of the day
        declare = "tod"
    if kind in ("sunrise", "sunset"):
        spec.jitter = min(spec.jitter, abs(minute) / 3.5)
    at = world.context(nominal(world, spec, mid))
    if declare == "tod":
        triggers["time_of_day"] = at["time_of_day"]
    if declare.startswith("sun"):
        triggers["sun_phase"] = "before_sunrise" if kind == "sunrise" else "after_sunset"
        if declare == "sun+tod" or rng.random() < 0.3:
            triggers["time_of_day"] = at["time_of_day"]
    if dow is not None and rng.random() < 0.85:
        triggers["day_of_week"] = dow
    if episode in _REACTION_CONDITION:
        name, value = _REACTION_CONDITION[episode]
        triggers[name] = value
    if episode == "heat":
        triggers["outdoor_temp"] = str(rng.choice(["warm", "hot"]))
    if episode == "cold":
        triggers["outdoor_temp"] = str(rng.choice(["very cold", "cold"]))
    for name in optional:
        if name not in triggers and rng.random() < 0.4:
            triggers[name] = _draw_value(name, world, spec, rng)
    chosen = [r for r in roles if r[0] in devices and rng.random() < 0.7] or [roles[0]]
    for role, mood in chosen[: int(rng.integers(1, 5))]:
        device = devices[role]
        spec.targets[device.entity_id] = draw_target(device, mood, rng)
    if "time_of_day" in triggers:
        # The habitual time must sit well inside its part of the day (jitter stays inside).
        for d in world.days[:: max(1, len(world.days) // 6)]:
            t = nominal(world, spec, d)
            for delta in (-3 * spec.jitter, 3 * spec.jitter + 12):
                if world.context(t + timedelta(minutes=delta))["time_of_day"] != triggers["time_of_day"]:
                    return None
    _declare_implied_time(world, spec, rng)
    return spec if identifiable(world, spec, rng) else None


def _declare_implied_time(world: World, spec: Spec, rng: Rng) -> None:
    """A habit at a fixed clock time that (nearly) always falls before sunrise *is* a before-sunrise habit.

    Time of day and sun phase are tied by the season: when the undeclared one is (almost) constant at
    the habitual time, it is declared too (the routine then happens only when both hold), so that the
    truth says what the data can show.
    """
    probes = 3 if spec.anchor[0] == "span" else 1
    for name in ("sun_phase", "time_of_day"):
        if name in spec.triggers or spec.anchor[0] == "span":
            continue
        contexts = [world.context(nominal(world, spec, d, rng if probes > 1 else None)) for d in world.days]
        values = [c[name] for c in contexts if holds(c, spec.triggers)]
        if values:
            top = max(set(values), key=values.count)
            if values.count(top) > 0.8 * len(values):
                spec.triggers[name] = top


def _draw_value(name: str, world: World, spec: Spec, rng: Rng) -> str:
    """A condition the household meets where it lives: the value on a random day at the habitual time."""
    if name == "day_of_week":
        return str(rng.choice(["weekday", "weekend"]))
    day = world.days[int(rng.integers(len(world.days)))]
    return world.context(nominal(world, spec, day, rng))[name]


_LIFESTYLES: dict[str, tuple[str, ...]] = {
    "commuter": ("wake", "leave", "home", "tv", "bedtime", "dusk", "weekend_wake", "rain", "cold", "heat"),
    "home_worker": ("wake", "work", "dusk", "tv", "bedtime", "rain", "heat", "snow", "weekend_wake"),
    "retired": ("weekend_wake", "dusk", "tv", "bedtime", "rain", "cold", "heat", "snow", "predawn"),
    "shift_worker": ("predawn", "leave", "home", "bedtime", "dusk", "rain", "heat", "cold"),
    "family": ("wake", "leave", "home", "tv", "bedtime", "weekend_wake", "dusk", "rain", "snow", "heat"),
}


def draw_profile(world: World, devices: dict[str, Device], rng: Rng) -> list[Spec]:
    """3-8 identifiable routines that do not collide (habitual times ≥ 45 min apart when both apply)."""
    lifestyle = list(_LIFESTYLES)[int(rng.integers(len(_LIFESTYLES)))]
    episodes = list(_LIFESTYLES[lifestyle])
    wanted = int(rng.integers(3, 9))
    specs: list[Spec] = []
    for _attempt in range(400):
        if len(specs) >= wanted:
            break
        spec = draw_spec(world, devices, rng, episodes[int(rng.integers(len(episodes)))])
        if spec is None or any(_collide(world, spec, other) for other in specs):
            continue
        if any(spec.triggers == o.triggers and set(spec.targets) == set(o.targets) for o in specs):
            continue
        specs.append(spec)
    return specs


def _collide(world: World, a: Spec, b: Spec) -> bool:
    if "span" in (a.anchor[0], b.anchor[0]):
        return (
            a.triggers.get("time_of_day") == b.triggers.get("time_of_day")
            and set(a.targets) & set(b.targets) != set()
        )
    for day in world.days[::3]:
        ta, tb = nominal(world, a, day), nominal(world, b, day)
        ca, cb = world.context(ta), world.context(tb)
        if holds(ca, a.triggers) and holds(cb, b.triggers) and abs((ta - tb).total_seconds()) < 45 * 60:
            return True
    return False


# --------------------------------------------------------------------------------------------- events


@dataclass(slots=True)
class Household:
    """One generated household: truth, event log, and which events each occurrence produced."""

    routines: list[Json]
    events: list[Json]
    occurrences: list[tuple[int, list[int]]]  # (routine index, indices into events)
    place: str
    seed: int


@dataclass(slots=True)
class _Raw:
    when: datetime
    entity: str
    settings: dict[str, Any] | None  # None: a raw state string (sensor, transitional, unavailable)
    origin: str
    state: str = ""
    attrs: Json = field(default_factory=dict)
    occurrence: int = -1  # index into occurrences, or -1


def _user_events(
    world: World, devices: dict[str, Device], specs: list[Spec], rng: Rng
) -> tuple[list[_Raw], list[int]]:
    """Routine occurrences, user turn-offs, automations' resets; returns events and occurrence owners."""
    raws: list[_Raw] = []
    owners: list[int] = []
    by_id = {d.entity_id: d for d in devices.values()}
    for day in world.days:
        taken: list[datetime] = []
        for r, spec in enumerate(specs):
            for _try in range(2 if spec.anchor[0] == "span" else 1):
                start = nominal(world, spec, day, rng) + timedelta(
                    minutes=float(np.clip(rng.normal(0, spec.jitter), -2.5 * spec.jitter, 2.5 * spec.jitter))
                )
                if not holds(world.context(start), spec.triggers):
                    continue
                if rng.random() > spec.prob:
                    break
                planned = _occurrence(start, spec, by_id, rng)
                if not all(holds(world.context(p.when), spec.triggers) for p in planned):
                    break
                if any(abs((p.when - t).total_seconds()) < 25 * 60 for p in planned for t in taken):
                    continue
                taken += [p.when for p in planned]
                owners.append(r)
                for p in planned:
                    p.occurrence = len(owners) - 1
                raws += planned
                raws += _before(planned, by_id, rng)
                raws += _aftermath(planned, by_id, rng)
                break
    return raws, owners


def _occurrence(start: datetime, spec: Spec, by_id: dict[str, Device], rng: Rng) -> list[_Raw]:
    order = [str(e) for e in rng.permutation(list(spec.targets))]
    if len(order) > 1:
        order = [e for e in order if rng.random() > 0.07] or order[:1]
    out: list[_Raw] = []
    when = start
    for entity in order:
        device = by_id[entity]
        final = noisy(device, spec.targets[entity], rng)
        if "brightness" in final and rng.random() < 0.1:  # restores the last level, then the user dims
            first = dict(final, brightness=_pct(float(rng.integers(20, 100))))
            out.append(_Raw(when, entity, first, "user"))
            when += timedelta(seconds=float(rng.uniform(3, 25)))
        if device.kind == "cover":
            out.append(_Raw(when, entity, None, "device", state="opening"))
            when += timedelta(seconds=float(rng.uniform(8, 30)))
        out.append(_Raw(when, entity, final, "user"))
        when += timedelta(minutes=float(min(6.0, rng.exponential(1.5))) + 0.1)
    return out


def _before(planned: list[_Raw], by_id: dict[str, Device], rng: Rng) -> list[_Raw]:
    """A routine that switches something off needs it on: someone used it earlier (not a routine)."""
    out = []
    for p in planned:
        if p.origin != "user" or p.settings is None:
            continue
        device = by_id[p.entity]
        if device.kind == "alarm":  # disarming needs it armed: the household left or slept earlier
            if p.settings["state"] == "disarmed" and rng.random() < 0.85:
                when = p.when - timedelta(minutes=float(rng.uniform(60, 600)))
                out.append(
                    _Raw(when, p.entity, {"state": str(rng.choice(["armed_away", "armed_night"]))}, "user")
                )
            continue
        if (
            observed_settings(device, p.settings) == observed_settings(device, idle(device))
            and rng.random() < 0.85
        ):
            used = draw_target(device, str(rng.choice(["bright", "dim", "on"])), rng)
            when = p.when - timedelta(minutes=float(rng.uniform(20, 300)))
            out.append(_Raw(when, p.entity, noisy(device, used, rng), "user"))
    return out


def _aftermath(planned: list[_Raw], by_id: dict[str, Device], rng: Rng) -> list[_Raw]:
    """What happens to the devices later: an automation's timer or the user switching off, or nothing."""
    out = []
    for p in planned:
        if p.origin != "user" or p.settings is None:
            continue
        device = by_id[p.entity]
        if device.kind == "alarm":  # the user arms or disarms it again later
            rest = (
                {"state": "disarmed"}
                if p.settings["state"] != "disarmed"
                else {"state": str(rng.choice(["armed_away", "armed_night"]))}
            )
            if rng.random() < 0.8:
                out.append(
                    _Raw(p.when + timedelta(minutes=float(rng.uniform(60, 600))), p.entity, rest, "user")
                )
            continue
        rest = idle(device)
        if observed_settings(device, p.settings) == observed_settings(device, rest):
            continue
        u = rng.random()
        if u < 0.6:
            out.append(
                _Raw(p.when + timedelta(minutes=float(rng.uniform(20, 150))), p.entity, rest, "automation")
            )
        elif u < 0.75:
            out.append(_Raw(p.when + timedelta(minutes=float(rng.uniform(60, 540))), p.entity, rest, "user"))
    return out


def _spontaneous(world: World, devices: dict[str, Device], n: int, rng: Rng) -> list[_Raw]:
    pool = [d for role, d in devices.items() if role != "porch"]
    out = []
    for _ in range(n):
        day = world.days[int(rng.integers(len(world.days)))]
        minute = float(rng.uniform(360, 1440)) if rng.random() < 0.9 else float(rng.uniform(0, 360))
        device = pool[int(rng.integers(len(pool)))]
        out.append(
            _Raw(
                world.local(day, minute),
                device.entity_id,
                noisy(device, random_setting(device, rng), rng),
                "user",
            )
        )
    return out


def _automations(world: World, devices: dict[str, Device], rng: Rng) -> list[_Raw]:
    """Regular, exact automations the miner must not take for routines."""
    out = []
    porch, heating = devices["porch"], devices["heating"]
    off_at = float(rng.uniform(1350, 1425))
    setback = float(rng.choice([1380, 1410, 1440 - 15]))
    for k, day in enumerate(world.days):
        out.append(
            _Raw(
                world.sets[k + 1] + timedelta(minutes=5),
                porch.entity_id,
                {"state": "on", "brightness": 180},
                "automation",
            )
        )
        out.append(_Raw(world.local(day, off_at), porch.entity_id, {"state": "off"}, "automation"))
        out.append(_Raw(world.local(day, setback), heating.entity_id, idle(heating), "automation"))
    return out


def _device_reports(world: World, devices: dict[str, Device], rng: Rng) -> list[_Raw]:
    out = []
    sensor = f"sensor.{devices['heating'].entity_id.split('.')[1]}_temperature"
    for day in world.days:
        for hour in range(0, 24, 2):
            when = world.local(day, hour * 60 + float(rng.uniform(0, 10)))
            out.append(
                _Raw(
                    when,
                    sensor,
                    None,
                    "device",
                    state=f"{20 + rng.normal(0, 1):.1f}",
                    attrs={"unit_of_measurement": "°C", "device_class": "temperature"},
                )
            )
        if rng.random() < 0.12:
            role = ("living_light", "kitchen_light", "bedroom_light", "speaker")[int(rng.integers(4))]
            when = world.local(day, float(rng.uniform(0, 1440)))
            out.append(_Raw(when, devices[role].entity_id, None, "device", state="unavailable"))
            out.append(
                _Raw(
                    when + timedelta(minutes=float(rng.uniform(1, 5))),
                    devices[role].entity_id,
                    None,
                    "device",
                    state="__restore__",
                )
            )
    return out


def _stamp(when: datetime, tz: ZoneInfo) -> str:
    return when.astimezone(tz).isoformat(timespec="microseconds")


def _context_events(world: World, rng: Rng) -> list[tuple[datetime, Json]]:
    out: list[tuple[datetime, Json]] = []
    rises = sorted(world.rises)
    sets = sorted(world.sets)
    end = world.local(world.days[-1], 1440)
    first_state = [s for t, s in world.sun if t <= world.start]
    moments = [(world.start, first_state[-1] if first_state else "below_horizon")]
    moments += [(t, s) for t, s in world.sun if world.start < t < end]
    for t, s in moments:
        nr = next((x for x in rises if x > t), rises[-1] + timedelta(days=1))
        ns = next((x for x in sets if x > t), sets[-1] + timedelta(days=1))
        attrs = {
            "next_dawn": (nr - timedelta(minutes=35)).isoformat(),
            "next_dusk": (ns + timedelta(minutes=35)).isoformat(),
            "next_rising": nr.isoformat(),
            "next_setting": ns.isoformat(),
            "elevation": round(-0.83 if s == "below_horizon" else 0.1, 2),
            "rising": s == "above_horizon",  # at the transitions: rising at sunrise, setting at sunset
            "friendly_name": "Sun",
        }
        out.append((t, {"entity_id": "sun.sun", "state": s, "attributes": attrs, "origin": "device"}))
    entity = f"weather.{rng.choice(['home', 'forecast_home', 'openweathermap', 'met_no'])}"
    for t, condition, temp in world.weather:
        attrs = {
            "temperature": temp,
            "apparent_temperature": round(temp - float(rng.uniform(0, 3)), 1),
            "humidity": int(rng.integers(40, 98)),
            "pressure": round(float(rng.normal(1013, 8)), 1),
            "wind_speed": round(float(rng.gamma(2, 6)), 1),
            "temperature_unit": "°C",
            "pressure_unit": "hPa",
            "wind_speed_unit": "km/h",
            "friendly_name": "Forecast Home",
            "attribution": "Weather forecast from met.no (Norwegian Meteorological Institute)",
        }
        out.append((t, {"entity_id": entity, "state": condition, "attributes": attrs, "origin": "device"}))
    return out


def generate_household(seed: int) -> Household:
    """One household, deterministic by ``seed``."""
    rng = np.random.default_rng([seed, 0x1DE9])
    world = build_world(rng)
    devices = build_devices(rng)
    specs = draw_profile(world, devices, rng)
    raws, owners = _user_events(world, devices, specs, rng)
    n_routine = sum(1 for r in raws if r.occurrence >= 0 and r.origin == "user")
    n_other_user = sum(1 for r in raws if r.occurrence < 0 and r.origin == "user")
    share = float(rng.uniform(0.22, 0.28))
    raws += _spontaneous(world, devices, max(0, round(share / (1 - share) * n_routine) - n_other_user), rng)
    raws += _automations(world, devices, rng)
    raws += _device_reports(world, devices, rng)
    events, occurrences = _render(world, devices, raws, len(owners), rng)
    # A routine seen fewer than 6 times in the log is no routine anyone could learn: out of the truth
    # (its few events stay in the log, as unlabelled behaviour).
    seen = Counter(owners[k] for k, idx in enumerate(occurrences) if idx)
    kept = [r for r in range(len(specs)) if seen[r] >= MIN_OCCURRENCES]
    renumber = {r: i for i, r in enumerate(kept)}
    routines = [specs[r].truth(devices) for r in kept]
    occ = [(renumber[owners[k]], idx) for k, idx in enumerate(occurrences) if owners[k] in renumber]
    return Household(routines, events, occ, world.place.name, seed)


def _render(
    world: World, devices: dict[str, Device], raws: list[_Raw], n_occ: int, rng: Rng
) -> tuple[list[Json], list[list[int]]]:
    """Chronological HA state log; commands that change nothing leave no event (as in HA)."""
    by_id = {d.entity_id: d for d in devices.values()}
    timeline = _context_events(world, rng)
    current: dict[str, tuple[str, Json]] = {}
    for initial in by_id.values():  # initial states
        state, attrs = snapshot(initial, idle(initial))
        current[initial.entity_id] = (state, attrs)
        timeline.append(
            (
                world.start,
                {"entity_id": initial.entity_id, "state": state, "attributes": attrs, "origin": "device"},
            )
        )
    events: list[Json] = []
    occurrences: list[list[int]] = [[] for _ in range(n_occ)]
    before_blip: dict[str, tuple[str, Json]] = {}
    merged = sorted([(t, 0, e, -1) for t, e in timeline], key=lambda x: x[0].timestamp())
    raw_items = sorted(raws, key=lambda r: r.when.timestamp())
    items = sorted(
        merged + [(r.when, 1, r, r.occurrence) for r in raw_items], key=lambda x: (x[0].timestamp(), x[1])
    )
    end = world.local(world.days[-1], 1440)
    for when, _kind, item, occ in items:
        if when >= end:
            continue
        if not isinstance(item, _Raw):  # a sun or weather snapshot
            events.append({"time": _stamp(when, world.tz), **item})
            continue
        raw = item
        device = by_id.get(raw.entity)
        if raw.settings is not None and device is not None:
            state, attrs = snapshot(device, raw.settings)
        elif raw.state == "__restore__":
            if raw.entity not in before_blip:
                continue
            state, attrs = before_blip.pop(raw.entity)
        else:
            state, attrs = raw.state, dict(raw.attrs)
            if raw.state == "unavailable":
                if raw.entity in before_blip:
                    continue
                before_blip[raw.entity] = current.get(raw.entity, ("off", {}))
                attrs = {"friendly_name": device.name if device else raw.entity}
            elif device is not None and raw.state == "opening":
                attrs = dict(current.get(raw.entity, ("", {}))[1])
        if device is not None and raw.settings is not None:
            if raw.entity in before_blip:  # a command to an unreachable device is lost
                continue
            old = current.get(raw.entity)
            if old is not None and old[0] == state and _same_settings(device, old, (state, attrs)):
                continue
        current[raw.entity] = (state, attrs)
        if occ >= 0:
            occurrences[occ].append(len(events))
        events.append(
            {
                "time": _stamp(when, world.tz),
                "entity_id": raw.entity,
                "state": state,
                "attributes": attrs,
                "origin": raw.origin,
            }
        )
    return events, occurrences


def _same_settings(device: Device, a: tuple[str, Json], b: tuple[str, Json]) -> bool:
    return bool(settings_from_snapshot(device.entity_id, *a) == settings_from_snapshot(device.entity_id, *b))


def generate(n: int, seed: int) -> list[tuple[list[Json], list[Json]]]:
    """``n`` households (seeds ``seed`` .. ``seed + n - 1``) as (true routines, event log)."""
    return [(h.routines, h.events) for h in (generate_household(seed + k) for k in range(n))]


def write_households(directory: Path, seeds: Sequence[int] | range) -> None:
    """Write line-aligned ``routines.jsonl`` and ``events.jsonl`` (one household per line)."""
    directory.mkdir(parents=True, exist_ok=True)
    with (
        (directory / "routines.jsonl").open("w", encoding="utf-8") as routines,
        (directory / "events.jsonl").open("w", encoding="utf-8") as events,
    ):
        for seed in seeds:
            household = generate_household(seed)
            routines.write(json.dumps(household.routines, ensure_ascii=False) + "\n")
            events.write(json.dumps(household.events, ensure_ascii=False) + "\n")
