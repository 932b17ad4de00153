"""A small blocking client for Home Assistant's REST API (offline tooling, so blocking is fine).

One persistent HTTP/1.1 connection to ``127.0.0.1``; JSON in and out; a bearer token from a
``TokenSource`` that is refreshed once when HA answers 401.
"""

from __future__ import annotations

import http.client
import json
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol


class DemoError(Exception):
    """A failure the demo reports as one clear line, optionally followed by details (a log tail)."""

    def __init__(self, message: str, details: str = "") -> None:
        super().__init__(message)
        self.details = details


class TokenSource(Protocol):
    """Gives the current access token; ``invalidate`` forces a refresh before the next one."""

    def access_token(self) -> str:
        """A valid access token."""
        ...

    def invalidate(self) -> None:
        """Forget the current access token (HA rejected it)."""
        ...


@dataclass(frozen=True, slots=True)
class ApiResponse:
    """Status and decoded body (JSON when it parses, else the text)."""

    status: int
    body: Any

    @property
    def ok(self) -> bool:
        """2xx."""
        return 200 <= self.status < 300


_RETRYABLE = (
    http.client.RemoteDisconnected,
    http.client.CannotSendRequest,
    ConnectionResetError,
    BrokenPipeError,
)


class RestClient:
    """``request``/``get``/``post`` against ``http://<host>:<port>``."""

    def __init__(self, host: str, port: int, timeout: float = 30.0) -> None:
        self.host = host
        self.port = port
        self.timeout = timeout
        self.auth: TokenSource | None = None
        self._conn: http.client.HTTPConnection | None = None

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:8123``."""
        return f"http://{self.host}:{self.port}"

    def close(self) -> None:
        """Close the connection (a later request reopens it)."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def request(
        self,
        method: str,
        path: str,
        json_body: Any = None,
        form: dict[str, str] | None = None,
        auth: bool = True,
    ) -> ApiResponse:
        """Send one request; reconnects once if the kept-alive connection was dropped.

        Raises ``ConnectionError``/``OSError`` when nothing listens (the caller decides what that
        means, e.g. "HA is not up yet").
        """
        response = self._send(method, path, json_body, form, auth)
        if response.status == 401 and auth and self.auth is not None:
            self.auth.invalidate()
            response = self._send(method, path, json_body, form, auth)
        return response

    def _send(
        self, method: str, path: str, json_body: Any, form: dict[str, str] | None, auth: bool
    ) -> ApiResponse:
        headers = {"Accept": "application/json"}
        body: bytes | None = None
        if form is not None:
            body = urllib.parse.urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        elif json_body is not None:
            body = json.dumps(json_body).encode()
            headers["Content-Type"] = "application/json"
        if auth and self.auth is not None:
            headers["Authorization"] = f"Bearer {self.auth.access_token()}"
        for attempt in (1, 2):
            conn = self._conn or http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            self._conn = conn
            try:
                conn.request(method, path, body=body, headers=headers)
                raw = conn.getresponse()
                text = raw.read().decode("utf-8", errors="replace")
                return ApiResponse(raw.status, _decode(text))
            except _RETRYABLE:
                self.close()
                if attempt == 2:
                    raise
            except OSError:
                self.close()
                raise
        raise AssertionError("unreachable")

    def get(self, path: str, auth: bool = True) -> Any:
        """GET a JSON body; a non-2xx answer raises ``DemoError``."""
        return _expect_ok("GET", path, self.request("GET", path, auth=auth))

    def post(
        self, path: str, json_body: Any = None, form: dict[str, str] | None = None, auth: bool = True
    ) -> Any:
        """POST and return the JSON body; a non-2xx answer raises ``DemoError``."""
        return _expect_ok("POST", path, self.request("POST", path, json_body=json_body, form=form, auth=auth))


def wait_until[T](probe: Callable[[], T | None], what: str, timeout: float, interval: float = 0.5) -> T:
    """Call ``probe()`` until it returns something truthy; ``DemoError`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise DemoError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def _decode(text: str) -> Any:
    try:
        return json.loads(text) if text else None
    except json.JSONDecodeError:
        return text


def _expect_ok(method: str, path: str, response: ApiResponse) -> Any:
    if not response.ok:
        raise DemoError(f"{method} {path} failed with HTTP {response.status}: {response.body}")
    return response.body
