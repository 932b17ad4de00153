"""A store write that fails is shown to the user as a repair issue, and written again until it succeeds.

HA's ``Store`` keeps the previous file when a write fails (atomic writes) but only logs the error and
drops the pending data: nothing would be written again until the next change, and the user would see
nothing while Habitus stopped keeping what it learns. ``ReportedStore`` (every Habitus ``Store``: the
learned behaviours, the live store, the routine decisions, the native module verdicts) adds:

- a repair issue per store (severity error, not fixable) naming what could not be saved, where, why
  (its translation key from the ``errno``: ``store_not_saved_no_space`` / ``_permission`` /
  ``_read_only`` / ``_other``) and what to do. Created once: a failure that repeats updates nothing;
- a retry: the unsaved data (the store's data function when it has one, so the retry writes what is
  in memory then) is queued again with ``async_delay_save``, after 1, 2, 4 ... at most 15 minutes, and
  at HA's final write. Until a write succeeds, a change waits for that retry too (not the usual 30 s:
  each failed write puts a traceback in HA's log); a flush (unload, a routine decision) writes at once;
- the issue is deleted by the next successful write of that store.

Not fixable: the retry is automatic, so a "retry" button would only do what happens anyway; what fixes
it is on the disk (space, ownership, a failing card), which the description says.

Only the newest ``ReportedStore`` of a key writes: after a reload, the unloaded entry's store does not
write over the new one. What it could not write (a retry still pending) passes to the new store: its load
returns it (HA's ``Store`` reads a pending write before the file) and its retry writes it, so a reload
while a write fails loses nothing kept in memory and the issue still goes with the next successful write.
"""

from __future__ import annotations

import errno
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.storage import Store
from homeassistant.util.file import WriteError
from homeassistant.util.hass_dict import HassKey

from .const import DOMAIN

_LOGGER = logging.getLogger(__name__)
_NEWEST: HassKey[dict[str, Store[Any]]] = HassKey(f"{DOMAIN}_newest_store")

ISSUE_NO_SPACE = "store_not_saved_no_space"
ISSUE_PERMISSION = "store_not_saved_permission"
ISSUE_READ_ONLY = "store_not_saved_read_only"
ISSUE_NOT_SAVED = "store_not_saved_other"
RETRY_FIRST_SECONDS = 60.0
RETRY_MAX_SECONDS = 900.0

_ISSUE_BY_ERRNO: dict[int, str] = {
    errno.ENOSPC: ISSUE_NO_SPACE,
    errno.EDQUOT: ISSUE_NO_SPACE,
    errno.EACCES: ISSUE_PERMISSION,
    errno.EPERM: ISSUE_PERMISSION,
    errno.EROFS: ISSUE_READ_ONLY,
}


def write_issue_id(key: str) -> str:
    """The repair issue of the store ``key`` (one per store)."""
    return f"store_not_saved_{key}"


def retry_delay(failures: int) -> float:
    """Seconds before writing again after ``failures`` failed writes in a row: 1, 2, 4 ... 15 minutes
    (the doubling stops at the cap: 2 ** 1024 is no float, and a disk can fail for weeks)."""
    delay = RETRY_FIRST_SECONDS
    for _ in range(max(failures - 1, 0)):
        if delay >= RETRY_MAX_SECONDS:
            break
        delay *= 2
    return min(delay, RETRY_MAX_SECONDS)


def _os_errors(err: BaseException) -> Iterator[OSError]:
    """The ``OSError`` s behind ``err`` (HA's ``WriteError`` wraps one), outermost first."""
    seen: BaseException | None = err
    while seen is not None:
        if isinstance(seen, OSError):
            yield seen
        causes = [seen.__cause__, *(a for a in seen.args if isinstance(a, BaseException))]
        seen = next((c for c in causes if c is not None), None)


def not_saved_issue(err: BaseException) -> str:
    """The issue's translation key: the disk is full / permission denied / read-only / other."""
    codes = [e.errno for e in _os_errors(err) if e.errno in _ISSUE_BY_ERRNO]
    return _ISSUE_BY_ERRNO[codes[0]] if codes else ISSUE_NOT_SAVED


