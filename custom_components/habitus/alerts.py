"""Anomaly alerts a user can live with: one persistent notification per anomaly, cool-down, snooze, dismiss.

The notification says what happened (the open TSS sequence's behaviours, local times, in the
next-action sensor's words: "Main water valve: open"), why it looks
unusual (TransAE's reconstruction score against its threshold, and the behaviour whose removal lowers the
score most) and what to do ("that was me": the ``habitus.feedback`` action). While that sequence goes
on, the same notification (same id) is rewritten after each scoring job with its behaviours so far (the
last ``MAX_LISTED_BEHAVIOURS``, and how many came earlier), its score and its most surprising behaviour:
the first anomalous reading is often the sequence's first behaviour alone, and the behaviours that make
it unusual come after. A notification the user closed is not brought back. After a notification,
further anomalies within ``ALERT_COOLDOWN_SECONDS`` only fire the event entity; while snoozed (until a
stored time) no notification is created either.

Which notification is shown, when the last one was created and which anomaly it was are kept in
``hass.data`` per entry (``AlertMemory``), not on the entry's runtime objects: a reload (saving the
options reloads the entry) would otherwise forget the notification on screen (``habitus.dismiss_alert``
could no longer remove it, "that was me" answered that there was no anomaly), restart the cool-down and
alert again on the open sequence read again (a second notification stacked on the first). Persistent
notifications end with Home Assistant, and so does this record.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from math import isnan

from homeassistant.components import persistent_notification
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.util import dt as dt_util
from homeassistant.util.hass_dict import HassKey

from .action_names import action_label, entity_name
from .const import DOMAIN
from .live_const import ALERT_COOLDOWN_SECONDS
from .live_models import LiveScore
from .live_store import LiveStore

MAX_LISTED_BEHAVIOURS = 10


MAX_REMEMBERED_ANOMALIES = 100


def _keys() -> deque[float]:
    return deque(maxlen=MAX_REMEMBERED_ANOMALIES)


@dataclass(slots=True)
class AlertMemory:
    """What one entry's alerts remember across reloads: the notification on screen, the start of its
    cool-down, the latest anomaly ("that was me" applies to it), the sequences already alerted on (a
    sequence read again after a reload is no new anomaly) and those marked normal."""

    notification_id: str | None = None
    notified_key: float | None = None  # the sequence the notification shown is about
    last_notified: float | None = None  # epoch seconds
    last_anomaly: LiveScore | None = None
    alerted: deque[float] = field(default_factory=_keys)  # sequence keys
    normal_keys: deque[float] = field(default_factory=_keys)  # marked "that was me"


_MEMORY: HassKey[dict[str, AlertMemory]] = HassKey("habitus_alert_memory")


def _local(time_hours: float) -> str:
    """Weekday and local time of an epoch-hours time ("Wed 03:12")."""
    return dt_util.as_local(dt_util.utc_from_timestamp(time_hours * 3600.0)).strftime("%a %H:%M")


def device_names(hass: HomeAssistant, result: LiveScore) -> dict[str, str]:
    """The names the user knows the behaviours' entities by (``entity_name``; those without are left out)."""
    names: dict[str, str] = {}
    for _t, device, _action in result.behaviours:
        if (name := entity_name(hass, device)) is not None:
            names[device] = name
    return names


def most_surprising_words(result: LiveScore, names: Mapping[str, str]) -> str | None:
    """The most surprising behaviour in the behaviours' words ("Main valve: open"), not in
    ``live_models``' form ("WaterValve:valve open (valve.main)"); None: none."""
    for _t, device, action in result.behaviours:
        if result.most_surprising == f"{action} ({device})":
            return action_label(action, names.get(device, device))
    return result.most_surprising


def notification_message(result: LiveScore, names: Mapping[str, str] | None = None) -> str:
    """The notification's Markdown: the behaviours, the score against the threshold, the worst one.

    ``names``: entity id -> the name shown (an entity without one is shown by its id).
    """
    names = names or {}
    listed = result.behaviours[-MAX_LISTED_BEHAVIOURS:]
    earlier = result.earlier + len(result.behaviours) - len(listed)
    lines = [f"- {_earlier(earlier)}"] if earlier else []
    lines += [
        f"- {_local(t)}: {action_label(action, names.get(device, device))}" for t, device, action in listed
    ]
    most_surprising = most_surprising_words(result, names)
    score = result.score if result.score is not None else float("nan")
    if result.anomalous or isnan(score):
        why = (
            f"Its anomaly score is {score:.2f}, above the threshold {result.threshold:.2f} the model learned "
            f"from normal days."
        )
    else:  # the notification follows the sequence, whose later behaviours brought the score down
        why = (
            f"Its anomaly score went above the threshold {result.threshold:.2f} the model learned from "
            f"normal days; with the behaviours since, it is {score:.2f}."
        )
    worst = f" The most surprising behaviour: {most_surprising}." if most_surprising else ""
    unknown = ""
    if len(result.unknown) == 1:
        unknown = " 1 behaviour was not in the model's vocabulary and was left out."
    elif result.unknown:
        unknown = f" {len(result.unknown)} behaviours were not in the model's vocabulary and were left out."
    return (
        "Habitus noticed an unusual sequence of actions:\n\n"
        + "\n".join(lines)
        + f"\n\n{why}{worst}{unknown}\n\nIf that was you, run the **habitus.feedback** action so Habitus "
        "learns it is normal; **habitus.snooze_alerts** pauses these notifications."
    )


