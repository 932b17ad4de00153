"""The demo's output: progress lines printed at once, and a failure with HA's log tail."""

from __future__ import annotations

import sys


def say(text: str) -> None:
    """Print a progress line at once (the demo is often piped or watched live)."""
    print(text, flush=True)


def fail(message: str, log_tail: str | None = None) -> None:
    """An error line on stderr, then the tail of HA's log when one is given."""
    print(f"error: {message}", file=sys.stderr)
    if log_tail is not None:
        print(f"--- Home Assistant log (last lines) ---\n{log_tail}", file=sys.stderr)
