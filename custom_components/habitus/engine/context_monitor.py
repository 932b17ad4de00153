"""Context monitor: notices SmartGen's three context shifts in a home's own signals.

SmartGen adapts to a *context shift* (§3): seasonal (ST, winter -> spring), time schedule (TT, daytime
-> night activity) and number of occupants (NT, single -> multiple). On the hub they are read from what
Home Assistant already knows:

* **ST** - the meteorological season of the local date, flipped in the southern hemisphere
  (``latitude < 0``). When a weather entity gives outdoor temperatures, they must confirm it: a new
  season is reported once the recent window's mean temperature has moved from the baseline window's
  by ``season_confirm_celsius`` in the season's direction (warmer into spring or summer, colder into
  autumn or winter), or, if the weather never agrees, ``season_grace_days`` into the season.
* **TT** - where in the day the household's *user* behaviours happen: the share of them in the night
  hours (18-06 h, SmartGen's night buckets) over the recent window against the baseline window, plus
  the Jensen-Shannon divergence of the two 24-hour histograms.
* **NT** - how many people are at home (``person``/``device_tracker`` entities): the median head count
  while anyone is home, recent window against baseline, as SmartGen's single (1) / multiple (>= 2).

The monitor keeps one small aggregate per local day (24 activity counts, occupancy samples), bounded to
``history_days``, and serialises to plain JSON for the store. ``detect`` compares the last
``recent_days`` with the ``baseline_days`` before them; a detection is reported once, until
``acknowledge`` makes the new context the baseline (after an adaptation, or when the user says so).
A detection carries ``since``, the first day of the recent window that showed the new context: the
adaptation job judges its challenger on the home's sequences from that day on.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from .shifts import ContextShift, occupancy_shift, schedule_shift, seasonal_shift

type ShiftName = Literal["seasonal", "schedule", "occupancy"]
type Schedule = Literal["daytime", "night", "mixed"]

SEASONS = ("winter", "spring", "summer", "autumn")
NIGHT_HOURS = frozenset((18, 19, 20, 21, 22, 23, 0, 1, 2, 3, 4, 5))  # SmartGen night buckets {0,1,6,7}
_NORTHERN_SEASON_BY_MONTH = {
    12: "winter", 1: "winter", 2: "winter", 3: "spring", 4: "spring", 5: "spring",
    6: "summer", 7: "summer", 8: "summer", 9: "autumn", 10: "autumn", 11: "autumn",
}  # fmt: skip
_OPPOSITE_SEASON = {"winter": "summer", "summer": "winter", "spring": "autumn", "autumn": "spring"}
_WARMTH = {"winter": 0, "spring": 1, "autumn": 1, "summer": 2}  # which way temperatures move between two
MAX_SAMPLES_PER_DAY = 288  # occupancy and temperature samples kept per day (every 5 min)


@dataclass(frozen=True, slots=True)
class MonitorConfig:
    """Windows and thresholds of the context monitor."""

    recent_days: int = 7  # the window that may show a new context
    baseline_days: int = 28  # the window it is compared with
    history_days: int = 60  # days of aggregates kept (bounded memory)
    min_behaviours: int = 30  # user behaviours needed in each window before TT is judged
    night_share_day: float = 0.35  # night share at or below this: a daytime household
    night_share_night: float = 0.6  # at or above this: a night household
    min_schedule_jsd: float = 0.1  # hour-histogram divergence a schedule shift must also show
    min_occupancy_samples: int = 12  # samples with someone home needed per window before NT is judged
    min_temperature_days: int = 3  # days with outdoor temperatures needed per window to judge ST by them
    season_confirm_celsius: float = 2.0  # how far the mean must move in the new season's direction
    season_grace_days: int = 21  # after this many days into the season the date alone decides

    def __post_init__(self) -> None:
        if self.recent_days < 1 or self.baseline_days < 1:
            raise ValueError("monitor windows must be at least one day")
        if self.history_days < self.recent_days + self.baseline_days:
            raise ValueError("history_days must cover the recent and baseline windows")
        if not 0 <= self.night_share_day < self.night_share_night <= 1:
            raise ValueError("night share thresholds must satisfy 0 <= day < night <= 1")


@dataclass(frozen=True, slots=True)
class ShiftDetection:
    """One detected context shift, with the evidence a user can read."""

    name: ShiftName
    before: str  # e.g. "winter", "daytime", "single"
    after: str  # e.g. "spring", "night", "multiple"
    evidence: str
    since: date | None = None  # first local day of the recent window that showed it (None: unknown)

    def as_context_shift(self, people_before: int = 1, people_after: int = 3) -> ContextShift:
        """The prompt's description of this shift (engine/shifts.py: ST, TT or NT)."""
        if self.name == "seasonal":
            return seasonal_shift(self.before, self.after)
        if self.name == "schedule":
            return schedule_shift(to_night=self.after == "night")
        return occupancy_shift(people_before, people_after)


