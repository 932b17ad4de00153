"""The virtual home: one Home Assistant device (and entity) per dataset device.

A dataset's vocabulary names device *types* (``Light``, ``Television``, ``Blind``... or AN's
``desklight``, ``curtains``). Each becomes one entity of the HA domain a real device of that kind
would have, in an area, e.g. ``Television`` -> ``media_player.television`` (device class ``tv``) in the
Living Room. The plan is plain data: it is written into ``configuration.yaml`` for the
``virtual_home`` integration and used by the replay to address the entities.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# (keywords matched inside the lower-case alphanumeric device name, domain, kind, area). First match
# wins, so specific names come before generic ones ("airconditioner" before "air"/"cleaner").
_DOMAIN_RULES: tuple[tuple[tuple[str, ...], str, str, str], ...] = (
    (("robotcleaner", "sweeper", "vacuum", "windowcleaner"), "vacuum", "robot", "Hallway"),
    (("airconditioner", "aircon"), "climate", "air_conditioner", "Living Room"),
    (("heater", "thermostat"), "climate", "heater", "Living Room"),
    (("garage",), "cover", "garage", "Garage"),
    (("blind", "curtain", "shade", "shutter"), "cover", "blind", "Living Room"),
    (("valve",), "valve", "water", "Kitchen"),
    (("siren", "alarm"), "siren", "siren", "Hallway"),
    (("lock",), "lock", "lock", "Hallway"),
    (("television", "tv"), "media_player", "tv", "Living Room"),
    (("projector",), "media_player", "projector", "Living Room"),
    (("audio", "speaker", "soundbox", "genie"), "media_player", "speaker", "Living Room"),
    (("light", "bulb", "led", "lamp"), "light", "light", "Living Room"),
    (("purifier", "aircleaner", "humidifier"), "fan", "purifier", "Bedroom"),
    (("fan",), "fan", "fan", "Bedroom"),
)
# Everything else is a switch (an appliance or a plug); its area comes from its name.
_SWITCH_AREAS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("refrigerator", "microwave", "oven", "dishwasher", "kettle", "cooler", "coffee"), "Kitchen"),
    (("hairdryer",), "Bathroom"),
    (("washer", "washing", "dryer", "clothing"), "Laundry"),
    (("computer",), "Office"),
)
DEFAULT_AREA = "Hallway"


@dataclass(frozen=True, slots=True)
class VirtualDevice:
    """One device of the virtual home, mirrored by one entity of ``domain``.

    ``kind`` refines the domain for the ``virtual_home`` integration (``tv`` sets the media player's
    device class, ``heater``/``air_conditioner`` choose a climate entity's HVAC modes, ``garage``/
    ``blind`` a cover's device class).
    """

    key: str  # object id, unique in the home: "air_conditioner"
    name: str  # device name shown in HA: "Air conditioner"
    dataset_device: str  # the dataset's device name: "AirConditioner"
    domain: str  # HA domain of its entity: "climate"
    kind: str
    area: str

    @property
    def entity_id(self) -> str:
        """The entity id ``virtual_home`` gives the device's entity (``climate.air_conditioner``)."""
        return f"{self.domain}.{self.key}"

    def as_config(self) -> dict[str, str]:
        """The device as ``virtual_home``'s YAML expects it."""
        return {
            "key": self.key,
            "name": self.name,
            "model": self.dataset_device,
            "domain": self.domain,
            "kind": self.kind,
            "area": self.area,
        }


def _compact(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def slugify(name: str) -> str:
    """``"AirConditioner"`` -> ``"air_conditioner"``, ``"xiaodu-bulb"`` -> ``"xiaodu_bulb"``."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name)
    slug = re.sub(r"[^a-z0-9]+", "_", spaced.lower()).strip("_")
    return slug or "device"


def display_name(name: str) -> str:
    """``"AirConditioner"`` -> ``"Air conditioner"``, ``"bedlight1"`` -> ``"Bedlight1"``."""
    words = slugify(name).split("_")
    text = " ".join(words)
    return text[:1].upper() + text[1:]


def classify(dataset_device: str) -> tuple[str, str, str]:
    """``(domain, kind, area)`` for a dataset device name; unknown kinds become switches."""
    compact = _compact(dataset_device)
    for keywords, domain, kind, area in _DOMAIN_RULES:
        if any(word in compact for word in keywords):
            return domain, kind, area
    area = next((a for words, a in _SWITCH_AREAS if any(w in compact for w in words)), DEFAULT_AREA)
    return "switch", "appliance", area


def plan_device(dataset_device: str, taken: set[str]) -> VirtualDevice:
    """The virtual device for one dataset device; ``taken`` holds keys already used (updated)."""
    domain, kind, area = classify(dataset_device)
    base = slugify(dataset_device)
    key, n = base, 2
    while key in taken:
        key, n = f"{base}_{n}", n + 1
    taken.add(key)
    name = display_name(dataset_device) + ("" if key == base else f" {n - 1}")
    return VirtualDevice(key, name, dataset_device, domain, kind, area)
