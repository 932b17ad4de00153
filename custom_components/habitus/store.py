"""Where Habitus keeps what it learned: closed TSS sequences, the open one, counters.

One HA ``Store`` per config entry (``.storage/habitus.<entry_id>``), written atomically (a temporary file
renamed into place, so a kill mid-write leaves the previous file intact), coalesced through
``async_delay_save`` and flushed on unload and on HA's final write. Bounded: sequences older than
``retention_days`` and beyond ``max_sequences`` (oldest first) are dropped. Removed with the entry.
Sequences are kept encoded (``codec.py``); they are decoded only when read.

The store also records the TSS thresholds its sequences were cut with (layout 1.2). When the options
change them, ``async_resegment`` cuts everything kept again with the new ones (offline TSS,
``engine/segment.py``'s ``split_sequences``, identical to the online segmenter), in the executor.
"""

from __future__ import annotations

import json
import logging
import operator
import threading
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, NotRequired, TypedDict, cast

from homeassistant.core import HomeAssistant
from homeassistant.helpers.storage import Store
from homeassistant.util.async_ import run_callback_threadsafe

from .codec import CodecError, CodecTables, SequenceCodec, StoredSequence, without_devices
from .const import DEFAULT_MAX_GAP_HOURS, DEFAULT_MAX_SPAN_HOURS, DOMAIN, SAVE_DELAY_SECONDS
from .engine.behaviour import ORIGINS, Behaviour, Sequence
from .engine.segment import TSSConfig, split_sequences
from .write_issues import ReportedStore

_LOGGER = logging.getLogger(__name__)

STORAGE_VERSION = 1
STORAGE_MINOR_VERSION = 2  # 1.2: the TSS thresholds the sequences were cut with ("tss")


class StoredCounters(TypedDict):
    """Monotonic totals since the entry was created."""

    behaviours: int
    sequences: int


class StoredTSS(TypedDict):
    """The TSS thresholds the stored sequences were cut with (hours; ``link_hours`` None: T_max)."""

    max_gap_hours: float
    max_span_hours: float
    link_hours: float | None


# Layout 1.1 did not record them: such a store is taken as cut with the defaults of the time.
LEGACY_TSS = StoredTSS(
    max_gap_hours=DEFAULT_MAX_GAP_HOURS, max_span_hours=DEFAULT_MAX_SPAN_HOURS, link_hours=None
)


class StoredData(TypedDict):
    """The JSON document in ``.storage/habitus.<entry_id>`` (version 1.2)."""

    tables: CodecTables
    sequences: list[StoredSequence]  # oldest first
    open: str  # the open sequence, encoded
    counters: StoredCounters
    bootstrapped: bool
    # Epoch hours a failed bootstrap's window ended at: live learning began there, so a retry reads
    # the history only up to it (never learning a change twice). Absent/None: no failed attempt.
    history_until: NotRequired[float | None]
    tss: StoredTSS  # since 1.2


class StoreUnreadableError(Exception):
    """The stored document is valid JSON but not Habitus's layout."""


def storage_key(entry_id: str) -> str:
    """The storage key of one entry's data."""
    return f"{DOMAIN}.{entry_id}"


class _VersionedStore(ReportedStore[StoredData]):
    """The store file with its migration hook, step by step from (old_major, old_minor)."""

    async def _async_migrate_func(
        self, old_major_version: int, old_minor_version: int, old_data: dict[str, Any]
    ) -> StoredData:
        if old_major_version > STORAGE_VERSION:
            raise NotImplementedError  # written by a newer Habitus: refuse rather than corrupt it
        return migrate(old_major_version, old_minor_version, old_data)


def migrate(old_major_version: int, old_minor_version: int, old_data: dict[str, Any]) -> StoredData:
    """Bring an older layout up to this one; nothing is dropped.

    1.1 -> 1.2: add ``tss`` (``LEGACY_TSS``: 1.1 did not record it). A layout with a newer minor
    version (a downgrade) keeps what it has; an unrecorded ``tss`` is taken as ``LEGACY_TSS``.
    """
    _check_layout(old_data)  # a damaged file is refused as it is, never rewritten by the migration
    data = dict(old_data)
    if old_major_version == 1 and "tss" not in data:
        data["tss"] = dict(LEGACY_TSS)
    return data  # type: ignore[return-value]


_LAYOUT_TYPES: dict[str, type | tuple[type, ...]] = {
    "tables": dict,
    "sequences": list,
    "open": str,
    "counters": dict,
    "bootstrapped": bool,
}


def _check_layout(data: dict[str, Any]) -> None:
    """``StoreUnreadableError`` unless ``data`` has the keys and types every layout 1.x has."""
    for key, kind in _LAYOUT_TYPES.items():
        if not isinstance(data.get(key), kind):
            raise StoreUnreadableError(f"{key!r} is missing or not a {kind}")


