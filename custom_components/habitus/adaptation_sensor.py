"""The adaptation sensor: what the adaptation job is doing, how far it is, and how the last one ended.

State: idle / preparing / synthesizing / training / evaluating. Attributes: ``progress`` (0-100),
``trigger`` (service / shift / schedule), ``completed_jobs``, ``pending_shift`` (a detected shift waiting
for the quiet window), ``last_outcome`` (deployed, reason, version, metrics; not recorded: it is large).
``message``, ``trigger``, ``pending_shift`` and ``last_outcome`` are left out while they are empty.
"""

from __future__ import annotations

from typing import Any

from homeassistant.components.sensor import SensorDeviceClass, SensorEntity, SensorEntityDescription
from homeassistant.helpers.dispatcher import async_dispatcher_connect

from .adaptation_job import AdaptationManager, Phase, signal_adaptation
from .entity import HabitusEntity
from .runtime import HabitusConfigEntry

ADAPTATION = SensorEntityDescription(
    key="adaptation",
    translation_key="adaptation",
    device_class=SensorDeviceClass.ENUM,
    options=[phase.value for phase in Phase],
)


def adaptation_sensors(entry: HabitusConfigEntry) -> list[SensorEntity]:
    """The adaptation sensor (none when the entry has no adaptation manager)."""
    return [] if entry.runtime_data.adaptation_jobs is None else [AdaptationSensor(entry, ADAPTATION)]


class AdaptationSensor(HabitusEntity, SensorEntity):
    """The adaptation job's phase, progress and last outcome."""

    _unrecorded_attributes = frozenset({"last_outcome", "message", "pending_shift"})

    @property
    def manager(self) -> AdaptationManager:
        """The entry's job runner."""
        manager = self.runtime.adaptation_jobs
        assert manager is not None
        return manager

    @property
    def native_value(self) -> str:
        """The job's phase."""
        return self.manager.phase.value

    @property
    def extra_state_attributes(self) -> dict[str, Any]:
        """Progress and counts; the message, trigger, pending shift and last outcome only when there is
        one (an idle sensor showed "Last outcome: {}" and "Trigger: Unknown")."""
        manager = self.manager
        pending = manager.pending_shift
        optional: dict[str, Any] = {
            "message": manager.message,
            "trigger": manager.trigger.value if manager.trigger else None,
            "pending_shift": f"{pending.name}: {pending.before} -> {pending.after}" if pending else None,
            "last_outcome": dict(manager.last_outcome),
        }
        return {
            "progress": manager.progress,
            "completed_jobs": manager.completed_jobs,
            **{key: value for key, value in optional.items() if value},
        }

    async def async_added_to_hass(self) -> None:
        """Follow the job's signal too."""
        await super().async_added_to_hass()
        self.async_on_remove(
            async_dispatcher_connect(self.hass, signal_adaptation(self._entry_id), self.async_write_ha_state)
        )
