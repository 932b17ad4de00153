"""What a user sees: headless Chromium opens Habitus's device page in HA's real frontend.

Chromium (Debian's ``chromium``, found on ``PATH``) starts headless with a DevTools port; a small CDP
client (aiohttp websocket, no extra dependency) puts the demo user's tokens into the frontend's
``localStorage["hassTokens"]`` before the page's scripts run (the frontend then skips its login page),
opens ``/config/devices/device/<Habitus device>``, waits until the page's text (shadow DOMs included)
names the anomaly, prediction and adaptation entities, and saves a screenshot when asked to. With the
routine household, it then opens Settings > System > Repairs (``/config/repairs``), counts Habitus's
routine suggestions there by their title, and saves that page too (``<screenshot>-repairs.png``).

Equivalent by hand: log in at the printed URL and open Settings > Devices > Habitus.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from .client import DemoError, RestClient
from .onboarding import HassAuth
from .summary import Figure

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")
RENDER_TIMEOUT_S = 60.0
DEVTOOLS_TIMEOUT_S = 30.0
WINDOW = (1280, 1600)
# Entity ids whose names the device page must show: anomaly, prediction and adaptation.
EXPECTED_ENTITIES = (
    "binary_sensor.habitus_anomaly",
    "sensor.habitus_next_action",
    "sensor.habitus_adaptation",
)
REPAIRS_PATH = "/config/repairs"
REPAIR_TITLE = "Habitus suggests an automation"  # issues.routine_suggestion.title, up to its routine
_DEEP_TEXT_JS = """(() => {
  const out = [];
  const walk = (node) => {
    if (node.shadowRoot) walk(node.shadowRoot);
    for (const child of node.childNodes) {
      if (child.nodeType === Node.TEXT_NODE) out.push(child.textContent);
      else walk(child);
    }
  };
  walk(document);
  return out.join(" ").replace(/\\s+/g, " ");
})()"""


@dataclass
class BrowserCheck:
    """The outcome: ``status`` ok / skipped / failed, the entity names found and missing."""

    status: str
    message: str
    found: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    screenshot: Path | None = None
    repairs_shown: int | None = None  # routine suggestions on the Repairs page (None: not looked at)
    repairs_screenshot: Path | None = None

    def figures(self) -> dict[str, Figure]:
        """The summary's part."""
        figures: dict[str, Figure] = {"ui_check": self.status, "ui_entities_rendered": len(self.found)}
        if self.screenshot is not None:
            figures["ui_screenshot"] = str(self.screenshot)
        if self.repairs_shown is not None:
            figures["ui_repairs_suggestions"] = self.repairs_shown
        if self.repairs_screenshot is not None:
            figures["ui_repairs_screenshot"] = str(self.repairs_screenshot)
        return figures


def repairs_screenshot_path(screenshot: Path) -> Path:
    """Where the Repairs page's screenshot goes: ``ui.png`` -> ``ui-repairs.png``."""
    return screenshot.with_name(f"{screenshot.stem}-repairs{screenshot.suffix or '.png'}")


def find_chromium() -> str | None:
    """The Chromium executable on ``PATH``, if any."""
    return next((path for name in CHROMIUM_NAMES if (path := shutil.which(name))), None)


def chromium_command(executable: str, profile: Path) -> list[str]:
    """Headless Chromium with a DevTools port chosen by itself (printed on stderr)."""
    return [
        executable,
        "--headless=new",
        "--no-sandbox",  # runs as root in containers
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        # A closed network: no background connections, no component updates, no sync, no QUIC.
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-quic",
        "--remote-debugging-port=0",
        f"--user-data-dir={profile}",
        f"--window-size={WINDOW[0]},{WINDOW[1]}",
        "about:blank",
    ]


def expected_names(client: RestClient) -> dict[str, str]:
    """Entity id -> the name the device page shows (friendly name without the device's name)."""
    names: dict[str, str] = {}
    for entity_id in EXPECTED_ENTITIES:
        response = client.request("GET", f"/api/states/{entity_id}")
        if response.ok and isinstance(response.body, dict):
            friendly = str(response.body.get("attributes", {}).get("friendly_name") or entity_id)
            names[entity_id] = re.sub(r"^Habitus\s+", "", friendly)
    return names


def habitus_device_id(client: RestClient) -> str:
    """Habitus's device id, through HA's template API."""
    device = client.post("/api/template", {"template": f"{{{{ device_id('{EXPECTED_ENTITIES[0]}') }}}}"})
    if not isinstance(device, str) or not device.strip() or device.strip() == "None":
        raise DemoError("Habitus's device was not found")
    return device.strip()


def check_frontend(
    client: RestClient, auth: HassAuth, screenshot: Path | None, repairs: bool = False
) -> BrowserCheck:
    """Run the check (and look at the Repairs page when ``repairs``); never raises (a failure is a
    ``failed`` result with the reason)."""
    executable = find_chromium()
    if executable is None:
        return BrowserCheck("skipped", "skipped: no chromium on PATH (Debian: apt-get install chromium)")
    try:
        names = expected_names(client)
        url = f"{client.base_url}/config/devices/device/{habitus_device_id(client)}"
        tokens = auth.frontend_tokens(client.base_url)
        profiles = tempfile.TemporaryDirectory(prefix="habitus-demo-chromium-", ignore_cleanup_errors=True)
        with profiles as profile:
            result = asyncio.run(_check(executable, Path(profile), url, tokens, names, screenshot, repairs))
    except (DemoError, OSError, aiohttp.ClientError, TimeoutError) as err:
        return BrowserCheck("failed", f"failed: {err}")
    return result


