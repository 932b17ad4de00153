"""Deployed models survive restarts: the served bundle and the rollback target, on disk, atomically.

Layout under ``<config>/habitus/<entry_id>/models/``::

    bundles/<name>/transae.npz, sasrec.npz, model.json   one directory per stored home bundle
    bundles/base/model.json                              a marker: "the shipped base models"
    current  -> bundles/<name>                           relative symlink: the served bundle
    previous -> bundles/<name>                           relative symlink: the rollback target

A bundle is written into a temporary directory and renamed into place (``os.replace``); ``current`` and
``previous`` are symlinks replaced by renaming a freshly made link over them. Every step is one atomic
rename, so a crash or a full disk leaves either the old state or the new one: the stored ``current`` stays
intact until the final rename. ``model.json`` holds the version, source, dates, metrics and the SHA-256 of
both files, so a corrupt or mismatched file is found at load; the entry then serves the base models and
raises a repair issue, never failing its setup.

The file work runs in the executor (``ModelStore.load`` / ``persist`` / ``remove``); the ``async_``
functions are the event-loop side: one disk operation at a time, repair issues, logging. Loaded bundles
are remembered per entry for the HA run (``hass.data``), keyed by their directory and the files' inode,
size and mtime: a reload reuses them instead of re-reading and re-creating ONNX Runtime sessions, while
any change to a file on disk makes it a fresh, checked read.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import re
import secrets
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
from homeassistant.util.hass_dict import HassKey

from .const import DOMAIN
from .engine.models import ModelFileError
from .live_models import ModelBundle, ModelInfo, load_bundle
from .write_issues import async_raise_not_saved

_LOGGER = logging.getLogger(__name__)

FORMAT = 1
CURRENT, PREVIOUS, BUNDLES, BASE = "current", "previous", "bundles", "base"
INFO_FILE = "model.json"
TRANSAE_FILE, SASREC_FILE = "transae.npz", "sasrec.npz"
ISSUE_MODEL_UNREADABLE = "stored_model_unreadable"
MODEL_NOT_SAVED = "model_not_saved"  # the issue id prefix (its words: write_issues.py)

type Signature = tuple[int, ...]  # (inode, size, mtime ns) of each file of a bundle directory
type LoadedBundles = dict[str, tuple[Signature, ModelBundle]]  # bundle directory name -> loaded bundle
_LOADED: HassKey[dict[str, LoadedBundles]] = HassKey("habitus_loaded_bundles")  # per entry id
# Per entry id: the served bundle and its rollback target that could not be stored, and the failed
# writes in a row, left by an unloaded entry to its next setup in this HA run (live.py: a reload serves
# and stores them rather than going back to what is on disk).
UNSAVED: HassKey[dict[str, tuple[ModelBundle, ModelBundle | None, int]]] = HassKey("habitus_unsaved_models")


class StoredModelError(Exception):
    """A stored bundle cannot be served (missing, corrupt or mismatched file, bad ``model.json``)."""


def entry_dir(hass: HomeAssistant, entry_id: str) -> Path:
    """``<config>/habitus/<entry_id>``: everything Habitus keeps on disk for an entry besides ``.storage``."""
    return Path(hass.config.path("habitus", entry_id))


@dataclass(slots=True)
class StoredModels:
    """What ``ModelStore.load`` found: ``None`` means "the base models" (or nothing stored)."""

    current: ModelBundle | None = None
    previous: ModelBundle | None = None
    previous_is_base: bool = False
    problems: list[str] = field(default_factory=list)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _date(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) else None


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _signature(directory: Path) -> Signature:
    """What identifies the files of a bundle directory as unchanged (raises ``OSError`` if one is gone)."""
    stats = [(directory / name).stat() for name in (INFO_FILE, TRANSAE_FILE, SASREC_FILE)]
    return tuple(value for st in stats for value in (st.st_ino, st.st_size, st.st_mtime_ns))


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class ModelStore:
    """One entry's stored models. ``load``/``persist``/``remove`` run in the executor only."""

    def __init__(self, root: Path, loaded: LoadedBundles | None = None) -> None:
        self.root = root  # .../models
        self._loaded: LoadedBundles = loaded if loaded is not None else {}  # kept across reloads
        self._stored: list[tuple[ModelBundle, str]] = []  # bundles in memory that are on disk, by identity
        self.lock = asyncio.Lock()  # one disk operation at a time, in call order
        self.saved_version: str | None = None  # what ``current`` holds, for diagnostics
        self.last_error: str | None = None

    # ------------------------------------------------------------------------------------- reading

    def load(self) -> StoredModels:
        """Read ``current`` and ``previous``; an unreadable one is reported in ``problems``, never raised."""
        found = StoredModels()
        for which in (CURRENT, PREVIOUS):
            link = self.root / which
            if not link.exists():
                if link.is_symlink():  # dangling: its bundle directory is gone
                    found.problems.append(f"{which}: {os.readlink(link)} is missing")
                continue
            try:
                bundle = self._read(link)
            except (
                StoredModelError,
                ModelFileError,
                ValueError,
                KeyError,
                TypeError,
                OSError,
                RuntimeError,
            ) as err:
                # RuntimeError: ONNX Runtime refusing a session; any of these: serve the base models
                found.problems.append(f"{which}: {err}")
                continue
            if which == CURRENT:
                found.current = bundle
                self.saved_version = bundle.info.version if bundle is not None else BASE
            elif bundle is None:
                found.previous_is_base = True
            else:
                found.previous = bundle
        for name in set(self._loaded) - {name for _, name in self._stored}:
            del self._loaded[name]  # bundles no longer stored are not kept in memory
        return found

    def _read(self, directory: Path) -> ModelBundle | None:
        """One stored bundle (``None``: the base-model marker); raises on any defect."""
        info = json.loads((directory / INFO_FILE).read_text(encoding="utf-8"))
        if not isinstance(info, dict) or info.get("format") != FORMAT:
            raise StoredModelError(f"{directory / INFO_FILE}: unknown format")
        if info["source"] == BASE:
            return None
        for name in (TRANSAE_FILE, SASREC_FILE):
            if _sha256(directory / name) != info["sha256"][name]:
                raise StoredModelError(
                    f"{directory / name} does not match its model.json (corrupt or replaced)"
                )
        name = Path(os.path.realpath(directory)).name
        signature = _signature(directory)
        known = self._loaded.get(name)
        if known is not None and known[0] == signature:  # loaded before in this HA run, files unchanged
            self._stored.append((known[1], name))
            return known[1]
        bundle = load_bundle(
            directory / TRANSAE_FILE, directory / SASREC_FILE, version=str(info["version"]), source="home"
        )
        bundle.info = replace(
            bundle.info,
            trained_on=_date(info.get("trained_on")) or bundle.info.trained_on,
            data=info.get("data", bundle.info.data),
            dataset=str(info.get("dataset", bundle.info.dataset)),
            evaluated_on=_date(info.get("evaluated_on")),
            metrics={str(k): float(v) for k, v in dict(info.get("metrics") or {}).items()},
        )
        self._stored.append((bundle, name))
        self._loaded[name] = (signature, bundle)
        return bundle

    # ------------------------------------------------------------------------------------- writing

    def persist(self, current: ModelBundle, previous: ModelBundle | None) -> None:
        """Make the disk say ``current`` serves and ``previous`` is the rollback target (atomic steps).

        Bundles not on disk yet are written first (a full disk raises ``OSError`` here, before any link
        changes); then ``previous``, then ``current`` is switched by renaming a new symlink over it.
        """
        try:
            current_name = self._bundle_dir(current)
            previous_name = self._bundle_dir(previous) if previous is not None else None
            if previous_name is not None:
                self._link(PREVIOUS, previous_name)
            else:
                (self.root / PREVIOUS).unlink(missing_ok=True)
            self._link(CURRENT, current_name)
            self.saved_version = current.info.version
        finally:
            self._collect()

    def _bundle_dir(self, bundle: ModelBundle) -> str:
        """The name under ``bundles/`` holding ``bundle``, writing it if it is not there yet."""
        if bundle.info.source == BASE:
            if not (self.root / BUNDLES / BASE / INFO_FILE).exists():
                self._write(BASE, lambda tmp: {"source": BASE, "version": bundle.info.version})
            return BASE
        for stored, name in self._stored:
            if stored is bundle:
                return name
        slug = re.sub(r"[^A-Za-z0-9_.-]", "_", bundle.info.version)[:60]
        name = f"{slug}-{secrets.token_hex(4)}"

        def _files(tmp: Path) -> dict[str, Any]:
            bundle.transae.save(tmp / TRANSAE_FILE)
            bundle.sasrec.save(tmp / SASREC_FILE)
            return {
                **_info_json(bundle.info),
                "sha256": {n: _sha256(tmp / n) for n in (TRANSAE_FILE, SASREC_FILE)},
            }

        self._write(name, _files)
        self._stored.append((bundle, name))
        self._loaded[name] = (_signature(self.root / BUNDLES / name), bundle)
        return name

    def _write(self, name: str, fill: Callable[[Path], dict[str, Any]]) -> None:
        """Fill a temporary directory, write its ``model.json`` last, fsync, rename it to ``bundles/name``."""
        bundles = self.root / BUNDLES
        bundles.mkdir(parents=True, exist_ok=True)
        tmp = bundles / f".tmp-{secrets.token_hex(4)}"
        tmp.mkdir()
        try:
            info = {"format": FORMAT, **fill(tmp)}
            (tmp / INFO_FILE).write_text(json.dumps(info, indent=1, sort_keys=True), encoding="utf-8")
            for path in tmp.iterdir():
                _fsync(path)
            os.replace(tmp, bundles / name)
            _fsync(bundles)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise

    def _link(self, which: str, name: str) -> None:
        """Point ``which`` at ``bundles/name``: a new symlink renamed over the old one (atomic)."""
        tmp = self.root / f".{which}-{secrets.token_hex(4)}"
        os.symlink(f"{BUNDLES}/{name}", tmp)
        try:
            os.replace(tmp, self.root / which)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        _fsync(self.root)

    def _collect(self) -> None:
        """Delete bundle directories neither link points at (and leftovers of interrupted writes)."""
        keep = {
            Path(os.readlink(link)).name
            for link in (self.root / CURRENT, self.root / PREVIOUS)
            if link.is_symlink()
        }
        self._stored = [(bundle, name) for bundle, name in self._stored if name in keep]
        for name in set(self._loaded) - keep:
            del self._loaded[name]
        bundles = self.root / BUNDLES
        if bundles.is_dir():
            for path in bundles.iterdir():
                if path.name not in keep:
                    shutil.rmtree(path, ignore_errors=True)

    def remove(self) -> None:
        """Delete the entry's whole folder (``<config>/habitus/<entry_id>``): the entry is removed."""
        shutil.rmtree(self.root.parent, ignore_errors=True)


