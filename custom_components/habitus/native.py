"""Native libraries (ONNX Runtime, llama.cpp) are imported first in a spawned process, never blindly in HA.

A wheel built for a newer CPU dies on import with SIGILL (illegal instruction); a broken build can
segfault. Importing such a module inside HA would take HA down, so ``async_probe_native`` imports it in
a child (``python -c`` with HA's own interpreter and import path, bounded by a timeout) and classifies
the module as available / missing / broken (an ``ImportError``) / crashed (signal or timeout). Results
are cached per module for the life of HA.

``async_ensure_requirement`` installs a missing requirement at runtime through HA's requirements
manager (HA's pip settings, lock and failure memory) unless HA runs with ``--skip-pip``, then probes
again. ``plan_requirement`` is the decision, kept pure for tests. Callers fall back (numpy executor for
ONNX Runtime, the server backend for llama.cpp) when the module stays unusable.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from homeassistant import requirements
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.util.hass_dict import HassKey

from .const import DOMAIN

PROBE_TIMEOUT_SECONDS = 60.0
# Import names of the native modules Habitus uses -> their distributions on PyPI.
NATIVE_DISTRIBUTIONS: dict[str, str] = {"onnxruntime": "onnxruntime", "llama_cpp": "llama-cpp-python"}
_PROBES: HassKey[dict[tuple[str, tuple[str, ...]], asyncio.Future[NativeProbe]]] = HassKey(
    f"{DOMAIN}_native_probes"
)
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


def _probe_blocking(module: str, timeout: float, extra_paths: Sequence[str]) -> NativeProbe:
    """Executor: import ``module`` in a fresh interpreter with HA's import path (plus ``extra_paths``)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([*extra_paths, *(p for p in sys.path if p)])}
    try:
        done = subprocess.run(  # our own interpreter, a fixed script
            [sys.executable, "-c", _PROBE_SCRIPT, module],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return NativeProbe(module, NativeStatus.CRASHED, detail=f"import did not finish in {timeout:.0f} s")
    last_line = (done.stderr.strip().splitlines() or [""])[-1]
    if done.returncode == 0:
        return NativeProbe(module, NativeStatus.AVAILABLE)
    if done.returncode < 0:
        return NativeProbe(module, NativeStatus.CRASHED, signal=-done.returncode, detail=last_line)
    if done.returncode == _EXIT_MISSING:
        return NativeProbe(module, NativeStatus.MISSING)
    return NativeProbe(module, NativeStatus.BROKEN, detail=last_line or f"exit code {done.returncode}")


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
    if refresh or cached is None or failed:
        probes[key] = hass.async_add_executor_job(_probe_blocking, module, timeout, tuple(extra_paths))
    return await asyncio.shield(probes[key])


class RequirementAction(StrEnum):
    """What to do about a native requirement after probing its module."""

    NONE = "none"  # available already
    INSTALL = "install"  # missing and HA may install packages
    SKIP_PIP = "skip_pip"  # missing, but HA runs with --skip-pip: fall back, tell the user
    UNUSABLE = "unusable"  # installed but broken or crashing: installing again will not help; fall back


def plan_requirement(probe: NativeProbe, skip_pip: bool) -> RequirementAction:
    """The decision for ``probe`` (pure)."""
    if probe.status is NativeStatus.AVAILABLE:
        return RequirementAction.NONE
    if probe.status is NativeStatus.MISSING:
        return RequirementAction.SKIP_PIP if skip_pip else RequirementAction.INSTALL
    return RequirementAction.UNUSABLE


@dataclass(frozen=True, slots=True)
class RequirementOutcome:
    """What ``async_ensure_requirement`` decided and found; ``probe`` is the final state."""

    requirement: str
    action: RequirementAction
    probe: NativeProbe
    error: str | None = None  # why the installation failed


async def async_ensure_requirement(
    hass: HomeAssistant,
    requirement: str,
    module: str,
    *,
    extra_paths: Sequence[str] = (),
) -> RequirementOutcome:
    """Make ``module`` importable, installing ``requirement`` (e.g. ``"onnxruntime==1.31.1"``) if needed.

    Never imports ``module`` in HA itself: check ``outcome.probe.available`` before importing it.
    """
    probe = await async_probe_native(hass, module, extra_paths=extra_paths)
    action = plan_requirement(probe, hass.config.skip_pip)
    if action is not RequirementAction.INSTALL:
        return RequirementOutcome(requirement, action, probe)
    try:
        await requirements.async_process_requirements(hass, DOMAIN, [requirement])
    except HomeAssistantError as err:
        return RequirementOutcome(requirement, action, probe, error=str(err))
    probe = await async_probe_native(hass, module, refresh=True, extra_paths=extra_paths)
    return RequirementOutcome(requirement, action, probe)
