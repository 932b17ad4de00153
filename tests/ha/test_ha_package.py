"""The installed folder: valid manifest, complete translations, an engine free of Home Assistant."""

from __future__ import annotations

import ast
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml
from awesomeversion import AwesomeVersion

from custom_components.habitus.adaptation_job import Phase
from custom_components.habitus.adaptation_sensor import ADAPTATION
from custom_components.habitus.const import LearningState
from custom_components.habitus.live_sensor import LIVE_SENSORS
from custom_components.habitus.sensor import SENSORS

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "custom_components" / "habitus"
ENGINE = PACKAGE / "engine"
MUSL_SAFE_REQUIREMENTS = {"numpy", "autograd"}  # numpy has musllinux wheels; autograd is pure Python


def _engine_modules() -> list[str]:
    """Every engine module as ``habitus_engine.<dotted path>`` (new files are covered automatically)."""
    names = []
    for path in sorted(ENGINE.rglob("*.py")):
        parts = path.relative_to(ENGINE).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names.append(".".join(("habitus_engine", *parts)))
    return names


def test_engine_never_imports_homeassistant_statically() -> None:
    offenders = []
    for path in sorted(ENGINE.rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            offenders += [
                f"{path.relative_to(ROOT)}:{node.lineno} imports {name}"
                for name in names
                if name.split(".")[0] in {"homeassistant", "custom_components"}
            ]
    assert offenders == [], "engine/ must stay free of Home Assistant (relative imports only):\n" + "\n".join(
        offenders
    )


def test_engine_never_imports_homeassistant_at_run_time() -> None:
    modules = _engine_modules()
    assert "habitus_engine.segment" in modules and "habitus_engine.devices" in modules
    script = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "leaked = sorted(m for m in sys.modules if m.split('.')[0] == 'homeassistant')\n"
        "assert not leaked, leaked\n"
        "print(len(sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, result.stderr


def test_manifest_is_valid_for_hacs_and_hassfest() -> None:
    manifest = json.loads((PACKAGE / "manifest.json").read_text())
    required = {
        "domain",
        "name",
        "version",
        "config_flow",
        "documentation",
        "issue_tracker",
        "codeowners",
        "requirements",
        "iot_class",
        "integration_type",
    }
    assert required <= set(manifest)
    assert manifest["domain"] == "habitus" and manifest["name"] == "Habitus"
    assert list(manifest)[:2] == ["domain", "name"] and list(manifest)[2:] == sorted(list(manifest)[2:])
    assert manifest["config_flow"] is True and manifest["single_config_entry"] is True
    assert manifest["integration_type"] in {
        "service",
        "hub",
        "device",
        "helper",
        "system",
        "entity",
        "virtual",
    }
    assert manifest["iot_class"] in {"calculated", "local_push", "local_polling"}
    assert manifest["dependencies"] == ["recorder"]
    assert AwesomeVersion(manifest["version"]).valid
    assert manifest["documentation"].startswith("https://") and manifest["issue_tracker"].startswith(
        "https://"
    )
    assert all(owner.startswith("@") for owner in manifest["codeowners"])
    for requirement in manifest["requirements"]:
        name, _, version = requirement.partition("==")
        assert name in MUSL_SAFE_REQUIREMENTS and version, requirement
    hacs = json.loads((ROOT / "hacs.json").read_text())
    assert hacs == {"name": "Habitus", "homeassistant": "2025.4.0", "render_readme": True}


def test_strings_and_english_translation_are_identical() -> None:
    strings = json.loads((PACKAGE / "strings.json").read_text())
    english = json.loads((PACKAGE / "translations" / "en.json").read_text())
    assert strings == english


def test_service_field_descriptions_name_select_options_as_the_selector_shows_them() -> None:
    """Before: habitus.adapt's mode read "augment: ...; replace: ..." beside the options "Augment" and
    "Replace"."""
    strings = json.loads((PACKAGE / "strings.json").read_text())
    services = yaml.safe_load((PACKAGE / "services.yaml").read_text())
    checked = 0
    for service, declared in services.items():
        for field, spec in ((declared or {}).get("fields") or {}).items():
            select = spec.get("selector", {}).get("select")
            if not select or "translation_key" not in select:
                continue
            labels = strings["selector"][select["translation_key"]]["options"]
            description = strings["services"][service]["fields"][field]["description"]
            for option in select["options"]:
                for named in re.findall(rf"\b{re.escape(option)}:", description, flags=re.IGNORECASE):
                    assert named == f"{labels[option]}:", (service, field, named)
                    checked += 1
    assert checked  # the adapt service's mode names its options


def test_icons_name_existing_sensors_and_states() -> None:
    everything = json.loads((PACKAGE / "icons.json").read_text())
    icons = everything["entity"]["sensor"]
    assert set(icons) == {
        description.translation_key for description in (*SENSORS, *LIVE_SENSORS, ADAPTATION)
    }
    assert set(icons["learning_state"]["state"]) == {s.value for s in LearningState}
    assert set(icons["adaptation"]["state"]) == {p.value for p in Phase}
    assert all(icon["default"].startswith("mdi:") for icon in icons.values())
    services = (PACKAGE / "services.yaml").read_text()
    declared = set(re.findall(r"^(\w+):", services, flags=re.MULTILINE))
    assert set(everything["services"]) <= declared  # no icon for a service that does not exist
    assert {"adapt", "cancel_adaptation", "retrain", "rollback"} <= set(everything["services"])
    assert all(icon["service"].startswith("mdi:") for icon in everything["services"].values())


def _source() -> str:
    return "\n".join(path.read_text() for path in sorted(PACKAGE.glob("*.py")))


def test_every_translation_key_used_in_code_exists() -> None:
    strings = json.loads((PACKAGE / "strings.json").read_text())
    source = _source()
    for flow in ("config", "options"):
        errors = strings[flow]["error"]
        for key in set(re.findall(r'errors\[[^\]]+\] = "(\w+)"', source)):
            assert key in errors, f"{flow} error {key}"
    for key in ("user",):
        assert set(strings["config"]["step"][key]["data"]) == {
            "include_domains",
            "include_areas",
            "include_entities",
            "exclude_entities",
        }
    assert {"max_gap_hours", "max_span_hours", "retention_days", "max_sequences", "weather_entity"} <= set(
        strings["options"]["step"]["general"]["data"]
    )
    assert "single_instance_allowed" in strings["config"]["abort"]
    for description in SENSORS:
        sensor = strings["entity"]["sensor"][description.translation_key]
        assert sensor["name"]
        if description.options:
            assert set(sensor["state"]) == set(description.options) == {s.value for s in LearningState}
    entities = strings["entity"]
    entity_keys = {key for platform in entities.values() for key in platform}
    known = {*strings.get("exceptions", {}), *strings.get("issues", {}), *entity_keys}
    for key in re.findall(r'translation_key="(\w+)"', source):
        assert key in known, key
    for key in re.findall(r'^ISSUE_\w+ = "(\w+)"', source, flags=re.MULTILINE):
        assert key in strings["issues"], key


def test_the_installed_folder_works_on_its_own(tmp_path: Path) -> None:
    """Copy only custom_components/habitus (what HACS installs) and import every module from there."""
    target = tmp_path / "config" / "custom_components" / "habitus"
    shutil.copytree(PACKAGE, target, ignore=shutil.ignore_patterns("__pycache__"))
    modules = [
        f"custom_components.habitus.{p.stem}" for p in sorted(target.glob("*.py")) if p.stem != "__init__"
    ]
    script = (
        "import importlib, sys\n"
        f"sys.path = [{str(tmp_path / 'config')!r}] + [p for p in sys.path if p and p != {str(ROOT)!r}]\n"
        "import custom_components.habitus as pkg\n"
        f"assert pkg.__file__.startswith({str(tmp_path)!r}), pkg.__file__\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300, check=False, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