@dataclass(slots=True)
class _Day:
    activity: NDArray[np.int64] = field(default_factory=lambda: np.zeros(24, dtype=np.int64))  # [24]
    occupancy: list[int] = field(default_factory=list)  # head counts sampled while anyone was home
    temperatures: list[float] = field(default_factory=list)  # outdoor °C samples


def season_of(day: date, latitude: float | None = None) -> str:
    """Meteorological season of ``day``; southern hemisphere (``latitude < 0``) flipped."""
    season = _NORTHERN_SEASON_BY_MONTH[day.month]
    return _OPPOSITE_SEASON[season] if latitude is not None and latitude < 0 else season


def season_start(day: date) -> date:
    """First day of the meteorological season ``day`` is in (Dec/Mar/Jun/Sep 1; either hemisphere)."""
    month = day.month - day.month % 3
    return date(day.year - 1, 12, 1) if month == 0 else date(day.year, month, 1)


def night_share(hist: NDArray[np.int64]) -> float:
    """Share of behaviours in SmartGen's night hours. ``hist``: [24] counts per local hour."""
    total = int(hist.sum())
    return float(sum(int(hist[h]) for h in NIGHT_HOURS)) / total if total else 0.0


def schedule_of(hist: NDArray[np.int64], config: MonitorConfig) -> Schedule:
    """SmartGen's daytime / night context (or mixed) from a [24] activity histogram."""
    share = night_share(hist)
    if share <= config.night_share_day:
        return "daytime"
    if share >= config.night_share_night:
        return "night"
    return "mixed"


def jensen_shannon(p_counts: NDArray[np.int64], q_counts: NDArray[np.int64]) -> float:
    """JSD (base 2, in [0, 1]) between two count histograms of the same shape [K]."""
    p = p_counts / max(int(p_counts.sum()), 1)
    q = q_counts / max(int(q_counts.sum()), 1)
    m = (p + q) / 2

    def kl(a: NDArray[np.float64], b: NDArray[np.float64]) -> float:
        mask = a > 0
        return float(np.sum(a[mask] * np.log2(a[mask] / b[mask])))

    return 0.5 * kl(p, m) + 0.5 * kl(q, m)


def occupancy_class(head_count: float) -> str:
    """SmartGen's occupancy contexts: single (one person) or multiple (two or more)."""
    return "multiple" if head_count >= 2 else "single"


