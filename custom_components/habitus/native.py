"""Native libraries (ONNX Runtime, llama.cpp) are imported first in a spawned process, never blindly in HA.

A wheel built for a newer CPU dies on import with SIGILL (illegal instruction); a broken build can
segfault. Importing such a module inside HA would take HA down, so ``async_probe_native`` imports it in
a child (``python -c`` with HA's own interpreter and import path, bounded by a timeout) and classifies
the module as available / missing / broken (an ``ImportError``) / crashed (signal or timeout). Results
are cached per module for the life of HA (an import that worked stays cached for the process).

``async_ensure_requirement`` installs a missing requirement at runtime through HA's requirements
manager (HA's pip settings, lock and failure memory) unless HA runs with ``--skip-pip`` or no wheel
exists for the platform, then probes again. ``plan_requirement`` is the decision, kept pure for tests.

``async_setup_native`` wires this into entry setup: a background task, once per HA run and after HA
started, ensures each native requirement (``NATIVE_REQUIREMENTS``); a module that stays unusable gets a
repair issue (one per module, deleted when it works again) and its fallback: the import is blocked in
HA (``sys.modules[name] = None``: Python then raises ``ImportError``), so model serving takes the numpy
executor instead of ONNX Runtime, and ``synthesis_backend`` picks the OpenAI-compatible server instead
of llama.cpp. The outcome is remembered (``.storage``), so a module that crashed its probe is blocked at
the next start *before* the models load, until a later probe finds it working. A module HA imports
itself (ONNX Runtime) that was never probed on this hub is probed once during setup (well under a
second), so even a first start cannot die of it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import platform
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from homeassistant import requirements
from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.start import async_at_started
from homeassistant.helpers.storage import Store
from homeassistant.util.hass_dict import HassKey

from .const import CONF_LLM_BACKEND, DOMAIN, LlmBackendKind
from .write_issues import ReportedStore

_LOGGER = logging.getLogger(__name__)

PROBE_TIMEOUT_SECONDS = 60.0
FIRST_PROBE_TIMEOUT_SECONDS = 20.0  # the one probe that may run during setup (first start only)
# Import names of the native modules Habitus uses -> their distributions on PyPI.
NATIVE_DISTRIBUTIONS: dict[str, str] = {"onnxruntime": "onnxruntime", "llama_cpp": "llama-cpp-python"}
_PROBES: HassKey[dict[tuple[str, tuple[str, ...]], asyncio.Future[NativeProbe]]] = HassKey(
    f"{DOMAIN}_native_probes"
)
_AVAILABLE: dict[tuple[str, tuple[str, ...]], NativeProbe] = {}  # per process: an import that worked
_EXIT_MISSING, _EXIT_BROKEN = 3, 4
_PROBE_SCRIPT = f"""
import importlib, sys
name = sys.argv[1]
try:
    importlib.import_module(name)
except ModuleNotFoundError as err:
    missing = err.name or ""
    if name == missing or name.startswith(missing + "."):
        sys.exit({_EXIT_MISSING})
    print(f"{{type(err).__name__}}: {{err}}", file=sys.stderr)
    sys.exit({_EXIT_BROKEN})
except Exception as err:
    print(f"{{type(err).__name__}}: {{err}}", file=sys.stderr)
    sys.exit({_EXIT_BROKEN})
"""


class NativeStatus(StrEnum):
    """What importing a module in a child process did."""

    AVAILABLE = "available"  # imported fine: safe to import in HA
    MISSING = "missing"  # not installed: may be installed at runtime
    BROKEN = "broken"  # installed but raises on import (e.g. a missing shared library)
    CRASHED = "crashed"  # the import killed the child (signal, e.g. SIGILL) or hung past the timeout


@dataclass(frozen=True, slots=True)
class NativeProbe:
    """One probe's outcome; ``signal`` is set when the import died of one."""

    module: str
    status: NativeStatus
    signal: int | None = None
    detail: str = ""

    @property
    def available(self) -> bool:
        """Whether the module may be imported inside HA."""
        return self.status is NativeStatus.AVAILABLE


