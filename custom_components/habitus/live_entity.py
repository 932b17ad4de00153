"""Base of the live entities: the Habitus device, refreshed by the live signal as well."""

from __future__ import annotations

from homeassistant.helpers.dispatcher import async_dispatcher_connect

from .entity import HabitusEntity
from .live import LiveRuntime
from .live_const import READING_ENTITY_KEYS, signal_live, signal_reading


class HabitusLiveEntity(HabitusEntity):
    """An entity reading ``runtime.live`` (scores, predictions, context, models)."""

    @property
    def live(self) -> LiveRuntime:
        """The entry's live side (set up before the platforms)."""
        live = self.runtime.live
        assert live is not None
        return live

    @property
    def available(self) -> bool:
        """Unavailable when the live side is not set up."""
        return self.runtime.live is not None

    async def async_added_to_hass(self) -> None:
        """Follow the live signal too."""
        await super().async_added_to_hass()
        self.async_on_remove(
            async_dispatcher_connect(self.hass, signal_live(self._entry_id), self.async_write_ha_state)
        )
        if self.entity_description.key in READING_ENTITY_KEYS:  # and each scoring job's reading
            self.async_on_remove(
                async_dispatcher_connect(self.hass, signal_reading(self._entry_id), self.async_write_ha_state)
            )