class ContextMonitor:
    """Daily aggregates of activity and occupancy, and the shifts they show (see module docstring)."""

    def __init__(self, config: MonitorConfig | None = None) -> None:
        self.config = config or MonitorConfig()
        self._days: dict[date, _Day] = {}
        self._baseline: dict[ShiftName, str] = {}

    def observe_behaviour(self, local_time: datetime) -> None:
        """Count one user behaviour at this local time."""
        self._day(local_time.date()).activity[local_time.hour] += 1

    def observe_occupancy(self, local_time: datetime, people_home: int) -> None:
        """Record how many people are home now (samples with nobody home are not kept)."""
        if people_home > 0:
            self._day(local_time.date()).occupancy.append(int(people_home))

    def observe_temperature(self, local_time: datetime, celsius: float) -> None:
        """Record an outdoor temperature (°C) from the weather entity; non-finite values are ignored."""
        if np.isfinite(celsius):
            samples = self._day(local_time.date()).temperatures
            if len(samples) < MAX_SAMPLES_PER_DAY:
                samples.append(round(float(celsius), 1))

    def acknowledge(self, name: ShiftName, context: str) -> None:
        """Make ``context`` the baseline for ``name`` (after adapting to it, or a manual shift)."""
        self._baseline[name] = context

    @property
    def baseline(self) -> Mapping[ShiftName, str]:
        """The contexts the models are adapted to, per shift kind."""
        return dict(self._baseline)

    def current(self, today: date, latitude: float | None = None) -> dict[str, str]:
        """The current context: season, schedule and occupancy of the recent window (or unknown)."""
        recent = self._window(today, 0, self.config.recent_days)
        hist = _activity(recent)
        counts = [c for d in recent for c in d.occupancy]
        return {
            "season": season_of(today, latitude),
            "schedule": schedule_of(hist, self.config)
            if hist.sum() >= self.config.min_behaviours
            else "unknown",
            "occupancy": occupancy_class(float(np.median(counts)))
            if len(counts) >= self.config.min_occupancy_samples
            else "unknown",
        }

    def detect(self, today: date, latitude: float | None = None) -> list[ShiftDetection]:
        """Shifts between the baseline window and the recent window, each reported until acknowledged.

        The first time a context can be judged it becomes the baseline without a detection.
        """
        self._forget_before(today - timedelta(days=self.config.history_days))
        found = [
            self._seasonal(today, latitude),
            self._schedule(today),
            self._occupancy(today),
        ]
        since = today - timedelta(days=self.config.recent_days - 1)  # the recent window's first day
        return [replace(d, since=since) for d in found if d is not None]

    def _seasonal(self, today: date, latitude: float | None) -> ShiftDetection | None:
        season = season_of(today, latitude)
        evidence = f"the local date {today.isoformat()} is in {season}"
        before = self._baseline.get("seasonal")
        direction = 0 if before is None else _WARMTH[season] - _WARMTH.get(before, _WARMTH[season])
        means = self._temperature_means(today) if direction else None
        if means is not None:
            recent, base = means
            evidence += (
                f"; outdoor temperature {recent:.1f} °C over the last {self.config.recent_days} days "
                f"against {base:.1f} °C before"
            )
            moved = (recent - base) if direction > 0 else (base - recent)
            into_season = (today - season_start(today)).days
            if moved < self.config.season_confirm_celsius and into_season < self.config.season_grace_days:
                return None  # the calendar says so, the weather not yet
        return self._compare("seasonal", season, evidence)

    def _temperature_means(self, today: date) -> tuple[float, float] | None:
        """Mean outdoor °C of the recent and the baseline window, if both have enough days of it."""
        windows = (
            self._window(today, 0, self.config.recent_days),
            self._window(today, self.config.recent_days, self.config.baseline_days),
        )
        days = [[d.temperatures for d in window if d.temperatures] for window in windows]
        if min(len(d) for d in days) < self.config.min_temperature_days:
            return None
        recent, base = (float(np.mean([t for day in d for t in day])) for d in days)
        return recent, base

    def _schedule(self, today: date) -> ShiftDetection | None:
        recent = _activity(self._window(today, 0, self.config.recent_days))
        base = _activity(self._window(today, self.config.recent_days, self.config.baseline_days))
        if min(recent.sum(), base.sum()) < self.config.min_behaviours:
            return None
        now = schedule_of(recent, self.config)
        if now == "mixed":
            return None
        divergence = jensen_shannon(recent, base)
        evidence = (
            f"{night_share(recent):.0%} of user actions in the last {self.config.recent_days} days were "
            f"at night (18-06 h), against {night_share(base):.0%} before (JSD {divergence:.2f})"
        )
        before = schedule_of(base, self.config)
        if before != "mixed":
            self._baseline.setdefault("schedule", before)
        if divergence < self.config.min_schedule_jsd:
            return None  # the label flipped but the hours barely moved: not enough evidence
        return self._compare("schedule", now, evidence)

    def _occupancy(self, today: date) -> ShiftDetection | None:
        recent = [c for d in self._window(today, 0, self.config.recent_days) for c in d.occupancy]
        if len(recent) < self.config.min_occupancy_samples:
            return None
        median = float(np.median(recent))
        evidence = (
            f"median {median:g} people at home while occupied over the last {self.config.recent_days} days"
        )
        return self._compare("occupancy", occupancy_class(median), evidence)

    def _compare(self, name: ShiftName, now: str, evidence: str) -> ShiftDetection | None:
        before = self._baseline.setdefault(name, now)
        return None if before == now else ShiftDetection(name, before, now, evidence)

    def _day(self, day: date) -> _Day:
        return self._days.setdefault(day, _Day())

    def _window(self, today: date, skip_days: int, days: int) -> list[_Day]:
        """Aggregates of ``days`` days ending ``skip_days`` days before ``today`` (inclusive of today)."""
        last = today - timedelta(days=skip_days)
        first = last - timedelta(days=days - 1)
        return [agg for day, agg in self._days.items() if first <= day <= last]

    def _forget_before(self, cutoff: date) -> None:
        for day in [d for d in self._days if d < cutoff]:
            del self._days[day]

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON state for the store."""
        return {
            "baseline": dict(self._baseline),
            "days": {
                d.isoformat(): {
                    "activity": agg.activity.tolist(),
                    "occupancy": agg.occupancy[-MAX_SAMPLES_PER_DAY:],
                    "temperatures": agg.temperatures[-MAX_SAMPLES_PER_DAY:],
                }
                for d, agg in sorted(self._days.items())
            },
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], config: MonitorConfig | None = None) -> ContextMonitor:
        """Restore from ``to_dict`` output; malformed days are skipped, never raised."""
        monitor = cls(config)
        for name, value in dict(data.get("baseline", {})).items():
            if name in ("seasonal", "schedule", "occupancy") and isinstance(value, str):
                monitor._baseline[name] = value
        for key, raw in dict(data.get("days", {})).items():
            try:
                activity = np.asarray(raw["activity"], dtype=np.int64)
                if activity.shape != (24,):
                    continue
                temperatures = [float(t) for t in raw.get("temperatures", [])]
                monitor._days[date.fromisoformat(key)] = _Day(
                    activity, [int(c) for c in raw["occupancy"]], [t for t in temperatures if np.isfinite(t)]
                )
            except (AttributeError, KeyError, TypeError, ValueError):
                continue
        return monitor


def _activity(days: list[_Day]) -> NDArray[np.int64]:
    """Summed [24] activity histogram of several days."""
    total = np.zeros(24, dtype=np.int64)
    for day in days:
        total += day.activity
    return total