def tss_of(config: TSSConfig) -> StoredTSS:
    """The stored form of a TSS configuration."""
    return StoredTSS(
        max_gap_hours=config.max_gap_hours, max_span_hours=config.max_span_hours, link_hours=config.link_hours
    )


def _tss_config(stored: StoredTSS) -> TSSConfig:
    link = stored.get("link_hours")
    return TSSConfig(
        max_gap_hours=float(stored["max_gap_hours"]),
        max_span_hours=float(stored["max_span_hours"]),
        link_hours=float(link) if link is not None else None,
    )


@dataclass(frozen=True, slots=True)
class StoreCheckpoint:
    """The kept sequences and counters at one moment (``HabitusStore.checkpoint``)."""

    sequences: list[StoredSequence]
    behaviours: int
    sequences_total: int


@dataclass(frozen=True, slots=True)
class Resegmented:
    """What re-running TSS over a store gave (built in the executor, swapped in on the loop)."""

    codec: SequenceCodec
    sequences: list[StoredSequence]  # closed, oldest first
    open: Sequence  # the last piece: TSS may still extend it
    behaviours: int


@dataclass(frozen=True, slots=True)
class StoreLimits:
    """How much the store keeps."""

    retention_days: float
    max_sequences: int


class HabitusStore:
    """Bounded, persistent sequences of one Habitus entry."""

    def __init__(self, hass: HomeAssistant, entry_id: str, limits: StoreLimits) -> None:
        self._store = _VersionedStore(
            hass,
            STORAGE_VERSION,
            storage_key(entry_id),
            minor_version=STORAGE_MINOR_VERSION,
            atomic_writes=True,
            what="the behaviours it learned",
        )
        self._hass = hass
        self._limits = limits
        self._codec = SequenceCodec()
        self._sequences: deque[StoredSequence] = deque()
        self._open: Sequence = []
        self.behaviours_total = 0
        self.sequences_total = 0
        self.bootstrapped = False
        self.history_until: float | None = None
        self.tss = TSSConfig()  # what the kept sequences were cut with (a new store: set by the learner)
        self._save_scheduled = False
        self._open_provider: Callable[[], Sequence] | None = None

    @property
    def atomic_writes(self) -> bool:
        """Whether writes go through a temporary file renamed into place."""
        return bool(self._store._atomic_writes)

    async def async_load(self) -> Sequence:
        """Load what was stored; return the open sequence to resume with.

        ``StoreUnreadableError`` if the document's structure is wrong (the file is left as it is).
        """
        data = await self._store.async_load()
        if data is None:
            return []
        try:
            self._codec = SequenceCodec(data["tables"])
            self._sequences = deque((float(end), int(n), str(rows)) for end, n, rows in data["sequences"])
            self.behaviours_total = int(data["counters"]["behaviours"])
            self.sequences_total = int(data["counters"]["sequences"])
            self.bootstrapped = bool(data["bootstrapped"])
            until = data.get("history_until")
            self.history_until = float(until) if until is not None else None
            self.tss = _tss_config(data.get("tss") or LEGACY_TSS)
        except (KeyError, TypeError, ValueError) as err:
            raise StoreUnreadableError(f"{self._store.path}: {err!r}") from err
        try:
            self._open = self._codec.decode(data["open"])
        except CodecError as err:
            _LOGGER.warning("Discarding the stored open sequence: %s", err)
            self._open = []
        return list(self._open)

    async def async_resegment(
        self, hass: HomeAssistant, config: TSSConfig, now_hours: float
    ) -> tuple[int, int]:
        """TSS again over everything kept (closed and open), cut with ``config`` from now on.

        The kept behaviours, in time order, are split by offline TSS in the executor (a 20 000-sequence
        store is decoded, split and re-encoded there, never on the loop); the result replaces the kept
        sequences in one step, the bounds apply, and the store is written at once. The last piece is
        the new open sequence. Returns (sequences before, after), the open one included.
        Call it before anything else uses the store (setup).
        """
        rows, codec, open_now = list(self._sequences), self._codec, self.open_sequence
        result = await hass.async_add_executor_job(resegment, rows, codec, open_now, config)
        before = len(rows) + (1 if open_now else 0)
        self._codec, self._sequences, self._open = result.codec, deque(result.sequences), result.open
        # the total counts every sequence ever closed: the kept ones are replaced by their new cut
        self.sequences_total = max(self.sequences_total - len(rows), 0) + len(result.sequences)
        self.tss = config
        self.prune(now_hours)
        await self.async_flush()
        return before, len(result.sequences) + (1 if result.open else 0)

    async def async_forget(self, hass: HomeAssistant, devices: frozenset[str]) -> bool:
        """Delete everything stored about ``devices`` (entities excluded since); True if any was.

        Re-encoding every sequence runs in the executor; call it before anything else uses the store.
        """
        self._open = [b for b in self._open if b.device not in devices]
        if not devices.intersection(self._codec.devices):
            return False
        kept, self._codec = await hass.async_add_executor_job(
            without_devices, list(self._sequences), self._codec, devices
        )
        self._sequences = deque(kept)
        await self.async_flush()
        return True

    @property
    def open_sequence(self) -> Sequence:
        """The open sequence: the tracked live one, else the one loaded (a copy)."""
        return self._open_provider() if self._open_provider else list(self._open)

    @property
    def latest_end(self) -> float:
        """End time of the newest kept closed sequence (-inf: none)."""
        return self._sequences[-1][0] if self._sequences else float("-inf")

    @property
    def stored_sequences(self) -> int:
        """How many closed sequences are kept now."""
        return len(self._sequences)

    @property
    def stored_behaviours(self) -> int:
        """How many behaviours the kept sequences hold."""
        return sum(count for _, count, _ in self._sequences)

    def add_sequence(self, sequence: Sequence, now_hours: float) -> None:
        """Keep one closed sequence and apply the bounds."""
        if not sequence:
            return
        self._sequences.append((sequence[-1].time, len(sequence), self._codec.encode(sequence)))
        self.sequences_total += 1
        self.prune(now_hours)
        self.schedule_save()

    def count_behaviours(self, count: int) -> None:
        """Add ``count`` ingested behaviours to the total."""
        self.behaviours_total += count
        self.schedule_save()

    def track_open(self, provider: Callable[[], Sequence]) -> None:
        """Where the live open sequence comes from from now on (read at each save, never copied per event)."""
        self._open_provider = provider

    def add_older_sequences(self, sequences: list[Sequence], now_hours: float) -> None:
        """Keep closed sequences older than some already kept (a retried bootstrap), in time order."""
        encoded = [(seq[-1].time, len(seq), self._codec.encode(seq)) for seq in sequences if seq]
        self._sequences = deque(sorted([*self._sequences, *encoded], key=lambda item: item[0]))
        self.sequences_total += len(encoded)
        self.prune(now_hours)
        self.schedule_save()

    def checkpoint(self) -> StoreCheckpoint:
        """What is kept now, to go back to if a bootstrap is interrupted (cheap: rows are strings)."""
        return StoreCheckpoint(list(self._sequences), self.behaviours_total, self.sequences_total)

    def rollback(self, checkpoint: StoreCheckpoint) -> None:
        """Go back to ``checkpoint`` (the intern tables only grow, so its rows still decode)."""
        self._sequences = deque(checkpoint.sequences)
        self.behaviours_total, self.sequences_total = checkpoint.behaviours, checkpoint.sequences_total
        self.schedule_save()

    def mark_bootstrapped(self) -> None:
        """The recorder history has been learned from; never bootstrap again."""
        self.bootstrapped = True
        self.history_until = None
        self.schedule_save()

    def prune(self, now_hours: float) -> int:
        """Drop sequences past retention, then the oldest beyond the cap; return how many went."""
        oldest_end = now_hours - self._limits.retention_days * 24.0
        dropped = 0
        while self._sequences and (
            self._sequences[0][0] < oldest_end or len(self._sequences) > self._limits.max_sequences
        ):
            self._sequences.popleft()
            dropped += 1
        return dropped

    def sequences(self) -> list[Sequence]:
        """Every kept closed sequence, decoded, oldest first (malformed ones are skipped and logged)."""
        return _decode_all(self._codec, list(self._sequences))

    def sequences_snapshot(self) -> Callable[[], list[Sequence]]:
        """The kept sequences as of now, decoded when the returned function is called (in the executor)."""
        rows, codec = list(self._sequences), self._codec
        return lambda: _decode_all(codec, rows)

    def sequences_reader(self, last: int | None = None) -> Callable[[], Iterator[Sequence]]:
        """Like ``sequences_snapshot``, but the returned function (executor) decodes one sequence at a
        time: a caller keeping only part of each never holds every decoded ``Behaviour`` at once.
        ``last``: only the most recent ``last`` kept sequences (None: all)."""
        rows, codec = list(self._sequences), self._codec
        if last is not None:
            rows = rows[-last:] if last > 0 else []
        return lambda: _iter_decoded(codec, rows)

    def schedule_save(self) -> None:
        """Write within ``SAVE_DELAY_SECONDS``: at most one write per delay, however busy the bus is.

        (``async_delay_save`` alone would postpone the write for as long as changes keep coming.)
        """
        if not self._save_scheduled:
            self._save_scheduled = True
            self._store.async_delay_save(self._data_on_the_loop, SAVE_DELAY_SECONDS)

    def _data_on_the_loop(self) -> StoredData:
        """The document, always built on the event loop.

        HA's ``Store`` calls a delayed save's data function in an executor thread when it writes (and on
        the loop when a load meets a pending write). The sequences, the open sequence's provider and
        the codec's intern tables (which encoding the open sequence may extend) belong to the loop, so
        a thread asks the loop for the snapshot and waits for it.
        """
        if threading.get_ident() == self._hass.loop_thread_id:
            return self._data()
        return run_callback_threadsafe(self._hass.loop, self._data).result()

    async def async_flush(self) -> None:
        """Write now (unload)."""
        await self._store.async_save(self._data())

    def _data(self) -> StoredData:
        self._save_scheduled = False
        open_rows = self._codec.encode(self.open_sequence)  # first: it may add to the intern tables
        return StoredData(
            tables=self._codec.tables(),
            sequences=list(self._sequences),
            open=open_rows,
            counters=StoredCounters(behaviours=self.behaviours_total, sequences=self.sequences_total),
            bootstrapped=self.bootstrapped,
            history_until=self.history_until,
            tss=tss_of(self.tss),
        )


