"""What a demo run is asked to do (``DemoOptions``) and the dataset side of it (``DemoPlan``), checked
before HA starts; the speed limits and the Habitus settings scaled to the accelerated clock."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from habitus_engine.datasets import DatasetError, RawSequence, Vocabulary, iter_sequences, load_vocabulary

from .client import DemoError
from .config_dir import FRONTEND_REQUIREMENT, frontend_available
from .home import VirtualDevice
from .mapping import ActionMapper
from .observe import AdaptationSettings
from .paths import DEFAULT_DATASET_DIR, default_sequence_file
from .routines_past import household_devices

MIN_MAX_GAP_HOURS = 0.0005  # the smallest Δt_max Habitus's options flow accepts
PAPER_MAX_GAP_HOURS = 9.0  # SmartGen's Δt_max
PAPER_MAX_SPAN_HOURS = 24.0  # SmartGen's T_max
MAX_SPEED = PAPER_MAX_GAP_HOURS / MIN_MAX_GAP_HOURS  # 18000
# One dataset hour = 0.25 s: a dataset sequence (median span 15 h) plays in a few seconds, so even a
# 25 s run closes several TSS sequences, and Δt_max = 2.25 s stays well above HTTP jitter.
DEFAULT_SPEED = 14400.0
DEFAULT_HISTORY_DAYS = 365.0  # dataset days of the home's past, played at once (past.py): >= 100 TSS
# sequences, so the base threshold is calibrated on the home before the live replay starts
DEFAULT_INJECT_EVERY_S = 15.0


@dataclass(frozen=True, slots=True)
class DemoOptions:
    """What ``habitus demo`` was asked to do."""

    dataset_dir: Path = DEFAULT_DATASET_DIR
    sequences_file: Path | None = None  # default: the dataset's raw/trn.jsonl
    speed: float = DEFAULT_SPEED
    duration_s: float | None = None  # None: until Ctrl-C
    summary_path: Path | None = None
    port: int | None = None  # None: a free port
    keep_config: Path | None = None  # None: a temporary config dir, deleted at exit
    start_timeout_s: float = 300.0
    username: str = "demo"
    history_days: float = DEFAULT_HISTORY_DAYS  # 0: no past, Habitus learns from the live replay only
    inject_every_s: float = DEFAULT_INJECT_EVERY_S  # 0: no injected anomalies
    adapt: bool = True
    adaptation: AdaptationSettings = field(default_factory=AdaptationSettings)
    browser: bool = True  # headless Chromium check of the UI at the end of a --for run
    screenshot_path: Path | None = None
    routines: bool = True  # the routine household's past and Habitus's routine suggestions


@dataclass(frozen=True, slots=True)
class DemoPlan:
    """The dataset side of a run, checked before HA starts."""

    vocab: Vocabulary
    sequences_file: Path
    mapper: ActionMapper
    household: list[VirtualDevice] = field(default_factory=list)  # the routine household's devices

    @property
    def devices(self) -> list[VirtualDevice]:
        """The virtual home's devices."""
        return [*self.mapper.home.values(), *self.household]

    def sequences(self) -> Iterator[RawSequence]:
        """The replayed file's sequences, streamed."""
        return (labelled.seq for labelled in iter_sequences(self.sequences_file))


def plan_demo(options: DemoOptions) -> DemoPlan:
    """Check the options and load the dataset; ``DemoError`` says what is wrong."""
    _check_numbers(options)
    try:
        vocab = load_vocabulary(options.dataset_dir)
    except DatasetError as err:
        raise DemoError(f"--dataset {options.dataset_dir}: {err}") from err
    sequences_file = options.sequences_file or default_sequence_file(options.dataset_dir)
    if sequences_file is None or not sequences_file.is_file():
        raise DemoError(f"no sequence file to replay in {options.dataset_dir} (give one with --sequences)")
    if not frontend_available():
        raise DemoError(
            f"Home Assistant cannot start without its web UI package: install it with "
            f"'{sys.executable} -m pip install {FRONTEND_REQUIREMENT}'"
        )
    mapper = ActionMapper(vocab)
    if not mapper.home:
        raise DemoError(f"no device of {vocab.name} maps onto a Home Assistant entity")
    return DemoPlan(vocab, sequences_file, mapper, household_devices() if options.routines else [])


def _check_numbers(options: DemoOptions) -> None:
    """``DemoError`` for a speed, duration, history or injection interval out of range."""
    if not 0 < options.speed <= MAX_SPEED:
        raise DemoError(
            f"--speed must be in (0, {MAX_SPEED:.0f}]: "
            f"Habitus needs Δt_max = 9 h / speed >= {MIN_MAX_GAP_HOURS} h"
        )
    if options.duration_s is not None and options.duration_s <= 0:
        raise DemoError("--for must be a positive number of seconds")
    if options.history_days < 0 or options.inject_every_s < 0:
        raise DemoError("--history-days and --inject-every cannot be negative")


def habitus_values(devices: list[VirtualDevice], speed: float) -> dict[str, Any]:
    """Everything Habitus's config and options flows may ask for: the virtual home's domains and TSS
    thresholds scaled to the accelerated clock (``Δt_max = 9 h / speed``, ``T_max = 24 h / speed``)."""
    return {
        "include_domains": sorted({d.domain for d in devices}),
        "include_areas": [],
        "include_entities": [],
        "exclude_entities": [],
        "max_gap_hours": PAPER_MAX_GAP_HOURS / speed,
        "max_span_hours": PAPER_MAX_SPAN_HOURS / speed,
    }
