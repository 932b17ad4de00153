"""Fixtures for the HA tests: a real HA with the recorder and Habitus loadable."""

from __future__ import annotations

import logging
import shutil
from collections.abc import Awaitable, Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.habitus.const import DOMAIN
from custom_components.habitus.runtime import HabitusConfigEntry

type SetupHabitus = Callable[..., Awaitable[HabitusConfigEntry]]

# The test plugin turns SQLAlchemy's statement echo on (INFO); the recorder thread's statements then
# leak into the CI log between tests (hundreds of INSERT/COMMIT lines). Habitus's tests never read them.
logging.getLogger("sqlalchemy.engine").setLevel(logging.WARNING)


@pytest.fixture(autouse=True)
def auto_enable(recorder_mock: Any, enable_custom_integrations: None) -> None:
    """Every HA test runs with a real recorder (Habitus depends on it) and custom integrations on.

    ``recorder_mock`` comes first: the recorder must be set up before ``hass`` is.
    """


@pytest.fixture(autouse=True)
def remove_entry_folders(hass: HomeAssistant) -> Iterator[None]:
    """Delete the test's ``<config>/habitus/<entry_id>`` folders (deployed models) afterwards: the test
    config folder is shared by every test run, and entries are rarely removed inside a test."""
    yield
    for entry in hass.config_entries.async_entries(DOMAIN):
        shutil.rmtree(Path(hass.config.path("habitus", entry.entry_id)), ignore_errors=True)


@pytest.fixture
def setup_habitus(hass: HomeAssistant) -> SetupHabitus:
    """Add and set up a Habitus entry with ``options``; by default wait for the bootstrap to finish."""

    async def _setup(options: Mapping[str, Any] | None = None, *, wait: bool = True) -> HabitusConfigEntry:
        entry = MockConfigEntry(
            domain=DOMAIN, title="Habitus", data={}, options=dict(options or {}), unique_id=DOMAIN
        )
        entry.add_to_hass(hass)
        assert await hass.config_entries.async_setup(entry.entry_id)
        await hass.async_block_till_done(wait_background_tasks=wait)
        return entry  # type: ignore[return-value]

    return _setup
