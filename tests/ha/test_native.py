"""Native modules are probed in a real child process: available / missing / broken / crashed.

The crash is real: a module in ``tmp_path`` calls ``os.abort()`` on import (as a SIGILL wheel would die).
Only pip itself is replaced (no internet here), by a stand-in that "installs" a module into tmp_path.
"""

from __future__ import annotations

import importlib
import signal
import sys
from pathlib import Path
from typing import Any

import pytest
from homeassistant import requirements
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers import translation
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.habitus.const import DOMAIN, LlmBackendKind
from custom_components.habitus.llm_setup import LlmSetupError, async_check_loadable
from custom_components.habitus.native import (
    NATIVE_REQUIREMENTS,
    STORAGE_KEY,
    Fallback,
    NativeProbe,
    NativeRequirement,
    NativeStatus,
    RequirementAction,
    async_check_native,
    async_ensure_requirement,
    async_probe_native,
    async_setup_native,
    module_usable,
    plan_requirement,
    synthesis_backend,
    unblock_import,
    wheel_expected,
)

from .conftest import SetupHabitus


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
    assert (
        plan_requirement(NativeProbe("m", NativeStatus.MISSING), False, wheel=False)
        is RequirementAction.NO_WHEEL
    )
    assert (
        plan_requirement(NativeProbe("m", NativeStatus.MISSING), True, wheel=False)
        is RequirementAction.SKIP_PIP
    )


def test_wheels_exist_for_onnxruntime_on_glibc_macos_windows_only() -> None:
    assert wheel_expected("onnxruntime", "Linux", "x86_64", "glibc")
    assert wheel_expected("onnxruntime", "Linux", "aarch64", "glibc")
    assert not wheel_expected("onnxruntime", "Linux", "x86_64", "")  # musl (Alpine: HA's containers)
    assert not wheel_expected("onnxruntime", "Linux", "armv7l", "glibc")
    assert wheel_expected("onnxruntime", "Darwin", "arm64", "")
    assert not wheel_expected("llama-cpp-python", "Linux", "x86_64", "glibc")  # PyPI: source only


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


def _issue(hass: HomeAssistant, module: str) -> ir.IssueEntry | None:
    return ir.async_get(hass).async_get_issue(DOMAIN, f"native_{module}")


