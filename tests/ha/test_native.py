"""Native modules are probed in a real child process: available / missing / broken / crashed.

The crash is real: a module in ``tmp_path`` calls ``os.abort()`` on import (as a SIGILL wheel would die).
Only pip itself is replaced (no internet here), by a stand-in that "installs" a module into tmp_path.
"""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
from homeassistant import requirements
from homeassistant.core import HomeAssistant

from custom_components.habitus.native import (
    NativeProbe,
    NativeStatus,
    RequirementAction,
    async_ensure_requirement,
    async_probe_native,
    plan_requirement,
)


def _module(directory: Path, name: str, body: str) -> str:
    (directory / f"{name}.py").write_text(body, encoding="utf-8")
    return name


async def test_probe_classifies_modules(hass: HomeAssistant, tmp_path: Path) -> None:
    paths = (str(tmp_path),)
    crash = _module(tmp_path, "habitus_probe_crash", "import os\nos.abort()\n")
    broken = _module(tmp_path, "habitus_probe_broken", "raise ImportError('libfoo.so: cannot open')\n")
    needs_missing = _module(tmp_path, "habitus_probe_dep", "import habitus_probe_absent_dependency\n")
    fine = _module(tmp_path, "habitus_probe_fine", "VALUE = 1\n")

    crashed = await async_probe_native(hass, crash, extra_paths=paths)
    assert crashed.status is NativeStatus.CRASHED and crashed.signal == signal.SIGABRT
    assert not crashed.available
    probe = await async_probe_native(hass, broken, extra_paths=paths)
    assert probe.status is NativeStatus.BROKEN and "libfoo.so" in probe.detail
    probe = await async_probe_native(hass, needs_missing, extra_paths=paths)
    assert probe.status is NativeStatus.BROKEN and "habitus_probe_absent_dependency" in probe.detail
    assert (await async_probe_native(hass, fine, extra_paths=paths)).available
    assert (await async_probe_native(hass, "habitus_probe_not_installed")).status is NativeStatus.MISSING
    assert (await async_probe_native(hass, "onnxruntime")).available  # the real native library


async def test_probe_is_cached_until_refreshed(hass: HomeAssistant, tmp_path: Path) -> None:
    paths = (str(tmp_path),)
    name = "habitus_probe_later"
    assert (await async_probe_native(hass, name, extra_paths=paths)).status is NativeStatus.MISSING
    _module(tmp_path, name, "")
    assert (await async_probe_native(hass, name, extra_paths=paths)).status is NativeStatus.MISSING
    assert (await async_probe_native(hass, name, extra_paths=paths, refresh=True)).available


def test_plan_requirement() -> None:
    def plan(status: NativeStatus, skip_pip: bool = False) -> RequirementAction:
        return plan_requirement(NativeProbe("m", status), skip_pip)

    assert plan(NativeStatus.AVAILABLE) is RequirementAction.NONE
    assert plan(NativeStatus.MISSING) is RequirementAction.INSTALL
    assert plan(NativeStatus.MISSING, skip_pip=True) is RequirementAction.SKIP_PIP
    assert plan(NativeStatus.BROKEN) is RequirementAction.UNUSABLE
    assert plan(NativeStatus.CRASHED) is RequirementAction.UNUSABLE


async def test_ensure_requirement_installs_a_missing_module(
    hass: HomeAssistant, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    installed: list[list[str]] = []

    async def fake_pip(hass: HomeAssistant, name: str, reqs: list[str]) -> None:
        """Stands in for pip (no internet): the "wheel" is a module written to tmp_path."""
        installed.append(reqs)
        _module(tmp_path, "habitus_probe_wheel", "")

    monkeypatch.setattr(requirements, "async_process_requirements", fake_pip)
    hass.config.skip_pip = False
    outcome = await async_ensure_requirement(
        hass, "habitus-probe-wheel==1.0", "habitus_probe_wheel", extra_paths=(str(tmp_path),)
    )
    assert installed == [["habitus-probe-wheel==1.0"]]
    assert outcome.action is RequirementAction.INSTALL and outcome.probe.available and outcome.error is None


async def test_ensure_requirement_reports_and_never_installs_needlessly(
    hass: HomeAssistant, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def failing_pip(hass: HomeAssistant, name: str, reqs: list[str]) -> None:
        raise requirements.RequirementsNotFound(name, reqs)

    monkeypatch.setattr(requirements, "async_process_requirements", failing_pip)
    paths = (str(tmp_path),)
    crash = _module(tmp_path, "habitus_probe_crash2", "import os\nos.abort()\n")

    hass.config.skip_pip = True
    outcome = await async_ensure_requirement(hass, "nowheel==1", "habitus_probe_nowheel", extra_paths=paths)
    assert outcome.action is RequirementAction.SKIP_PIP and outcome.error is None
    hass.config.skip_pip = False
    outcome = await async_ensure_requirement(hass, "nowheel==1", "habitus_probe_nowheel", extra_paths=paths)
    assert outcome.action is RequirementAction.INSTALL and "nowheel==1" in (outcome.error or "")
    assert outcome.probe.status is NativeStatus.MISSING
    outcome = await async_ensure_requirement(hass, "crash==1", crash, extra_paths=paths)
    assert outcome.action is RequirementAction.UNUSABLE and outcome.error is None  # pip not called
    outcome = await async_ensure_requirement(hass, "onnxruntime", "onnxruntime")
    assert outcome.action is RequirementAction.NONE and outcome.probe.available