def _info_json(info: ModelInfo) -> dict[str, Any]:
    return {
        "version": info.version,
        "source": info.source,
        "dataset": info.dataset,
        "data": info.data,
        "trained_on": _iso(info.trained_on),
        "evaluated_on": _iso(info.evaluated_on),
        "metrics": info.metrics,
    }


def model_store(hass: HomeAssistant, entry_id: str) -> ModelStore:
    """The store of ``entry_id`` (nothing is read until ``async_load_models``)."""
    loaded = hass.data.setdefault(_LOADED, {}).setdefault(entry_id, {})
    return ModelStore(entry_dir(hass, entry_id) / "models", loaded)


async def async_load_models(hass: HomeAssistant, entry_id: str, store: ModelStore) -> StoredModels:
    """Read the stored models (executor); a defect is a warning and a repair issue, never an exception."""
    async with store.lock:
        found = await hass.async_add_executor_job(store.load)
    issue_id = f"{ISSUE_MODEL_UNREADABLE}_{entry_id}"
    if not found.problems:
        ir.async_delete_issue(hass, DOMAIN, issue_id)
        return found
    problems = "; ".join(found.problems)
    _LOGGER.warning("Habitus cannot read its stored models (%s)", problems)
    ir.async_create_issue(
        hass,
        DOMAIN,
        issue_id,
        is_fixable=False,
        severity=ir.IssueSeverity.WARNING,
        translation_key=ISSUE_MODEL_UNREADABLE,
        translation_placeholders={"error": problems},
    )
    return found


