"""The figures a demo run reports, read from what Home Assistant really holds.

``DemoSummary`` is a flat, ordered set of named figures (written as a flat JSON object by
``--summary``). The replay contributes its counters; every ``SummaryProbe`` in ``SUMMARY_PROBES`` reads
more figures from the running HA at the end of the run. Later features add a probe (anomalies
flagged, predictions, adaptations, loop lag, memory) instead of changing the runner.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .client import DemoError, RestClient

type Figure = int | float | str | bool
type SummaryProbe = Callable[[RestClient], dict[str, Figure]]

# Figure name -> entity id of the Habitus sensor that holds it (named through translation keys).
HABITUS_SENSORS: dict[str, str] = {
    "behaviours": "sensor.habitus_behaviours_learned",
    "sequences": "sensor.habitus_sequences_learned",
    "learning_state": "sensor.habitus_learning_state",
}
_NUMERIC = ("behaviours", "sequences")


@dataclass
class DemoSummary:
    """Named figures of one run, in the order they were added."""

    figures: dict[str, Figure] = field(default_factory=dict)

    def update(self, figures: dict[str, Figure]) -> None:
        """Add or replace figures."""
        self.figures.update(figures)

    def to_json(self) -> str:
        """The flat JSON object ``--summary`` writes."""
        return json.dumps(self.figures, indent=2) + "\n"

    def write(self, path: Path) -> None:
        """Write the JSON (directories created)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.to_json(), encoding="utf-8")

    def lines(self) -> list[str]:
        """Human-readable ``name: value`` lines."""
        width = max((len(name) for name in self.figures), default=0)
        return [f"  {name.ljust(width)}  {value}" for name, value in self.figures.items()]


def _states_by_id(client: RestClient) -> dict[str, dict[str, Any]]:
    return {s["entity_id"]: s for s in client.get("/api/states")}


def find_habitus_sensors(states: dict[str, dict[str, Any]]) -> dict[str, str]:
    """Figure name -> entity id, by the expected id or else by a ``sensor.habitus*`` id naming it."""
    found: dict[str, str] = {}
    for figure, entity_id in HABITUS_SENSORS.items():
        if entity_id in states:
            found[figure] = entity_id
            continue
        word = figure.rstrip("s")
        candidates = sorted(e for e in states if e.startswith("sensor.habitus") and word in e)
        if candidates:
            found[figure] = candidates[0]
    return found


def habitus_learning_figures(client: RestClient) -> dict[str, Figure]:
    """``behaviours``, ``sequences`` and ``learning_state`` from Habitus's sensors."""
    states = _states_by_id(client)
    sensors = find_habitus_sensors(states)
    missing = [HABITUS_SENSORS[f] for f in HABITUS_SENSORS if f not in sensors]
    if missing:
        raise DemoError(f"Habitus sensors not found in Home Assistant: {', '.join(missing)}")
    figures: dict[str, Figure] = {}
    for figure, entity_id in sensors.items():
        value = str(states[entity_id]["state"])
        if figure in _NUMERIC:
            try:
                figures[figure] = int(float(value))
            except ValueError as err:
                raise DemoError(f"{entity_id} is {value!r}, not a count") from err
        else:
            figures[figure] = value
    return figures


SUMMARY_PROBES: list[SummaryProbe] = [habitus_learning_figures]


def probe_figures(client: RestClient, probes: list[SummaryProbe] | None = None) -> dict[str, Figure]:
    """Every probe's figures, merged in order."""
    figures: dict[str, Figure] = {}
    for probe in SUMMARY_PROBES if probes is None else probes:
        figures.update(probe(client))
    return figures
