"""Listening to Home Assistant's websocket API: every state change of Habitus's entities, as it happens.

A ``StateWatcher`` runs an aiohttp websocket client in a thread of its own (the rest of the demo is
blocking code), subscribes to ``state_changed`` and keeps the changes of the entities whose ids start
with one of its prefixes, stamped with HA's own ``time_fired``. Counting from these changes (rather
than polling ``/api/states``) sees every anomaly and prediction, not just the last one.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import aiohttp

from .client import DemoError

_RECEIVE_TIMEOUT_S = 0.5
_CONNECT_TIMEOUT_S = 30.0


@dataclass(frozen=True, slots=True)
class StateChange:
    """One ``state_changed`` event of a watched entity."""

    time: float  # epoch seconds (HA's time_fired)
    entity_id: str
    old: str | None
    new: str | None
    attributes: dict[str, Any]


def parse_change(event: dict[str, Any]) -> StateChange | None:
    """The ``StateChange`` of a websocket ``state_changed`` event (``None``: not one)."""
    data = event.get("data") or {}
    entity_id = data.get("entity_id")
    if not isinstance(entity_id, str):
        return None
    old, new = data.get("old_state") or {}, data.get("new_state") or {}
    fired = event.get("time_fired")
    when = datetime.fromisoformat(fired).timestamp() if isinstance(fired, str) else 0.0
    return StateChange(when, entity_id, old.get("state"), new.get("state"), dict(new.get("attributes") or {}))


class StateWatcher:
    """Collects the state changes of entities whose ids start with ``prefixes``."""

    def __init__(self, ws_url: str, access_token: str, prefixes: tuple[str, ...]) -> None:
        self.ws_url = ws_url
        self._token = access_token
        self.prefixes = prefixes
        self._changes: list[StateChange] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._error: str | None = None
        self._thread = threading.Thread(target=self._run, name="habitus-demo-watch", daemon=True)

    def start(self) -> None:
        """Connect and subscribe; ``DemoError`` if that fails within 30 s."""
        self._thread.start()
        if not self._ready.wait(_CONNECT_TIMEOUT_S) or self._error:
            self.stop()
            reason = self._error or "timeout"
            raise DemoError(f"could not subscribe to Home Assistant's websocket API: {reason}")

    def stop(self) -> None:
        """Disconnect (idempotent); the changes collected stay readable."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5.0)

    def changes(self, prefix: str = "") -> list[StateChange]:
        """A copy of the changes so far (of entities whose id starts with ``prefix``)."""
        with self._lock:
            return [c for c in self._changes if c.entity_id.startswith(prefix)]

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except Exception as err:  # reported through start(), never raised in this thread
            self._error = f"{type(err).__name__}: {err}"
            self._ready.set()

    async def _main(self) -> None:
        timeout = aiohttp.ClientTimeout(total=None, connect=_CONNECT_TIMEOUT_S)
        async with aiohttp.ClientSession(timeout=timeout) as session, session.ws_connect(self.ws_url) as ws:
            await self._authenticate(ws)
            await ws.send_json({"id": 1, "type": "subscribe_events", "event_type": "state_changed"})
            while not self._stop.is_set():
                with contextlib.suppress(TimeoutError):
                    message = await ws.receive(timeout=_RECEIVE_TIMEOUT_S)
                    if message.type != aiohttp.WSMsgType.TEXT:
                        if message.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR):
                            return
                        continue
                    self._handle(json.loads(message.data))

    async def _authenticate(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        await ws.receive_json()  # auth_required
        await ws.send_json({"type": "auth", "access_token": self._token})
        answer = await ws.receive_json()
        if answer.get("type") != "auth_ok":
            raise DemoError(f"websocket authentication failed: {answer}")

    def _handle(self, message: dict[str, Any] | list[dict[str, Any]]) -> None:
        for item in message if isinstance(message, list) else [message]:
            if item.get("type") == "result" and item.get("id") == 1:
                if not item.get("success"):
                    self._error = f"subscribe_events failed: {item.get('error')}"
                self._ready.set()
            elif item.get("type") == "event":
                change = parse_change(item.get("event") or {})
                if change is not None and change.entity_id.startswith(self.prefixes):
                    with self._lock:
                        self._changes.append(change)