def _earlier(count: int) -> str:
    return "1 earlier behaviour, then:" if count == 1 else f"{count} earlier behaviours, then:"


@callback
def async_forget_alerts(hass: HomeAssistant, entry_id: str) -> None:
    """The entry is deleted: remove its notification and its record."""
    shown = hass.data.get(_MEMORY, {}).pop(entry_id, None)
    if shown is not None and shown.notification_id is not None:
        persistent_notification.async_dismiss(hass, shown.notification_id)


class AnomalyAlerts:
    """Notifications of one entry, with cool-down and snooze (the snooze survives restarts)."""

    def __init__(self, hass: HomeAssistant, entry_id: str, store: LiveStore) -> None:
        self._hass = hass
        self._entry_id = entry_id
        self._store = store
        self.memory = hass.data.setdefault(_MEMORY, {}).setdefault(entry_id, AlertMemory())
        self.notified = 0
        self.suppressed = 0

    @property
    def last_notified(self) -> float | None:
        """Epoch seconds of the last notification (the cool-down runs from there; None: none yet)."""
        return self.memory.last_notified

    @property
    def notification_id(self) -> str | None:
        """The notification shown now (None: none)."""
        return self.memory.notification_id

    @property
    def snoozed_until(self) -> float | None:
        """Epoch seconds the snooze ends at (None: not snoozed, or it ended)."""
        until = self._store.snoozed_until
        return until if until is not None and until > dt_util.utcnow().timestamp() else None

    @callback
    def on_anomaly(self, result: LiveScore) -> bool:
        """A new anomaly: notify unless snoozed or cooling down; True if a notification was created."""
        now = dt_util.utcnow().timestamp()
        last = self.memory.last_notified
        cooling = last is not None and now - last < ALERT_COOLDOWN_SECONDS
        if self.snoozed_until is not None or cooling:
            self.suppressed += 1
            return False
        notification_id = f"{DOMAIN}_{self._entry_id}_anomaly_{int(result.key * 3600.0)}"
        self.memory.last_notified, self.memory.notification_id = now, notification_id
        self.memory.notified_key = result.key
        self._show(result)
        self.notified += 1
        return True

    @property
    def followed_key(self) -> float | None:
        """The sequence whose notification is on screen (its later readings rewrite it; None: none)."""
        return self.memory.notified_key if self.memory.notification_id is not None else None

    @callback
    def on_update(self, result: LiveScore) -> bool:
        """A later reading of the sequence the notification shown is about: rewrite that notification
        (same id, so "that was me" and ``dismiss_alert`` still apply to it) with the behaviours so far;
        the latest anomaly follows too if it is that sequence. False: no notification is about it."""
        if result.key != self.followed_key or result.score is None:
            return False
        last = self.memory.last_anomaly
        if last is not None and last.key == result.key:
            self.memory.last_anomaly = result
        self._show(result)
        return True

    @callback
    def _show(self, result: LiveScore) -> None:
        persistent_notification.async_create(
            self._hass,
            notification_message(result, device_names(self._hass, result)),
            title="Habitus: unusual activity",
            notification_id=self.memory.notification_id,
        )

    @callback
    def async_follow_dismissals(self) -> CALLBACK_TYPE:
        """Forget the notification when the user closes it (it is then not rewritten); returns the
        unsubscribe (the entry's unload)."""

        @callback
        def _updated(
            kind: persistent_notification.UpdateType,
            notifications: dict[str, persistent_notification.Notification],
        ) -> None:
            shown = self.memory.notification_id
            if (
                kind is persistent_notification.UpdateType.REMOVED
                and shown is not None
                and shown in notifications
            ):
                self.memory.notification_id = None

        return persistent_notification.async_register_callback(self._hass, _updated)

    @callback
    def dismiss(self) -> bool:
        """Remove the notification shown now; False if there is none."""
        if self.memory.notification_id is None:
            return False
        shown, self.memory.notification_id = self.memory.notification_id, None
        persistent_notification.async_dismiss(self._hass, shown)
        return True

    @callback
    def snooze(self, duration: timedelta) -> float:
        """No notifications for ``duration`` (0 ends a snooze); returns the end in epoch seconds."""
        until = dt_util.utcnow().timestamp() + duration.total_seconds()
        self._store.snoozed_until = until if duration.total_seconds() > 0 else None
        self._store.schedule_save()
        return until
