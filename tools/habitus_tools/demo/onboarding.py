"""Non-interactive onboarding and login through Home Assistant's own REST endpoints.

A fresh config dir is onboarded exactly as the frontend would do it: ``POST /api/onboarding/users``
creates the owner (an admin user and its person) and returns an auth code, exchanged at
``/auth/token``; then the ``core_config``, ``analytics`` and ``integration`` steps are finished. A kept
config dir (``--keep-config``) is already onboarded: the demo logs in through ``/auth/login_flow``
with the credentials it saved there. Access tokens live 30 minutes and are refreshed on demand.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from .client import DemoError, RestClient

CREDENTIALS_FILE = "habitus-demo-login.json"
# Integrations HA's core_config onboarding step adds by itself. Offline and with --skip-pip, some fail
# to set up (gTTS, Met.no...); the demo removes those failed entries so the UI shows no broken cards.
ONBOARDING_EXTRA_DOMAINS = ("google_translate", "met", "radio_browser")
_FAILED_STATES = ("setup_error", "setup_retry", "not_loaded", "failed_unload")
_REFRESH_MARGIN_S = 60.0


@dataclass(frozen=True, slots=True)
class Login:
    """The demo user's credentials."""

    username: str
    password: str


def load_or_create_login(config_dir: Path, username: str) -> Login:
    """The login saved in a kept config dir, or a new one with a random password (saved, 0600)."""
    path = config_dir / CREDENTIALS_FILE
    if path.is_file():
        saved = json.loads(path.read_text(encoding="utf-8"))
        return Login(str(saved["username"]), str(saved["password"]))
    login = Login(username, secrets.token_urlsafe(9))
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump({"username": login.username, "password": login.password}, handle)
    return login


class HassAuth:
    """Access and refresh tokens of one login; a ``TokenSource`` for ``RestClient``."""

    def __init__(self, client: RestClient, client_id: str) -> None:
        self._client = client
        self.client_id = client_id
        self._access = ""
        self._refresh = ""
        self._expires_at = 0.0

    def exchange_code(self, code: str) -> None:
        """Trade an authorization code for tokens (``grant_type=authorization_code``)."""
        form = {"grant_type": "authorization_code", "code": code, "client_id": self.client_id}
        self._store(self._client.post("/auth/token", form=form, auth=False))

    def access_token(self) -> str:
        """The access token, refreshed first if it expires within a minute."""
        if not self._refresh:
            raise DemoError("not logged in to Home Assistant")
        if time.monotonic() > self._expires_at - _REFRESH_MARGIN_S:
            form = {
                "grant_type": "refresh_token",
                "refresh_token": self._refresh,
                "client_id": self.client_id,
            }
            self._store(self._client.post("/auth/token", form=form, auth=False))
        return self._access

    def frontend_tokens(self, hass_url: str) -> dict[str, object]:
        """The tokens as HA's frontend keeps them in ``localStorage["hassTokens"]`` (for a browser)."""
        access = self.access_token()
        remaining_ms = max(0.0, self._expires_at - time.monotonic()) * 1000.0
        return {
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": int(remaining_ms / 1000.0),
            "refresh_token": self._refresh,
            "hassUrl": hass_url,
            "clientId": self.client_id,
            "expires": int(time.time() * 1000.0 + remaining_ms),
        }

    def invalidate(self) -> None:
        """HA rejected the token: refresh before the next request."""
        self._expires_at = 0.0

    def _store(self, body: dict[str, object]) -> None:
        self._access = str(body["access_token"])
        self._refresh = str(body.get("refresh_token") or self._refresh)
        self._expires_at = time.monotonic() + float(str(body.get("expires_in", 1800)))


def onboard_or_login(client: RestClient, login: Login) -> HassAuth:
    """Onboard a fresh HA with ``login`` as its owner, or log in to an onboarded one.

    Sets ``client.auth``; returns the token source.
    """
    client_id = f"{client.base_url}/"
    auth = HassAuth(client, client_id)
    done = _done_steps(client)
    if "user" not in done:
        body = {
            "name": login.username.capitalize(),
            "username": login.username,
            "password": login.password,
            "client_id": client_id,
            "language": "en",
        }
        auth.exchange_code(str(client.post("/api/onboarding/users", body, auth=False)["auth_code"]))
    else:
        auth.exchange_code(_login_flow(client, login, client_id))
    client.auth = auth
    if "core_config" not in done:
        client.post("/api/onboarding/core_config", {})
    if "analytics" not in done:
        client.post("/api/onboarding/analytics", {})
    if "integration" not in done:
        client.post("/api/onboarding/integration", {"client_id": client_id, "redirect_uri": client_id})
    return auth


def remove_failed_onboarding_extras(client: RestClient) -> list[str]:
    """Delete config entries the onboarding step created that could not set up; returns their domains."""
    removed: list[str] = []
    for entry in client.get("/api/config/config_entries/entry"):
        if entry.get("domain") in ONBOARDING_EXTRA_DOMAINS and entry.get("state") in _FAILED_STATES:
            client.request("DELETE", f"/api/config/config_entries/entry/{entry['entry_id']}")
            removed.append(str(entry["domain"]))
    return removed


def _done_steps(client: RestClient) -> set[str]:
    """Onboarding steps already done; HA drops the onboarding views once all are (404)."""
    response = client.request("GET", "/api/onboarding", auth=False)
    if response.status == 404:
        return {"user", "core_config", "analytics", "integration"}
    if not response.ok:
        raise DemoError(f"GET /api/onboarding failed with HTTP {response.status}: {response.body}")
    return {step["step"] for step in response.body if step.get("done")}


def _login_flow(client: RestClient, login: Login, client_id: str) -> str:
    """The frontend's login form, as JSON: returns an authorization code."""
    flow = client.post(
        "/auth/login_flow",
        {"client_id": client_id, "handler": ["homeassistant", None], "redirect_uri": client_id},
        auth=False,
    )
    result = client.post(
        f"/auth/login_flow/{flow['flow_id']}",
        {"client_id": client_id, "username": login.username, "password": login.password},
        auth=False,
    )
    if result.get("type") != "create_entry":
        raise DemoError(
            f"could not log in as {login.username!r} ({result.get('errors') or result.get('reason')}); "
            f"was {CREDENTIALS_FILE} in the kept config dir edited?"
        )
    return str(result["result"])
