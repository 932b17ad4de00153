"""Constants of the demo's virtual home."""

from __future__ import annotations

from typing import TypedDict

from homeassistant.const import Platform

DOMAIN = "virtual_home"
PLATFORMS: tuple[Platform, ...] = (
    Platform.CLIMATE,
    Platform.COVER,
    Platform.FAN,
    Platform.LIGHT,
    Platform.LOCK,
    Platform.MEDIA_PLAYER,
    Platform.SIREN,
    Platform.SWITCH,
    Platform.VACUUM,
    Platform.VALVE,
)
CONF_DEVICES = "devices"


class DeviceSpec(TypedDict):
    """One virtual device as configured (see ``habitus_tools.demo.home.VirtualDevice``)."""

    key: str
    name: str
    model: str
    domain: str
    kind: str
    area: str