@dataclass(frozen=True, slots=True)
class ChildResult:
    """How a child interpreter ended: ``returncode`` (``-signal`` if killed), None if it timed out."""

    returncode: int | None
    last_line: str  # the last line of its stderr (the error a script prints last)


def child_env(extra_paths: Sequence[str]) -> dict[str, str]:
    """The environment of a child: HA's import path (plus ``extra_paths`` first)."""
    return {**os.environ, "PYTHONPATH": os.pathsep.join([*extra_paths, *(p for p in sys.path if p)])}


def run_child_blocking(
    script: str, args: Sequence[str], timeout: float, extra_paths: Sequence[str] = ()
) -> ChildResult:
    """Executor: run ``script`` in a fresh interpreter (HA's own) with ``args``, bounded by ``timeout``."""
    try:
        done = subprocess.run(  # our own interpreter, a fixed script
            [sys.executable, "-c", script, *args],
            capture_output=True,
            text=True,
            errors="replace",
            timeout=timeout,
            env=child_env(extra_paths),
            check=False,
        )
    except subprocess.TimeoutExpired:
        return ChildResult(None, f"did not finish in {timeout:.0f} s")
    return ChildResult(done.returncode, (done.stderr.strip().splitlines() or [""])[-1])


def _probe_blocking(module: str, timeout: float, extra_paths: Sequence[str]) -> NativeProbe:
    """Executor: import ``module`` in a fresh interpreter with HA's import path (plus ``extra_paths``)."""
    done = run_child_blocking(_PROBE_SCRIPT, [module], timeout, extra_paths)
    if done.returncode is None:
        return NativeProbe(module, NativeStatus.CRASHED, detail=f"import {done.last_line}")
    if done.returncode == 0:
        return NativeProbe(module, NativeStatus.AVAILABLE)
    if done.returncode < 0:
        return NativeProbe(module, NativeStatus.CRASHED, signal=-done.returncode, detail=done.last_line)
    if done.returncode == _EXIT_MISSING:
        return NativeProbe(module, NativeStatus.MISSING)
    return NativeProbe(module, NativeStatus.BROKEN, detail=done.last_line or f"exit code {done.returncode}")


async def async_probe_native(
    hass: HomeAssistant,
    module: str,
    *,
    refresh: bool = False,
    timeout: float = PROBE_TIMEOUT_SECONDS,
    extra_paths: Sequence[str] = (),
) -> NativeProbe:
    """Import ``module`` in a child process first; cached per module (``refresh`` probes again)."""
    probes = hass.data.setdefault(_PROBES, {})
    key = (module, tuple(extra_paths))
    cached = probes.get(key)
    failed = cached is not None and cached.done() and (cached.cancelled() or cached.exception() is not None)
    if not refresh and cached is None and key in _AVAILABLE:
        return _AVAILABLE[key]
    if refresh or cached is None or failed:
        probes[key] = hass.async_add_executor_job(_probe_blocking, module, timeout, tuple(extra_paths))
    probe = await asyncio.shield(probes[key])
    if probe.available:
        _AVAILABLE[key] = probe
    return probe


class RequirementAction(StrEnum):
    """What to do about a native requirement after probing its module."""

    NONE = "none"  # available already
    INSTALL = "install"  # missing and HA may install packages
    SKIP_PIP = "skip_pip"  # missing, but HA runs with --skip-pip: fall back, tell the user
    NO_WHEEL = "no_wheel"  # missing, and no wheel exists for this platform: fall back, tell the user
    UNUSABLE = "unusable"  # installed but broken or crashing: installing again will not help; fall back


def plan_requirement(probe: NativeProbe, skip_pip: bool, wheel: bool = True) -> RequirementAction:
    """The decision for ``probe`` (pure); ``wheel``: a binary wheel exists for this platform."""
    if probe.status is NativeStatus.AVAILABLE:
        return RequirementAction.NONE
    if probe.status is NativeStatus.MISSING:
        if skip_pip:
            return RequirementAction.SKIP_PIP
        return RequirementAction.INSTALL if wheel else RequirementAction.NO_WHEEL
    return RequirementAction.UNUSABLE