async def _check(  # noqa: PLR0917 - one private call site
    executable: str,
    profile: Path,
    url: str,
    tokens: dict[str, object],
    names: dict[str, str],
    screenshot: Path | None,
    repairs: bool,
) -> BrowserCheck:
    proc = subprocess.Popen(
        chromium_command(executable, profile),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its renderer and helper processes end with it (process group)
    )
    try:
        port = _devtools_port(proc)
        async with aiohttp.ClientSession() as session:
            page = await _page_ws_url(session, port)
            async with session.ws_connect(page, max_msg_size=0) as ws:
                cdp = _Cdp(ws)
                origin = url.split("/config/", 1)[0]
                await cdp.call("Page.enable")
                await cdp.call(
                    "Page.addScriptToEvaluateOnNewDocument",
                    {"source": f"if (location.origin === {json.dumps(origin)}) "
                     f"localStorage.setItem('hassTokens', {json.dumps(json.dumps(tokens))});"},
                )  # fmt: skip
                await cdp.call("Page.navigate", {"url": url})
                found, missing = await _wait_for_names(cdp, names)
                saved = await _screenshot(cdp, screenshot) if screenshot is not None else None
                shown, repairs_saved = (
                    await _repairs_page(cdp, origin, screenshot) if repairs else (None, None)
                )
    finally:
        _stop(proc)
    if missing:
        message = f"failed: {', '.join(missing)} not shown on {url}"
        return BrowserCheck("failed", message, found, missing, saved, shown, repairs_saved)
    where = f"; screenshot {saved}" if saved else ""
    if shown is not None:
        where += f"; {shown} routine suggestions on {REPAIRS_PATH}"
    message = f"ok: {', '.join(found)} shown on {url}{where}"
    return BrowserCheck("ok", message, found, missing, saved, shown, repairs_saved)


async def _repairs_page(cdp: _Cdp, origin: str, screenshot: Path | None) -> tuple[int, Path | None]:
    """Open Settings > System > Repairs: how many routine suggestions it lists, and its screenshot."""
    await cdp.call("Page.navigate", {"url": origin + REPAIRS_PATH})
    await _wait_for_names(cdp, {"repairs": REPAIR_TITLE})
    shown = (await _page_text(cdp)).count(REPAIR_TITLE)
    saved = await _screenshot(cdp, repairs_screenshot_path(screenshot)) if screenshot is not None else None
    return shown, saved


def _stop(proc: subprocess.Popen[str]) -> None:
    """Stop Chromium and every process of its group (SIGTERM, SIGKILL after 10 s)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(10)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def _devtools_port(proc: subprocess.Popen[str]) -> int:
    """Read ``DevTools listening on ws://127.0.0.1:<port>/...`` from Chromium's stderr."""
    assert proc.stderr is not None
    deadline = time.monotonic() + DEVTOOLS_TIMEOUT_S
    seen: list[str] = []
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            if proc.poll() is not None:
                break
            continue
        seen.append(line.strip())
        match = re.search(r"DevTools listening on ws://[^:]+:(\d+)/", line)
        if match:
            return int(match.group(1))
    raise DemoError(f"chromium did not open its DevTools port: {' | '.join(seen[-5:])}")


async def _page_ws_url(session: aiohttp.ClientSession, port: int) -> str:
    async with session.get(f"http://127.0.0.1:{port}/json/list") as response:
        targets: list[dict[str, Any]] = await response.json()
    for target in targets:
        if target.get("type") == "page" and target.get("webSocketDebuggerUrl"):
            return str(target["webSocketDebuggerUrl"])
    raise DemoError("chromium has no page to drive")


class _Cdp:
    """Minimal Chrome DevTools Protocol client: one call at a time, events ignored."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self._ws = ws
        self._next_id = 0

    async def call(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        self._next_id += 1
        ident = self._next_id
        await self._ws.send_json({"id": ident, "method": method, "params": params or {}})
        while True:
            message = await asyncio.wait_for(self._ws.receive_json(), DEVTOOLS_TIMEOUT_S)
            if message.get("id") == ident:
                if "error" in message:
                    raise DemoError(f"{method}: {message['error']}")
                result: dict[str, Any] = message.get("result", {})
                return result


async def _page_text(cdp: _Cdp) -> str:
    result = await cdp.call("Runtime.evaluate", {"expression": _DEEP_TEXT_JS, "returnByValue": True})
    return str(result.get("result", {}).get("value") or "")


async def _wait_for_names(cdp: _Cdp, names: dict[str, str]) -> tuple[list[str], list[str]]:
    """Poll the page's text until every expected name is on it (or ``RENDER_TIMEOUT_S``)."""
    deadline = time.monotonic() + RENDER_TIMEOUT_S
    found: list[str] = []
    while True:
        with contextlib.suppress(DemoError):  # the page may be navigating
            text = await _page_text(cdp)
            found = [name for name in names.values() if name in text]
        if len(found) == len(names) or time.monotonic() > deadline:
            missing = [name for name in names.values() if name not in found]
            return found, missing
        await asyncio.sleep(1.0)


async def _screenshot(cdp: _Cdp, path: Path) -> Path:
    result = await cdp.call("Page.captureScreenshot", {"format": "png"})
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(base64.b64decode(result["data"]))
    return path