def resegment(
    stored: list[StoredSequence], codec: SequenceCodec, open_sequence: Sequence, config: TSSConfig
) -> Resegmented:
    """(executor) TSS over the behaviours of ``stored`` and ``open_sequence``, in time order.

    Works on the encoded rows (``codec.py``: ``[time_h, device, action, origin, context, temp,
    settings]``, indices into the intern tables): TSS needs only time, device and action, and the
    rows are cut and joined again as they are, so nothing is decoded and re-interned (the costly
    part). The timeline is sorted by time (stable: a retried bootstrap's older sequences are kept in
    end-time order, their behaviours may interleave). A stored sequence with a malformed row is
    skipped and logged, as when it is read.
    """
    fresh = SequenceCodec(codec.tables())  # a copy: the open sequence may add to the tables
    open_rows = json.loads(fresh.encode(open_sequence))
    tables = fresh.tables()
    rows: list[list[Any]] = []
    for _, _, encoded in stored:
        try:
            rows.extend(_checked_rows(encoded, tables))
        except CodecError as err:
            _LOGGER.warning("Skipping a malformed stored sequence: %s", err)
    rows.extend(open_rows)
    rows.sort(key=operator.itemgetter(0))
    devices, actions = tables["devices"], tables["actions"]
    timeline = [
        Behaviour(time=float(row[0]), device=devices[int(row[1])], action=actions[int(row[2])])
        for row in rows
    ]
    cut: list[list[list[Any]]] = []
    start = 0
    for piece in split_sequences(timeline, config):  # the same cut, on the rows
        cut.append(rows[start : start + len(piece)])
        start += len(piece)
    closed = [(piece[-1][0], len(piece), json.dumps(piece, separators=(",", ":"))) for piece in cut[:-1]]
    last = fresh.decode(json.dumps(cut[-1])) if cut else []
    return Resegmented(codec=fresh, sequences=closed, open=last, behaviours=len(timeline))


