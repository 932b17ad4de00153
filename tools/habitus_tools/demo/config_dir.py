"""The Home Assistant config dir the demo runs in: configuration.yaml and the two custom integrations.

``configuration.yaml`` lists the integrations the demo needs one by one instead of
``default_config`` (which pulls in go2rtc, whose binary is not installed here, and other network
services). HA always sets up ``frontend`` and falls back to recovery mode without it, so the
``home-assistant-frontend`` package (``FRONTEND_REQUIREMENT``) must be installed: HA runs with
``--skip-pip`` and would not install it.
"""

from __future__ import annotations

import importlib.util
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .client import DemoError
from .home import VirtualDevice
from .paths import HABITUS_INTEGRATION_DIR, VIRTUAL_HOME_DIR

HOST = "127.0.0.1"
FRONTEND_REQUIREMENT = "home-assistant-frontend==20250411.0"  # what HA 2025.4.4's frontend manifest pins
AUTOMATIONS_FILE = "automations.yaml"


def frontend_available() -> bool:
    """Is the web UI's package (``hass_frontend``) importable in this Python?"""
    return importlib.util.find_spec("hass_frontend") is not None


def configuration(port: int, devices: Iterable[VirtualDevice]) -> dict[str, Any]:
    """The demo's ``configuration.yaml`` as a dict."""
    config: dict[str, Any] = {
        "homeassistant": {
            "name": "Habitus demo",
            "latitude": 48.8566,
            "longitude": 2.3522,
            "elevation": 35,
            "unit_system": "metric",
            "time_zone": "Europe/Paris",
            "country": "FR",
            "currency": "EUR",
        },
        "http": {"server_host": HOST, "server_port": port},
        "frontend": {},
        "api": {},
        "config": {},
        "onboarding": {},
        "person": {},
        "websocket_api": {},
        "system_log": {},
        "recorder": {"purge_keep_days": 2, "commit_interval": 1},
        "history": {},
        "logbook": {},
        "repairs": {},  # Settings > System > Repairs: where Habitus's routine suggestions are
        "sun": {},
        "logger": {
            "default": "warning",
            "logs": {"custom_components.habitus": "info", "custom_components.virtual_home": "info"},
        },
        "virtual_home": {"devices": [d.as_config() for d in devices]},
    }
    return config


def prepare_config_dir(config_dir: Path, port: int, devices: Iterable[VirtualDevice]) -> None:
    """Write ``configuration.yaml`` and (re)install ``habitus`` and ``virtual_home`` into ``config_dir``."""
    import yaml  # noqa: PLC0415 - installed with Home Assistant; keeps `habitus --help` light

    if not (HABITUS_INTEGRATION_DIR / "manifest.json").is_file():
        raise DemoError(f"the Habitus integration is missing: no manifest.json in {HABITUS_INTEGRATION_DIR}")
    config_dir.mkdir(parents=True, exist_ok=True)
    text = yaml.safe_dump(configuration(port, devices), sort_keys=False, allow_unicode=True)
    # HA's default line (a YAML tag safe_dump cannot write): accepted routine suggestions go there.
    text += f"automation: !include {AUTOMATIONS_FILE}\n"
    (config_dir / "configuration.yaml").write_text(text, encoding="utf-8")
    automations = config_dir / AUTOMATIONS_FILE
    if not automations.exists():
        automations.write_text("[]\n", encoding="utf-8")
    custom = config_dir / "custom_components"
    custom.mkdir(exist_ok=True)
    for source in (HABITUS_INTEGRATION_DIR, VIRTUAL_HOME_DIR):
        target = custom / source.name
        if target.is_symlink() or target.is_file():
            target.unlink()
        elif target.exists():
            shutil.rmtree(target)
        shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
