"""Habitus: learns a household's behaviour from Home Assistant's state-change bus.

A reader's map: events enter in ``ingest.py`` (``state_changed`` -> behaviours, through the device
dictionary ``engine/devices.py``), TSS happens in ``learner.py`` (``engine/segment.py``'s
``OnlineSegmenter``), data is kept in ``store.py``; ``bootstrap.py`` replays recorder history once.
This module only sets up and tears down an entry.
"""

from __future__ import annotations

from datetime import timedelta

from homeassistant.const import EVENT_HOMEASSISTANT_STOP, Platform
from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.exceptions import ConfigEntryError
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.event import async_track_time_interval
from homeassistant.helpers.start import async_at_started
from homeassistant.helpers.typing import ConfigType
from homeassistant.util import dt as dt_util

from .adaptation_job import AdaptationManager
from .adaptation_services import async_setup_adaptation_services
from .alerts import async_forget_alerts
from .bootstrap import async_bootstrap, bootstrap_start
from .const import DOMAIN, IDLE_CHECK_MAX_SECONDS, IDLE_CHECK_MIN_SECONDS
from .decisions import async_remove_decisions, decisions_key
from .ingest import Ingest, weather_entity_id
from .learner import HabitusLearner
from .live import async_setup_live
from .live_services import async_setup_live_services
from .live_store import async_remove_live_store, live_storage_key
from .looplag import LoopLagProbe
from .model_store import async_remove_models
from .native import async_setup_native
from .runtime import HabitusConfigEntry, HabitusRuntime, HabitusSettings
from .selection import EntitySelector
from .services import async_setup_services
from .store import HabitusStore, StoreUnreadableError, async_remove_store, storage_key
from .suggestions import async_setup_suggestions
from .worker import HabitusWorker
from .write_issues import async_forget_write_issue

PLATFORMS: list[Platform] = [Platform.BINARY_SENSOR, Platform.EVENT, Platform.SENSOR]
CONFIG_SCHEMA = cv.config_entry_only_config_schema(DOMAIN)


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    """Register the routine suggestion services (``services.py``) and the live ones (``live_services.py``)."""
    async_setup_services(hass)
    async_setup_live_services(hass)
    async_setup_adaptation_services(hass)
    return True


async def async_setup_entry(hass: HomeAssistant, entry: HabitusConfigEntry) -> bool:
    """Load the store, resume TSS, subscribe to the bus, bootstrap once, add the sensors."""
    settings = HabitusSettings.from_entry(entry)
    store = HabitusStore(hass, entry.entry_id, settings.limits)
    learner = HabitusLearner(hass, entry.entry_id, store, settings.tss)
    try:
        await learner.async_load(settings.exclude_entities)
    except NotImplementedError as err:  # the store's layout is newer than this code: leave it alone
        raise ConfigEntryError(translation_domain=DOMAIN, translation_key="store_too_new") from err
    except StoreUnreadableError as err:  # hand-edited or damaged: keep it for the user to inspect
        raise ConfigEntryError(
            translation_domain=DOMAIN,
            translation_key="store_unreadable",
            translation_placeholders={"error": str(err)},
        ) from err
    selector = EntitySelector(hass, settings)
    entry.runtime_data = HabitusRuntime(settings=settings, learner=learner)

    if not store.bootstrapped:
        _schedule_bootstrap(hass, entry, selector)
    entry.async_on_unload(selector.async_listen())
    entry.async_on_unload(Ingest(hass, settings, selector, learner).async_start())
    _schedule_idle_check(hass, entry)
    await async_setup_suggestions(hass, entry)
    await async_setup_native(hass, entry)  # before the models load; the check runs after HA started
    entry.runtime_data.live = await async_setup_live(hass, entry, learner)
    _start_worker(hass, entry)
    _start_adaptation(hass, entry)
    entry.async_on_unload(entry.add_update_listener(_async_reload_on_options))
    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    return True


def _start_worker(hass: HomeAssistant, entry: HabitusConfigEntry) -> None:
    """The training worker (its process starts with the first job) and the loop-lag probe (it samples
    only while a retrain runs: a probe always running would be a background task that never ends)."""
    worker = HabitusWorker(hass)
    probe = LoopLagProbe(hass)
    entry.runtime_data.worker, entry.runtime_data.loop_lag = worker, probe

    async def _stop(_event: Event | None = None) -> None:
        await worker.async_stop()
        await probe.async_stop()

    entry.async_on_unload(hass.bus.async_listen_once(EVENT_HOMEASSISTANT_STOP, _stop))