def _checked_rows(encoded: str, tables: CodecTables) -> list[list[Any]]:
    """The rows of one stored sequence, every index in range of its table (else ``CodecError``)."""
    n_devices, n_actions, n_origins = len(tables["devices"]), len(tables["actions"]), len(ORIGINS)
    n_contexts, n_settings = len(tables["contexts"]), len(tables["settings"])
    try:
        rows = json.loads(encoded)
        for time_h, device, action, origin, context, temp, settings in rows:
            if not (
                0 <= device < n_devices
                and 0 <= action < n_actions
                and 0 <= origin < n_origins
                and 0 <= context < n_contexts
                and -1 <= settings < n_settings
                and (temp is None or isinstance(temp + 0.0, float))  # NaN too: decoded as none
                and time_h == time_h + 0.0
            ):
                raise CodecError(f"index out of range in {encoded[:80]}")
    except (ValueError, TypeError) as err:
        raise CodecError(f"malformed stored sequence: {err}") from err
    return cast(list[list[Any]], rows)


def _decode_all(codec: SequenceCodec, stored: list[StoredSequence]) -> list[Sequence]:
    """Decode stored sequences, oldest first (malformed ones are skipped and logged)."""
    return list(_iter_decoded(codec, stored))


def _iter_decoded(codec: SequenceCodec, stored: list[StoredSequence]) -> Iterator[Sequence]:
    """Decode stored sequences one at a time, oldest first (malformed ones are skipped and logged)."""
    for _, _, rows in stored:
        try:
            yield codec.decode(rows)
        except CodecError as err:
            _LOGGER.warning("Skipping a malformed stored sequence: %s", err)


async def async_remove_store(hass: HomeAssistant, entry_id: str) -> None:
    """Delete one entry's stored data (the entry is being removed)."""
    await Store[StoredData](hass, STORAGE_VERSION, storage_key(entry_id)).async_remove()
