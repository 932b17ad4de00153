"""Config and options flows: what Habitus learns from, and how it segments and keeps it.

One entry per HA instance (``single_config_entry`` in the manifest, plus a fixed unique id). The user
step chooses domains, areas, extra entities and excluded entities; the options flow the same plus the
TSS thresholds, the store's bounds and the weather entity. In the options flow a field left out keeps
its current value (so a REST client may post only what it changes); the entry reloads with the result.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import voluptuous as vol
from homeassistant.config_entries import ConfigFlow, ConfigFlowResult, OptionsFlow
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import area_registry as ar
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers import selector

from .const import (
    CONF_EXCLUDE_ENTITIES,
    CONF_INCLUDE_AREAS,
    CONF_INCLUDE_DOMAINS,
    CONF_INCLUDE_ENTITIES,
    CONF_MAX_GAP_HOURS,
    CONF_MAX_SEQUENCES,
    CONF_MAX_SPAN_HOURS,
    CONF_RETENTION_DAYS,
    CONF_WEATHER_ENTITY,
    DEFAULT_DOMAINS,
    DEFAULT_MAX_GAP_HOURS,
    DEFAULT_MAX_SEQUENCES,
    DEFAULT_MAX_SPAN_HOURS,
    DEFAULT_RETENTION_DAYS,
    DOMAIN,
    MIN_MAX_GAP_HOURS,
)
from .engine.devices import SUPPORTED_DOMAINS
from .runtime import HabitusConfigEntry

_ENTITY_LIST_KEYS = (CONF_INCLUDE_ENTITIES, CONF_EXCLUDE_ENTITIES)


def selection_schema(values: Mapping[str, Any]) -> vol.Schema:
    """The four selection fields, defaulting to ``values``."""
    return vol.Schema(
        {
            vol.Optional(
                CONF_INCLUDE_DOMAINS, default=list(values.get(CONF_INCLUDE_DOMAINS, DEFAULT_DOMAINS))
            ): selector.SelectSelector(
                selector.SelectSelectorConfig(options=list(SUPPORTED_DOMAINS), multiple=True, sort=True)
            ),
            vol.Optional(
                CONF_INCLUDE_AREAS, default=list(values.get(CONF_INCLUDE_AREAS, []))
            ): selector.AreaSelector(selector.AreaSelectorConfig(multiple=True)),
            vol.Optional(
                CONF_INCLUDE_ENTITIES, default=list(values.get(CONF_INCLUDE_ENTITIES, []))
            ): selector.EntitySelector(
                selector.EntitySelectorConfig(domain=list(SUPPORTED_DOMAINS), multiple=True)
            ),
            vol.Optional(
                CONF_EXCLUDE_ENTITIES, default=list(values.get(CONF_EXCLUDE_ENTITIES, []))
            ): selector.EntitySelector(selector.EntitySelectorConfig(multiple=True)),
        }
    )


def _number(
    minimum: float, maximum: float, step: float | Literal["any"], unit: str
) -> selector.NumberSelector:
    return selector.NumberSelector(
        selector.NumberSelectorConfig(
            min=minimum,
            max=maximum,
            step=step,
            unit_of_measurement=unit,
            mode=selector.NumberSelectorMode.BOX,
        )
    )


def options_schema(values: Mapping[str, Any]) -> vol.Schema:
    """Selection plus TSS thresholds, store bounds and the weather entity."""
    weather = values.get(CONF_WEATHER_ENTITY)
    return selection_schema(values).extend(
        {
            vol.Optional(
                CONF_MAX_GAP_HOURS, default=values.get(CONF_MAX_GAP_HOURS, DEFAULT_MAX_GAP_HOURS)
            ): _number(MIN_MAX_GAP_HOURS, 168, "any", "h"),
            vol.Optional(
                CONF_MAX_SPAN_HOURS, default=values.get(CONF_MAX_SPAN_HOURS, DEFAULT_MAX_SPAN_HOURS)
            ): _number(MIN_MAX_GAP_HOURS, 720, "any", "h"),
            vol.Optional(
                CONF_RETENTION_DAYS, default=values.get(CONF_RETENTION_DAYS, DEFAULT_RETENTION_DAYS)
            ): _number(1, 3650, 1, "d"),
            vol.Optional(
                CONF_MAX_SEQUENCES, default=values.get(CONF_MAX_SEQUENCES, DEFAULT_MAX_SEQUENCES)
            ): _number(10, 1_000_000, 1, "sequences"),
            vol.Optional(
                CONF_WEATHER_ENTITY, description={"suggested_value": weather} if weather else None
            ): selector.EntitySelector(selector.EntitySelectorConfig(domain="weather")),
        }
    )


def validate(hass: HomeAssistant, values: Mapping[str, Any]) -> tuple[dict[str, str], dict[str, str]]:
    """Errors (field -> translation key) and the placeholders their messages use."""
    errors: dict[str, str] = {}
    if not values.get(CONF_INCLUDE_DOMAINS) and not values.get(CONF_INCLUDE_ENTITIES):
        errors["base"] = "nothing_selected"
    named = _entity_errors(hass, values, errors)
    areas = ar.async_get(hass)
    if any(areas.async_get_area(area_id) is None for area_id in values.get(CONF_INCLUDE_AREAS, [])):
        errors[CONF_INCLUDE_AREAS] = "unknown_area"
    gap, span = values.get(CONF_MAX_GAP_HOURS), values.get(CONF_MAX_SPAN_HOURS)
    if gap is not None and span is not None and float(span) < float(gap):
        errors[CONF_MAX_SPAN_HOURS] = "span_below_gap"
    return errors, {"entities": ", ".join(named) or "-"}


def _entity_errors(hass: HomeAssistant, values: Mapping[str, Any], errors: dict[str, str]) -> list[str]:
    """Unknown entities anywhere (the selectors already keep extra entities to supported domains)."""
    named: list[str] = []
    for key in _ENTITY_LIST_KEYS:
        missing = [e for e in values.get(key, []) if not _entity_exists(hass, e)]
        if missing:
            errors[key] = "unknown_entity"
            named.extend(missing)
    weather = values.get(CONF_WEATHER_ENTITY)
    if weather and not _entity_exists(hass, weather):
        errors[CONF_WEATHER_ENTITY] = "unknown_entity"
        named.append(weather)
    return named


def _entity_exists(hass: HomeAssistant, entity_id: str) -> bool:
    return hass.states.get(entity_id) is not None or er.async_get(hass).async_get(entity_id) is not None


class HabitusConfigFlow(ConfigFlow, domain=DOMAIN):
    """Set Habitus up once per HA instance."""

    VERSION = 1
    MINOR_VERSION = 1

    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Choose what to learn from."""
        await self.async_set_unique_id(DOMAIN)
        self._abort_if_unique_id_configured()
        errors: dict[str, str] = {}
        placeholders = {"entities": "-"}
        if user_input is not None:
            errors, placeholders = validate(self.hass, user_input)
            if not errors:
                return self.async_create_entry(title="Habitus", data={}, options=user_input)
        return self.async_show_form(
            step_id="user",
            data_schema=selection_schema(user_input or {}),
            errors=errors,
            description_placeholders=placeholders,
        )

    @staticmethod
    @callback
    def async_get_options_flow(config_entry: HabitusConfigEntry) -> HabitusOptionsFlow:
        """The options flow."""
        return HabitusOptionsFlow()


class HabitusOptionsFlow(OptionsFlow):
    """Change the selection, TSS thresholds, store bounds and weather entity (reloads the entry)."""

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """One form with every option; fields left out keep their current values."""
        current = {**self.config_entry.data, **self.config_entry.options}
        errors: dict[str, str] = {}
        placeholders = {"entities": "-"}
        if user_input is not None:
            merged = {**current, **user_input}
            errors, placeholders = validate(self.hass, merged)
            if not errors:
                return self.async_create_entry(data=merged)
            current = merged
        return self.async_show_form(
            step_id="init",
            data_schema=options_schema(current),
            errors=errors,
            description_placeholders=placeholders,
        )