def wheel_expected(distribution: str, system: str, machine: str, libc: str) -> bool:
    """Whether PyPI has a binary wheel of ``distribution`` for this platform (pure).

    ONNX Runtime ships wheels for glibc Linux (x86_64, aarch64), macOS and Windows, not for musl
    (Alpine: HA's container images). llama-cpp-python ships a source archive only: building it needs a
    C++ tool chain and many minutes, which a hub must not attempt unasked.
    """
    if distribution != "onnxruntime":
        return False
    if system == "Linux":
        return libc == "glibc" and machine.lower() in {"x86_64", "amd64", "aarch64", "arm64"}
    return system in {"Darwin", "Windows"}


def wheel_expected_here(distribution: str) -> bool:
    """``wheel_expected`` for the running interpreter."""
    return wheel_expected(distribution, platform.system(), platform.machine(), platform.libc_ver()[0])


@dataclass(frozen=True, slots=True)
class RequirementOutcome:
    """What ``async_ensure_requirement`` decided and found; ``probe`` is the final state."""

    requirement: str
    action: RequirementAction
    probe: NativeProbe
    error: str | None = None  # why the installation failed

    @property
    def detail(self) -> str | None:
        """The error message, or the probe's detail or signal (None: nothing more to say)."""
        probe = self.probe
        return self.error or probe.detail or (f"signal {probe.signal}" if probe.signal else None)

    def reason(self) -> str:
        """Why the module is not used, in words for the repair issue (not the enums' raw values)."""
        parts = [_STATUS_WORDS.get(self.probe.status, self.probe.status.value)]
        if self.action is RequirementAction.INSTALL and self.error:
            parts.append("installing it failed")
        elif words := _ACTION_WORDS.get(self.action):
            parts.append(words)
        detail = self.detail
        return "; ".join(parts) + (f" ({detail})" if detail else "")


_STATUS_WORDS = {
    NativeStatus.MISSING: "it is not installed",
    NativeStatus.BROKEN: "it is installed, but importing it fails",
    NativeStatus.CRASHED: "importing it crashed or did not finish",
}
_ACTION_WORDS = {
    RequirementAction.SKIP_PIP: "Home Assistant runs with --skip-pip, so it is not installed for you",
    RequirementAction.NO_WHEEL: "no ready-made package (wheel) exists for this platform",
    RequirementAction.UNUSABLE: "installing it again would not help",
}


async def async_ensure_requirement(
    hass: HomeAssistant,
    requirement: str,
    module: str,
    *,
    extra_paths: Sequence[str] = (),
    wheel: bool = True,
    refresh: bool = False,
) -> RequirementOutcome:
    """Make ``module`` importable, installing ``requirement`` (e.g. ``"onnxruntime==1.31.1"``) if needed.

    Never imports ``module`` in HA itself: check ``outcome.probe.available`` before importing it.
    """
    probe = await async_probe_native(hass, module, refresh=refresh, extra_paths=extra_paths)
    action = plan_requirement(probe, hass.config.skip_pip, wheel)
    if action is not RequirementAction.INSTALL:
        return RequirementOutcome(requirement, action, probe)
    try:
        await requirements.async_process_requirements(hass, DOMAIN, [requirement])
    except HomeAssistantError as err:
        return RequirementOutcome(requirement, action, probe, error=str(err))
    probe = await async_probe_native(hass, module, refresh=True, extra_paths=extra_paths)
    return RequirementOutcome(requirement, action, probe)


# -- the check at entry setup: install, probe, fall back, repair issue ------------------------------


class Fallback(StrEnum):
    """What Habitus uses instead of a module that stays unusable."""

    NUMPY_EXECUTOR = "numpy_executor"  # model serving without ONNX Runtime
    SERVER_BACKEND = "server_backend"  # synthesis through the OpenAI-compatible server


