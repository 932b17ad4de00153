"""Diagnostics through HA's own endpoint (``/api/diagnostics``): the live side is there, private data not."""

from __future__ import annotations

import json
from typing import Any

import homeassistant.components.hassio  # noqa: F401  (system info imports it: not under a frozen clock)
import pytest
from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.components.diagnostics import get_diagnostics_for_config_entry
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.habitus.const import DOMAIN
from custom_components.habitus.diagnostics import TO_REDACT
from custom_components.habitus.live_models import ASSETS_DIR

from .conftest import SetupHabitus
from .live_helpers import DEVICES, UNUSUAL, WEDNESDAY_0305_PACIFIC, act, calibrate_on_regular_home, start

OPTIONS = {
    "max_gap_hours": 0.05,
    "exclude_entities": ["light.private_bedroom"],
    "llm_server_url": "http://user:secret@nas.local:8080/v1",
}
FREE_TEXT = "Alice moved in with Bob"


@pytest.fixture
def wednesday(freezer: FrozenDateTimeFactory) -> FrozenDateTimeFactory:
    """The live tests' frozen clock, set before ``hass_client`` issues its token (else it is "future")."""
    freezer.move_to(WEDNESDAY_0305_PACIFIC)
    return freezer


async def test_diagnostics_show_the_live_side_and_redact_what_identifies_the_household(
    hass: HomeAssistant,
    wednesday: FrozenDateTimeFactory,
    hass_client: ClientSessionGenerator,
    setup_habitus: SetupHabitus,
) -> None:
    freezer = wednesday
    start(hass, freezer)
    entry = await setup_habitus(OPTIONS)
    await calibrate_on_regular_home(entry)  # the base threshold is this home's
    await act(hass, freezer, UNUSUAL)  # an anomaly: a notification, then the cool-down runs
    live, runtime = entry.runtime_data.live, entry.runtime_data
    assert live is not None and runtime.worker is not None
    await live.async_deploy(
        hass, ASSETS_DIR / "transae_fr.npz", ASSETS_DIR / "sasrec_fr.npz", "home-1", metrics={"hr_at_10": 0.5}
    )
    runtime.adaptation.last_outcome = {
        "deployed": True,
        "version": "home-1",
        "trigger": "service",
        "context": FREE_TEXT,  # what the user typed for habitus.adapt
        "shift": {
            "kind": "custom",
            "original": "a couple",
            "new": FREE_TEXT,
            "emphasis_devices": ["valve.main"],
        },
    }
    await hass.services.async_call(DOMAIN, "feedback", {}, blocking=True)
    await runtime.worker.run("sleep_steps", {"steps": 1, "seconds": 0.0})  # the worker process starts

    data: dict[str, Any] = await get_diagnostics_for_config_entry(hass, hass_client, entry)  # type: ignore[assignment]

    live_data = data["live"]
    serving, target = live_data["models"]["serving"], live_data["models"]["rollback_target"]
    assert (serving["version"], serving["source"], serving["metrics"]) == (
        "home-1",
        "home",
        {"hr_at_10": 0.5},
    )
    assert serving["threshold"] == round(live.scorer.bundle.threshold, 4)  # type: ignore[union-attr]
    assert (target["version"], target["source"]) == ("base-fr", "base")
    assert live_data["models"]["stored_version"] == "home-1" and live_data["models"]["store_error"] is None
    assert live_data["scoring"]["scored"] >= 1 and live_data["scoring"]["known_behaviours"] >= 0
    alerts = live_data["alerts"]
    assert alerts["notified"] == 1 and alerts["cooling_down"] is True and alerts["last_notified"]
    assert live_data["feedback_sequences"] == 1
    assert set(live_data["context_monitor"]["current"]) == {"season", "schedule", "occupancy", "people_home"}
    assert data["adaptation"]["last_outcome"]["version"] == "home-1"
    worker = data["worker"]
    assert worker["running"] is True and worker["pid_alive"] is True and worker["busy"] is False
    assert worker["pid"] == runtime.worker.pid
    assert set(data["loop_lag"]) == {"running", "samples", "p50_ms", "p99_ms", "max_ms"}
    assert data["learner_observers"] == 3  # scorer, context tracker, action names

    text = json.dumps(data)
    for private in (*DEVICES, "light.private_bedroom", FREE_TEXT, "a couple", "secret", "nas.local"):
        assert private not in text, private
    assert data["adaptation"]["last_outcome"]["context"] == "**REDACTED**"
    assert data["settings"]["exclude_entities"] == "**REDACTED**"
    assert "latitude" in TO_REDACT and str(hass.config.latitude) not in text


async def test_diagnostics_before_anything_happened(
    hass: HomeAssistant, hass_client: ClientSessionGenerator, setup_habitus: SetupHabitus
) -> None:
    entry = await setup_habitus()
    data: dict[str, Any] = await get_diagnostics_for_config_entry(hass, hass_client, entry)  # type: ignore[assignment]
    assert data["live"]["models"]["serving"]["source"] == "base"
    assert data["live"]["models"]["rollback_target"] is None
    assert data["live"]["models"]["stored_version"] is None
    assert data["live"]["scoring"]["open_sequence"] is None
    assert data["live"]["alerts"]["cooling_down"] is False
    assert data["worker"] == {"running": False, "pid": None, "pid_alive": False, "busy": False}
    assert data["adaptation"]["last_outcome"] == {}