async def test_a_missing_module_falls_back_with_a_repair_issue_until_it_works(
    hass: HomeAssistant, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    installs: list[list[str]] = []

    async def pip(hass: HomeAssistant, name: str, reqs: list[str]) -> None:
        installs.append(reqs)

    monkeypatch.setattr(requirements, "async_process_requirements", pip)
    hass.config.skip_pip = False
    name = "habitus_probe_absent_native"
    item = NativeRequirement(
        name, "habitus-probe-absent==1.0", Fallback.NUMPY_EXECUTOR, "onnxruntime_unavailable"
    )
    paths = (str(tmp_path),)
    try:
        outcome = (await async_check_native(hass, [item], extra_paths=paths))[name]
        assert outcome.action is RequirementAction.NO_WHEEL and installs == []  # no wheel: pip not tried
        issue = _issue(hass, name)
        assert issue is not None and issue.translation_key == "onnxruntime_unavailable"
        assert issue.translation_placeholders == {
            "requirement": "habitus-probe-absent==1.0",
            "status": "missing",
            "action": "no_wheel",
            "detail": "-",
            "reason": "it is not installed; no ready-made package (wheel) exists for this platform",
        }
        # What the user reads in Repairs: words, not "missing, - (step: no_wheel)".
        strings = await translation.async_get_translations(hass, "en", "issues", [DOMAIN])
        template = strings[f"component.{DOMAIN}.issues.onnxruntime_unavailable.description"]
        shown = template.format(**issue.translation_placeholders)
        assert shown.startswith(
            "Habitus could not use ONNX Runtime (habitus-probe-absent==1.0): it is not installed; no "
            "ready-made package (wheel) exists for this platform. Anomaly detection"
        ), shown
        assert module_usable(hass, name) is False
        with pytest.raises(ImportError):  # the fallback: HA never imports it
            importlib.import_module(name)

        _module(tmp_path, name, "")  # the user installs it; the next check clears the issue
        await async_check_native(hass, [item], extra_paths=paths, refresh=True)
        assert _issue(hass, name) is None and module_usable(hass, name) is True
        assert name not in sys.modules  # no longer blocked
    finally:
        unblock_import(name)


async def test_a_present_module_raises_no_issue(hass: HomeAssistant, tmp_path: Path) -> None:
    name = _module(tmp_path, "habitus_probe_present_native", "VALUE = 2\n")
    item = NativeRequirement(name, "present==1", Fallback.NUMPY_EXECUTOR, "onnxruntime_unavailable")
    outcome = (await async_check_native(hass, [item], extra_paths=(str(tmp_path),)))[name]
    assert outcome.action is RequirementAction.NONE and outcome.probe.available
    assert _issue(hass, name) is None and module_usable(hass, name) is True and name not in sys.modules


async def test_setup_checks_the_native_modules_in_the_background(
    hass: HomeAssistant, setup_habitus: SetupHabitus, hass_storage: dict[str, Any]
) -> None:
    await setup_habitus()  # waits for background tasks: the check has ended
    for item in NATIVE_REQUIREMENTS:
        assert module_usable(hass, item.module) is True
        assert _issue(hass, item.module) is None
    assert hass_storage[STORAGE_KEY]["data"] == {
        "statuses": {"onnxruntime": "available", "llama_cpp": "available"}
    }


@pytest.mark.parametrize("remembered", [True, False], ids=["crashed-at-the-last-start", "first-start"])
async def test_a_crashing_module_is_blocked_before_the_models_load(
    hass: HomeAssistant, tmp_path: Path, hass_storage: dict[str, Any], remembered: bool
) -> None:
    name = _module(tmp_path, f"habitus_probe_crash_at_start_{remembered}", "import os\nos.abort()\n")
    if remembered:
        hass_storage[STORAGE_KEY] = {
            "version": 1,
            "minor_version": 1,
            "key": STORAGE_KEY,
            "data": {"statuses": {name: "crashed"}},
        }
    item = NativeRequirement(name, "crash==1", Fallback.NUMPY_EXECUTOR, "onnxruntime_unavailable")
    entry = MockConfigEntry(domain=DOMAIN)
    entry.add_to_hass(hass)
    try:
        await async_setup_native(hass, entry, [item], extra_paths=(str(tmp_path),))
        assert sys.modules[name] is None  # blocked during setup: the models load after this
        await hass.async_block_till_done(wait_background_tasks=True)
        issue = _issue(hass, name)
        assert issue is not None and issue.translation_placeholders["status"] == "crashed"
        assert issue.translation_placeholders["detail"] == f"signal {signal.SIGABRT}"
        assert issue.translation_placeholders["reason"] == (
            "importing it crashed or did not finish; installing it again would not help "
            f"(signal {signal.SIGABRT})"
        )
    finally:
        unblock_import(name)


async def test_llama_cpp_unusable_falls_back_to_the_server(hass: HomeAssistant, tmp_path: Path) -> None:
    # a llama_cpp that dies on import, ahead of the real one on the child's path (as a SIGILL wheel)
    _module(tmp_path, "llama_cpp", "import os\nos.abort()\n")
    llama = next(item for item in NATIVE_REQUIREMENTS if item.module == "llama_cpp")
    url = "http://127.0.0.1:8080/v1"
    try:
        await async_check_native(hass, [llama], extra_paths=(str(tmp_path),))
        issue = _issue(hass, "llama_cpp")
        assert issue is not None and issue.translation_key == "llama_cpp_unavailable"
        assert synthesis_backend(hass, LlmBackendKind.LOCAL, url) is LlmBackendKind.SERVER
        assert synthesis_backend(hass, LlmBackendKind.LOCAL, None) is LlmBackendKind.LOCAL  # none to use
        with pytest.raises(LlmSetupError, match="llama_cpp_unavailable"):  # the options flow says so
            await async_check_loadable(hass, tmp_path / "any.gguf")
    finally:
        unblock_import("llama_cpp")


async def test_no_llama_cpp_issue_while_synthesis_uses_a_server(hass: HomeAssistant, tmp_path: Path) -> None:
    _module(tmp_path, "llama_cpp", "import os\nos.abort()\n")  # dies on import in the child
    llama = next(item for item in NATIVE_REQUIREMENTS if item.module == "llama_cpp")
    entry = MockConfigEntry(
        domain=DOMAIN, options={"llm_backend": "server", "llm_server_url": "http://h:1/v1"}
    )
    entry.add_to_hass(hass)
    paths = (str(tmp_path),)
    try:
        await async_setup_native(hass, entry, [llama], extra_paths=paths)
        await hass.async_block_till_done(wait_background_tasks=True)
        assert module_usable(hass, "llama_cpp") is False and _issue(hass, "llama_cpp") is None
        # the user switches to the embedded model: set up again (a reload), the issue appears
        hass.config_entries.async_update_entry(entry, options={"llm_backend": "local"})
        await async_setup_native(hass, entry, [llama], extra_paths=paths)
        assert _issue(hass, "llama_cpp") is not None
    finally:
        unblock_import("llama_cpp")