def _start_adaptation(hass: HomeAssistant, entry: HabitusConfigEntry) -> None:
    """The adaptation job runner (``adaptation_job.py``): hourly shift check, nightly quiet window."""
    manager = entry.runtime_data.adaptation_jobs = AdaptationManager(hass, entry)
    for unsubscribe in manager.async_listen():
        entry.async_on_unload(unsubscribe)


def _schedule_bootstrap(hass: HomeAssistant, entry: HabitusConfigEntry, selector: EntitySelector) -> None:
    """Hold live behaviours back from now; read the history up to now once HA has started."""
    runtime = entry.runtime_data
    runtime.learner.begin_bootstrap()
    until = runtime.learner.store.history_until  # a failed attempt's end: live learning began there
    end = dt_util.utc_from_timestamp(until * 3600.0) if until is not None else dt_util.utcnow()
    window = (bootstrap_start(end, runtime.settings.retention_days), end)

    @callback
    def _start(hass: HomeAssistant) -> None:
        coro = async_bootstrap(
            hass, runtime.learner, selector.selected(), weather_entity_id(hass, runtime.settings), window
        )
        runtime.learner.track_bootstrap(entry.async_create_background_task(hass, coro, "habitus bootstrap"))

    entry.async_on_unload(async_at_started(hass, _start))


def _schedule_idle_check(hass: HomeAssistant, entry: HabitusConfigEntry) -> None:
    """Close idle sequences promptly: check every ``Δt_max / 4`` (clamped to 1 s .. 5 min).

    (At HA stop, the store's pending delayed write is flushed by HA's final-write event.)
    """
    learner = entry.runtime_data.learner
    seconds = entry.runtime_data.settings.max_gap_hours * 3600.0 / 4.0
    interval = timedelta(seconds=min(max(seconds, IDLE_CHECK_MIN_SECONDS), IDLE_CHECK_MAX_SECONDS))
    entry.async_on_unload(
        async_track_time_interval(hass, learner.close_if_idle, interval, cancel_on_shutdown=True)
    )
    entry.async_on_unload(learner.notify.cancel)  # a pending sensor refresh


async def _async_reload_on_options(hass: HomeAssistant, entry: HabitusConfigEntry) -> None:
    """Options changed: set the entry up again with them."""
    await hass.config_entries.async_reload(entry.entry_id)


async def async_unload_entry(hass: HomeAssistant, entry: HabitusConfigEntry) -> bool:
    """Remove the sensors, then write what was learned (listeners and timers go via async_on_unload)."""
    unloaded = await hass.config_entries.async_unload_platforms(entry, PLATFORMS)
    if unloaded:
        await entry.runtime_data.learner.async_cancel_bootstrap()  # rolled back before the write
        if entry.runtime_data.adaptation_jobs is not None:  # a running job ends, cancelled, first
            await entry.runtime_data.adaptation_jobs.async_cancel()  # (its outcome is in the live store)
        await entry.runtime_data.learner.store.async_flush()
        if entry.runtime_data.live is not None:
            await entry.runtime_data.live.store.async_flush()
        for part in (entry.runtime_data.worker, entry.runtime_data.loop_lag):
            if part is not None:  # a running retrain gets WorkerStoppedError, then is cancelled
                await part.async_stop()
    return unloaded


async def async_remove_entry(hass: HomeAssistant, entry: HabitusConfigEntry) -> None:
    """The entry is deleted: delete everything Habitus stored for it."""
    for key in (storage_key(entry.entry_id), decisions_key(entry.entry_id), live_storage_key(entry.entry_id)):
        async_forget_write_issue(hass, key)  # first: a pending retry must not write the file again
    await async_remove_store(hass, entry.entry_id)
    await async_remove_decisions(hass, entry.entry_id)
    await async_remove_live_store(hass, entry.entry_id)
    await async_remove_models(hass, entry.entry_id)  # <config>/habitus/<entry_id>
    async_forget_alerts(hass, entry.entry_id)
    _forget_issues(hass)


@callback
def _forget_issues(hass: HomeAssistant) -> None:
    """Habitus is removed (it has one entry): none of its repair issues stands any more. The routine
    suggestions', the models' and the store writes' would go with their entry anyway; the native
    modules', the worker's and the history's stayed (a module still unusable gets its issue again
    when Habitus is added back)."""
    for domain, issue_id in list(ir.async_get(hass).issues):
        if domain == DOMAIN:
            ir.async_delete_issue(hass, DOMAIN, issue_id)