@dataclass(frozen=True, slots=True)
class NativeRequirement:
    """A native module Habitus can do without: how to get it, and what replaces it."""

    module: str
    requirement: str  # the pinned distribution HA would install
    fallback: Fallback
    issue_key: str  # translation key of its repair issue (``issues.<key>``)

    @property
    def issue_id(self) -> str:
        """One repair issue per module."""
        return f"native_{self.module}"

    @property
    def imported_in_ha(self) -> bool:
        """HA's own process imports it (model serving); llama.cpp runs in the worker process only."""
        return self.fallback is Fallback.NUMPY_EXECUTOR


NATIVE_REQUIREMENTS: tuple[NativeRequirement, ...] = (
    NativeRequirement(
        "onnxruntime", "onnxruntime==1.31.1", Fallback.NUMPY_EXECUTOR, "onnxruntime_unavailable"
    ),
    NativeRequirement(
        "llama_cpp", "llama-cpp-python==0.3.36", Fallback.SERVER_BACKEND, "llama_cpp_unavailable"
    ),
)
STORAGE_KEY = f"{DOMAIN}.native"
STORAGE_VERSION = 1
_STATE: HassKey[NativeState] = HassKey(f"{DOMAIN}_native_state")


@dataclass(slots=True)
class NativeState:
    """What the checks found (``statuses``: module -> NativeStatus value), remembered across restarts."""

    store: Store[dict[str, Any]]
    statuses: dict[str, str]
    checked: bool = False  # this HA run's check finished
    outcomes: dict[str, RequirementOutcome] = field(default_factory=dict)  # of this HA run's check
    task: asyncio.Task[Any] | None = None


async def _async_state(hass: HomeAssistant) -> NativeState:
    if (state := hass.data.get(_STATE)) is None:
        store: Store[dict[str, Any]] = ReportedStore(
            hass, STORAGE_VERSION, STORAGE_KEY, what="which native modules work on this hub"
        )
        saved: Any = await store.async_load() or {}
        found = saved.get("statuses") if isinstance(saved, dict) else saved
        if not isinstance(found, dict | None):  # probed again, in a child, as at a first start
            _LOGGER.warning("Ignoring unreadable Habitus native module verdicts %s: %.80r", store.path, found)
            found = None
        statuses = {str(k): str(v) for k, v in (found or {}).items()}
        state = hass.data.setdefault(_STATE, NativeState(store, statuses))
    return state


def _unusable(status: str | None) -> bool:
    return status in {NativeStatus.BROKEN, NativeStatus.CRASHED}


def block_import(module: str) -> bool:
    """Make ``import module`` raise ImportError in HA (if not imported already); whether it is blocked."""
    if module not in sys.modules:
        sys.modules[module] = None  # type: ignore[assignment]  # Python's documented import block
    return sys.modules[module] is None


def unblock_import(module: str) -> None:
    """Undo ``block_import``."""
    if module in sys.modules and sys.modules[module] is None:
        del sys.modules[module]


def module_usable(hass: HomeAssistant, module: str) -> bool | None:
    """The last check's verdict on ``module`` (None: not checked yet, on this hub)."""
    state = hass.data.get(_STATE)
    status = state.statuses.get(module) if state is not None else None
    return None if status is None else status == NativeStatus.AVAILABLE


def synthesis_backend(hass: HomeAssistant, backend: LlmBackendKind, server_url: str | None) -> LlmBackendKind:
    """The backend synthesis should use: the server when llama.cpp is unusable here and one is set."""
    if backend is LlmBackendKind.LOCAL and module_usable(hass, "llama_cpp") is False and server_url:
        return LlmBackendKind.SERVER
    return backend


