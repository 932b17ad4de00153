"""Getting a demo's Home Assistant ready: every virtual entity there, Habitus added with the scaled TSS
thresholds, its bootstrap from the recorder finished, and its learning figures once they settle."""

from __future__ import annotations

import time
from typing import Any

from .client import DemoError, RestClient, wait_until
from .console import say
from .habitus_setup import add_habitus
from .hass_process import HassProcess
from .home import VirtualDevice
from .plan import PAPER_MAX_GAP_HOURS, habitus_values
from .summary import Figure, habitus_learning_figures

READY_TIMEOUT_S = 120.0
BOOTSTRAP_TIMEOUT_S = 300.0
OPTIONS_RELOAD_S = 2.0
SENSOR_REFRESH_S = 1.5


def wait_ready(client: RestClient, hass: HassProcess, devices: list[VirtualDevice]) -> str:
    """Wait for HA to run with every virtual entity; returns HA's version."""
    wanted = {d.entity_id for d in devices}
    config: dict[str, Any] = {}

    def ready() -> bool:
        config.update(client.get("/api/config"))
        if config.get("recovery_mode") or config.get("safe_mode"):
            raise DemoError("Home Assistant started in recovery mode", hass.log_tail())
        present = {s["entity_id"] for s in client.get("/api/states")}
        return config.get("state") == "RUNNING" and wanted <= present

    try:
        wait_until(ready, "Home Assistant to run with the virtual home's entities", READY_TIMEOUT_S)
    except DemoError as err:
        raise DemoError(str(err), hass.log_tail()) from err
    return str(config.get("version", "?"))


def habitus_figures(client: RestClient) -> dict[str, Figure] | None:
    """Habitus's learning figures, or ``None`` while its sensors are not there yet."""
    try:
        return habitus_learning_figures(client)
    except DemoError:
        return None


def add_habitus_entry(
    client: RestClient, hass: HassProcess, devices: list[VirtualDevice], speed: float
) -> None:
    """Add Habitus through its config and options flows and wait for its sensors."""
    values = habitus_values(devices, speed)
    try:
        entry_id = add_habitus(client, values)
        wait_until(lambda: habitus_figures(client), "Habitus's sensors", READY_TIMEOUT_S)
    except DemoError as err:
        raise DemoError(str(err), err.details or hass.log_tail()) from err
    gap_s = PAPER_MAX_GAP_HOURS * 3600.0 / speed
    say(
        f"Habitus added (entry {entry_id}), learning from {', '.join(values['include_domains'])}; "
        f"TSS Δt_max = {values['max_gap_hours']:.6f} h ({gap_s:.2f} s), "
        f"T_max = {values['max_span_hours']:.6f} h"
    )


def wait_bootstrap(client: RestClient) -> None:
    """Wait until Habitus's entry, reloaded with the options, has finished its bootstrap."""

    def loaded() -> bool:
        entries = client.get("/api/config/config_entries/entry?domain=habitus")
        return bool(entries) and entries[0].get("state") == "loaded"

    def done() -> dict[str, Figure] | None:
        figures = habitus_figures(client) if loaded() else None
        return figures if figures and figures.get("learning_state") != "bootstrapping" else None

    time.sleep(OPTIONS_RELOAD_S)  # the options flow's reload runs after its answer
    wait_until(done, "Habitus's bootstrap from the recorder", BOOTSTRAP_TIMEOUT_S)


def settled_learning(client: RestClient) -> dict[str, Figure]:
    """Habitus's learning figures once two reads ``SENSOR_REFRESH_S`` apart agree."""
    deadline = time.monotonic() + BOOTSTRAP_TIMEOUT_S

    def read() -> dict[str, Figure]:
        return wait_until(lambda: habitus_figures(client), "Habitus's sensors", READY_TIMEOUT_S)

    figures = read()
    while time.monotonic() < deadline:
        time.sleep(SENSOR_REFRESH_S)
        again = read()
        if again == figures:
            break
        figures = again
    return figures
