"""Which entities Habitus learns from, and what the registries say about them.

An entity is selected when it is not excluded and either is listed in ``include_entities`` or has a
selected domain and (if areas are chosen) sits in a selected area: its own area, else its device's.
Its ``device_class`` is the registry's (the user's override, else the integration's original one).
Answers are cached per entity id and forgotten whenever the entity or device registry changes.
"""

from __future__ import annotations

from dataclasses import dataclass

from homeassistant.core import CALLBACK_TYPE, Event, HomeAssistant, callback
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import entity_registry as er

from .runtime import HabitusSettings


@dataclass(frozen=True, slots=True)
class EntityInfo:
    """What the device dictionary needs to know about a selected entity."""

    entity_id: str
    domain: str
    device_class: str | None  # None when the registry does not know it (then the state's attribute)


class EntitySelector:
    """Answers "is this entity learned from?" from the settings and HA's registries."""

    def __init__(self, hass: HomeAssistant, settings: HabitusSettings) -> None:
        self._hass = hass
        self._settings = settings
        self._cache: dict[str, EntityInfo | None] = {}

    def is_excluded(self, entity_id: str) -> bool:
        """Excluded entities are dropped before anything else looks at them."""
        return entity_id in self._settings.exclude_entities

    @callback
    def async_listen(self) -> CALLBACK_TYPE:
        """Forget cached answers whenever the entity or device registry changes; returns the unsub."""

        @callback
        def _forget(
            _event: Event[er.EventEntityRegistryUpdatedData] | Event[dr.EventDeviceRegistryUpdatedData],
        ) -> None:
            self._cache.clear()

        unsubs = [
            self._hass.bus.async_listen(er.EVENT_ENTITY_REGISTRY_UPDATED, _forget),
            self._hass.bus.async_listen(dr.EVENT_DEVICE_REGISTRY_UPDATED, _forget),
        ]

        @callback
        def _unsub() -> None:
            for unsub in unsubs:
                unsub()

        return _unsub

    @callback
    def describe(self, entity_id: str) -> EntityInfo | None:
        """The entity's info if it is selected, else ``None``."""
        if entity_id not in self._cache:
            self._cache[entity_id] = self._describe(entity_id)
        return self._cache[entity_id]

    def _describe(self, entity_id: str) -> EntityInfo | None:
        settings = self._settings
        if self.is_excluded(entity_id) or "." not in entity_id:
            return None
        domain = entity_id.split(".", 1)[0]
        entry = er.async_get(self._hass).async_get(entity_id)
        device_class = (entry.device_class or entry.original_device_class) if entry else None
        info = EntityInfo(entity_id, domain, device_class)
        if entity_id in settings.include_entities:
            return info
        if domain not in settings.include_domains:
            return None
        if settings.include_areas and self._area_of(entry) not in settings.include_areas:
            return None
        return info

    def _area_of(self, entry: er.RegistryEntry | None) -> str | None:
        if entry is None:
            return None
        if entry.area_id:
            return entry.area_id
        if entry.device_id and (device := dr.async_get(self._hass).async_get(entry.device_id)):
            return device.area_id
        return None

    @callback
    def selected(self) -> list[EntityInfo]:
        """Every selected entity HA knows now (state machine and entity registry), sorted by id."""
        known = set(self._hass.states.async_entity_ids()) | set(er.async_get(self._hass).entities)
        return [info for entity_id in sorted(known) if (info := self.describe(entity_id)) is not None]
