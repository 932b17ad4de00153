"""The ``hass`` server process: start it, wait for its HTTP API, stop it (and its children) for sure.

HA runs in its own session (process group), so a Ctrl-C in the terminal reaches only the demo, which
then stops HA with SIGTERM (HA's clean shutdown) and, if it does not exit in time, SIGKILLs the group.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from .client import DemoError, RestClient

CONSOLE_LOG = "hass-console.log"


def hass_command(config_dir: Path) -> list[str]:
    """``hass -c DIR --skip-pip`` from this Python's bin dir (or ``python -m homeassistant``)."""
    exe = Path(sys.executable).with_name("hass")
    head = [str(exe)] if exe.is_file() else [sys.executable, "-m", "homeassistant"]
    return [*head, "-c", str(config_dir), "--skip-pip", "--log-no-color"]


def free_port(host: str) -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def ensure_port_free(host: str, port: int) -> None:
    """``DemoError`` if ``host:port`` cannot be bound (another server uses it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError as err:
            reason = "already in use" if err.errno == errno.EADDRINUSE else err.strerror
            raise DemoError(
                f"port {port} on {host} is not available ({reason}); choose another with --port"
            ) from err


class HassProcess:
    """One ``hass`` server writing its console output to ``<config_dir>/hass-console.log``."""

    def __init__(self, config_dir: Path) -> None:
        self.config_dir = config_dir
        self.console_log = config_dir / CONSOLE_LOG
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        """The server's pid once started."""
        return self._proc.pid if self._proc else None

    def start(self) -> None:
        """Launch ``hass`` in a new session."""
        with self.console_log.open("wb") as log:
            self._proc = subprocess.Popen(
                hass_command(self.config_dir),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def exit_code(self) -> int | None:
        """``None`` while running."""
        return self._proc.poll() if self._proc else None

    def log_tail(self, lines: int = 40) -> str:
        """The last lines HA printed (for error messages)."""
        try:
            text = self.console_log.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return "(no Home Assistant log)"
        return "\n".join(text.splitlines()[-lines:])

    def wait_for_http(self, client: RestClient, timeout: float) -> None:
        """Block until HA's HTTP server answers (any status); ``DemoError`` with its log if HA dies."""
        deadline = time.monotonic() + timeout
        while True:
            code = self.exit_code()
            if code is not None:
                raise DemoError(f"Home Assistant exited with code {code} while starting", self.log_tail())
            with contextlib.suppress(OSError):
                # Any answer will do (400 before onboarding). Not an authenticated URL: HA would log and
                # notify a failed login for each probe.
                client.request("GET", "/auth/providers", auth=False)
                return
            if time.monotonic() > deadline:
                raise DemoError(
                    f"Home Assistant did not answer on {client.base_url} within {timeout:.0f} s",
                    self.log_tail(),
                )
            time.sleep(0.5)

    def stop(self, timeout: float = 45.0) -> int | None:
        """SIGTERM (clean shutdown), SIGKILL after ``timeout``; always reaps the whole process group."""
        proc = self._proc
        if proc is None:
            return None
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not orphan HA
        try:
            if proc.poll() is None:
                self._signal_group(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    self._signal_group(proc.pid, signal.SIGKILL)
                    proc.wait()
            self._signal_group(proc.pid, signal.SIGKILL)  # children HA left behind, if any
            return proc.returncode
        finally:
            signal.signal(signal.SIGINT, previous)

    @staticmethod
    def _signal_group(pgid: int, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, sig)