@callback
def async_raise_not_saved(
    hass: HomeAssistant, issue_id: str, what: str, path: str, err: BaseException
) -> None:
    """The repair issue for ``what`` that could not be written to ``path`` (created once: raising it
    again with the same words changes nothing)."""
    reason = next((e.strerror for e in _os_errors(err) if e.strerror), None) or str(err)
    ir.async_create_issue(
        hass,
        DOMAIN,
        issue_id,
        is_fixable=False,
        severity=ir.IssueSeverity.ERROR,
        translation_key=not_saved_issue(err),
        translation_placeholders={"what": what, "path": path, "error": reason},
    )


class ReportedStore[T: Mapping[str, Any] | Sequence[Any]](Store[T]):
    """A ``Store`` whose failed write raises a repair issue and is retried (see the module)."""

    def __init__(self, hass: HomeAssistant, version: int, key: str, *, what: str, **kwargs: Any) -> None:
        super().__init__(hass, version, key, **kwargs)
        self.what = what  # named in the issue: "the behaviours it learned"
        self.failures = 0  # consecutive failed writes
        newest = hass.data.setdefault(_NEWEST, {})
        previous = newest.get(key)
        newest[key] = self
        if isinstance(previous, ReportedStore) and previous.failures:
            self._take_over(previous)

    def _take_over(self, previous: ReportedStore[Any]) -> None:
        """``previous`` (the unloaded entry's store of this key) could not write: its pending data is
        this store's, returned by its load and written at its retry. Before, the reloaded entry read the
        file without it and nothing wrote again, so the issue stayed after the disk had space."""
        pending = previous._data
        previous._async_cleanup_delay_listener()
        previous._async_cleanup_final_write_listener()
        previous._data = None
        if pending is None:
            return
        self.failures = previous.failures
        data_func: Callable[[], T] = pending.get("data_func") or _snapshot(pending)
        self.async_delay_save(data_func, retry_delay(self.failures))

    async def _async_write_data(self, path: str, data: dict[str, Any]) -> None:
        if self.hass.data.get(_NEWEST, {}).get(self.key) is not self:
            _LOGGER.debug("Not writing %s: a newer store of it exists (the entry was reloaded)", self.key)
            return
        data_func: Callable[[], T] | None = data.get("data_func")  # popped by the write (executor)
        try:
            await super()._async_write_data(path, data)
        except OSError as err:  # not wrapped by HA (making the folder): wrapped, so HA logs it
            self._failed(path, err, data_func or _snapshot(data))
            raise WriteError(err) from err
        except WriteError as err:
            self._failed(path, err, data_func or _snapshot(data))
            raise
        if self.failures:
            _LOGGER.info("Habitus saved %s again (%s)", self.what, self.key)
        self.failures = 0
        ir.async_delete_issue(self.hass, DOMAIN, write_issue_id(self.key))

    @callback
    def async_delay_save(self, data_func: Callable[[], T], delay: float = 0) -> None:
        """Write ``data_func()`` within ``delay`` seconds; while writes fail, at the pending retry (a
        full disk is not tried, and HA's log not filled, every ``SAVE_DELAY_SECONDS``)."""
        if self.failures:
            delay = max(delay, retry_delay(self.failures))
            if self._delay_handle is not None:  # the pending retry keeps its time: not postponed
                delay = min(delay, max(self._delay_handle.when() - self.hass.loop.time(), 0.0))
                self._async_cleanup_delay_listener()  # (HA's Store would move it to the later time)
        super().async_delay_save(data_func, delay)

    def _failed(self, path: str, err: BaseException, data_func: Callable[[], T]) -> None:
        self.failures += 1
        async_raise_not_saved(self.hass, write_issue_id(self.key), self.what, path, err)
        if self._data is None:  # nothing newer is waiting to be written: write this again later
            self.async_delay_save(data_func, retry_delay(self.failures))


def _snapshot(data: dict[str, Any]) -> Callable[[], Any]:
    document = data.get("data")
    return lambda: document


@callback
def async_forget_write_issue(hass: HomeAssistant, key: str) -> None:
    """The store ``key`` is deleted (its entry removed): its issue goes with it, and a retry still
    pending writes nothing."""
    ir.async_delete_issue(hass, DOMAIN, write_issue_id(key))
    hass.data.get(_NEWEST, {}).pop(key, None)
