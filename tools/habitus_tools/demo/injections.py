"""Unusual behaviours the demo slips into the replay, so that live anomaly detection has something to find.

Each ``Injection`` is a short action sequence this household never performs (the heater switched on and
off around the water valve, the siren sounding while the heater runs); action names are the dataset's,
resolved to the virtual home's service calls by the replay's own ``ActionMapper``. They are played as
a TSS sequence of their own: the replay pauses its dataset clock, waits longer than Δt_max, sends the
calls a fraction of a second apart, waits again, then goes on. Each injection's wall-clock window is
recorded; an anomaly Habitus reports inside ``[start, end + settle]`` counts as that injection flagged.

The sequences were chosen by scoring candidates with the shipped base TransAE (SmartThings FR): live
scoring reads the open sequence after each behaviour, and for each injection some prefix scores above
the model's threshold in at least 95 % of the (weekday, 3-hour bucket) cells of the week. Live, HA's own clock
gives the time features, so whether one is flagged also depends on the hour the demo runs.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from habitus_engine.datasets import Vocabulary

from .client import RestClient
from .mapping import ActionMapper, ServiceCall

# (name, dataset actions in order). The device of each action is the one its "Type:" prefix names.
INJECTIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("heater_and_water_valve", ("Heater:switch on", "WaterValve:valve open", "Heater:switch off",
                                "WaterValve:valve close")),
    ("water_valve_and_heater", ("WaterValve:valve open", "Heater:switch on", "WaterValve:valve close",
                                "Heater:switch off")),
    ("siren_while_heating", ("Siren:alarm both", "Heater:switch on", "Heater:switch off",
                             "Siren:alarm off")),
)  # fmt: skip
CALL_SPACING_S = 0.3  # between the calls of one injection (well inside Δt_max)
SCORING_SETTLE_S = 3.0  # how long after an injection's last call its anomaly may still arrive


@dataclass(frozen=True, slots=True)
class Injection:
    """A named unusual sequence, as service calls."""

    name: str
    calls: tuple[ServiceCall, ...]


@dataclass(frozen=True, slots=True)
class InjectedWindow:
    """When one injection was played (epoch seconds) and the calls HA accepted."""

    name: str
    start: float
    end: float
    accepted: int

    def contains(self, when: float, settle_s: float) -> bool:
        """Whether an anomaly reported at ``when`` belongs to this injection."""
        return self.start <= when <= self.end + settle_s


def resolve_injections(vocab: Vocabulary, mapper: ActionMapper) -> list[Injection]:
    """The injections whose every action maps to a call on this home's devices (others are left out)."""
    resolved: list[Injection] = []
    for name, actions in INJECTIONS:
        calls: list[ServiceCall] = []
        for action in actions:
            device = action.split(":", 1)[0]
            if device not in vocab.devices or action not in vocab.actions:
                break
            mapped = mapper.map(vocab.devices.index(device), vocab.actions.index(action))
            if not isinstance(mapped, ServiceCall):
                break
            calls.append(mapped)
        else:
            resolved.append(Injection(name, tuple(calls)))
    return resolved


@dataclass
class Injector:
    """Plays the injections in turn, the first ``first_after_s`` into the replay, then every ``every_s``."""

    injections: list[Injection]
    gap_s: float  # silence before and after an injection (> Δt_max on the wall clock)
    first_after_s: float
    every_s: float
    played: list[InjectedWindow] = field(default_factory=list)

    def due(self, elapsed_s: float) -> bool:
        """Whether the next injection is due ``elapsed_s`` into the replay."""
        if not self.injections or self.every_s <= 0:
            return False
        return elapsed_s >= self.first_after_s + len(self.played) * self.every_s

    def play(self, client: RestClient) -> InjectedWindow:
        """Send the next injection's calls (blocking) and record its window."""
        injection = self.injections[len(self.played) % len(self.injections)]
        start = time.time()
        accepted = 0
        for i, call in enumerate(injection.calls):
            if i:
                time.sleep(CALL_SPACING_S)
            accepted += client.request("POST", f"/api/services/{call.domain}/{call.service}", call.data).ok
        window = InjectedWindow(injection.name, start, time.time(), accepted)
        self.played.append(window)
        return window


def flagged_injections(windows: list[InjectedWindow], anomaly_times: list[float], settle_s: float) -> int:
    """How many injections have at least one anomaly reported inside their window."""
    return sum(any(w.contains(t, settle_s) for t in anomaly_times) for w in windows)