async def async_save_models(
    hass: HomeAssistant, entry_id: str, store: ModelStore, current: ModelBundle, previous: ModelBundle | None
) -> bool:
    """Store ``current`` (served) and ``previous`` (rollback target) after a deploy or a rollback.

    A write error (a full disk: ``OSError``) keeps the models serving in memory and what was stored
    before untouched: it is logged and raised as a repair issue saying why (``write_issues.py``; the
    caller tries again, ``LiveRuntime``). Returns whether the disk is up to date.
    """
    issue_id = f"{MODEL_NOT_SAVED}_{entry_id}"
    async with store.lock:
        writing = hass.async_add_executor_job(store.persist, current, previous)
        try:
            await asyncio.shield(writing)
        except asyncio.CancelledError:  # (an unload): the write goes on in its thread; let it finish
            await asyncio.wait((writing,))
            writing.exception()  # retrieved: a failed write of a cancelled deploy is not re-raised
            raise
        except OSError as err:
            store.last_error = str(err)
            _LOGGER.warning(
                "Habitus could not store model %s (it serves until the next restart): %s",
                current.info.version,
                err,
            )
            async_raise_not_saved(hass, issue_id, f"model {current.info.version}", str(store.root), err)
            return False
    store.last_error = None
    ir.async_delete_issue(hass, DOMAIN, issue_id)
    ir.async_delete_issue(hass, DOMAIN, f"{ISSUE_MODEL_UNREADABLE}_{entry_id}")
    return True


async def async_remove_models(hass: HomeAssistant, entry_id: str) -> None:
    """The entry is deleted: delete its folder and its model repair issues."""
    await hass.async_add_executor_job(model_store(hass, entry_id).remove)
    hass.data.get(_LOADED, {}).pop(entry_id, None)
    hass.data.get(UNSAVED, {}).pop(entry_id, None)
    for issue in (ISSUE_MODEL_UNREADABLE, MODEL_NOT_SAVED):
        ir.async_delete_issue(hass, DOMAIN, f"{issue}_{entry_id}")