async def async_setup_native(
    hass: HomeAssistant,
    entry: ConfigEntry[Any],
    native: Sequence[NativeRequirement] = NATIVE_REQUIREMENTS,
    *,
    extra_paths: Sequence[str] = (),
) -> None:
    """Before any model loads: block what crashed or broke last time, and probe (once per hub, it is
    then remembered) a module HA itself would import that was never probed here, so a wheel dying on
    import cannot take HA down at its first start either. Then check everything again in the
    background once HA has started (once per HA run; the task ends)."""
    state = await _async_state(hass)
    for item in native:
        status = state.statuses.get(item.module)
        if status is None and item.imported_in_ha and item.module not in sys.modules:
            probe = await async_probe_native(
                hass, item.module, timeout=FIRST_PROBE_TIMEOUT_SECONDS, extra_paths=extra_paths
            )
            status = state.statuses[item.module] = probe.status.value
        if _unusable(status):
            block_import(item.module)
    wanted = _wanted_by(entry)
    if state.checked:  # e.g. a reload after the options changed: the issues follow the new options
        for item in native:
            if (outcome := state.outcomes.get(item.module)) is not None:
                _apply(hass, item, outcome, wanted(item))
        return

    @callback
    def _start(hass: HomeAssistant) -> None:
        if state.checked or (state.task is not None and not state.task.done()):
            return
        state.task = entry.async_create_background_task(
            hass,
            async_check_native(hass, native, extra_paths=extra_paths, wanted=wanted),
            "habitus native check",
        )

    entry.async_on_unload(async_at_started(hass, _start))


async def async_check_native(
    hass: HomeAssistant,
    native: Sequence[NativeRequirement] = NATIVE_REQUIREMENTS,
    *,
    extra_paths: Sequence[str] = (),
    refresh: bool = False,
    wanted: Callable[[NativeRequirement], bool] = lambda _item: True,
) -> dict[str, RequirementOutcome]:
    """Ensure each requirement (install where wheels exist), then fall back and raise or clear its issue.

    ``refresh``: probe again even if this HA run probed already. ``wanted``: whether the options use
    the module (llama.cpp is not needed while synthesis uses a server: no issue then).
    """
    state = await _async_state(hass)
    outcomes: dict[str, RequirementOutcome] = {}
    for item in native:
        distribution = item.requirement.split("==", 1)[0]
        outcome = await async_ensure_requirement(
            hass,
            item.requirement,
            item.module,
            extra_paths=extra_paths,
            wheel=wheel_expected_here(distribution),
            refresh=refresh,
        )
        outcomes[item.module] = outcome
        state.statuses[item.module] = outcome.probe.status.value
        state.outcomes[item.module] = outcome
        _apply(hass, item, outcome, wanted(item))
    state.checked = True
    await state.store.async_save({"statuses": dict(state.statuses)})
    return outcomes


def _wanted_by(entry: ConfigEntry[Any]) -> Callable[[NativeRequirement], bool]:
    """Whether ``entry``'s options use a module: llama.cpp only for the local synthesis backend."""
    local = {**entry.data, **entry.options}.get(
        CONF_LLM_BACKEND, LlmBackendKind.LOCAL
    ) == LlmBackendKind.LOCAL
    return lambda item: item.fallback is not Fallback.SERVER_BACKEND or local


def _apply(hass: HomeAssistant, item: NativeRequirement, outcome: RequirementOutcome, wanted: bool) -> None:
    """Use the module, or its fallback with a repair issue (if the options use it) saying what to do."""
    if outcome.probe.available or not wanted:
        ir.async_delete_issue(hass, DOMAIN, item.issue_id)
    if outcome.probe.available:
        unblock_import(item.module)
        return
    block_import(item.module)
    if not wanted:
        return
    probe = outcome.probe
    detail = outcome.detail or "-"
    _LOGGER.warning(
        "Habitus cannot use %s (%s, %s: %s); falling back to %s",
        item.module,
        probe.status,
        outcome.action,
        detail,
        item.fallback,
    )
    ir.async_create_issue(
        hass,
        DOMAIN,
        item.issue_id,
        is_fixable=False,
        severity=ir.IssueSeverity.WARNING,
        translation_key=item.issue_key,
        translation_placeholders={
            "requirement": item.requirement,
            "status": probe.status.value,
            "action": outcome.action.value,
            "detail": detail,
            "reason": outcome.reason(),
        },
    )
