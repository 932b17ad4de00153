"""Who caused each recorded state change, for the bootstrap (user, automation or device).

``get_significant_states`` returns states with an empty ``Context``, but the recorder keeps each
state's context user and parent ids (``states.context_user_id_bin`` / ``context_parent_id_bin``). This
reads just those columns, for an explicit list of entity ids and a time window, so bootstrapped
behaviours are attributed the way live ones are (``ingest.origin_of``): a user id means ``"user"``,
else a parent id (an automation or script) means ``"automation"``; a state with neither is ``"device"``
and is not returned. If this query fails, every bootstrapped behaviour counts as ``"device"``.
"""

from __future__ import annotations

import logging
from datetime import datetime

from homeassistant.components.recorder.db_schema import States, StatesMeta
from homeassistant.core import HomeAssistant
from homeassistant.helpers.recorder import session_scope
from sqlalchemy import or_, select
from sqlalchemy.exc import SQLAlchemyError

from .engine.behaviour import Origin

_LOGGER = logging.getLogger(__name__)

type OriginKey = tuple[str, float]  # (entity id, last_updated timestamp rounded to the millisecond)


def origin_key(entity_id: str, timestamp: float) -> OriginKey:
    """The lookup key of one recorded state."""
    return entity_id, round(timestamp, 3)


def recorded_origins(
    hass: HomeAssistant, entity_ids: list[str], window: tuple[datetime, datetime]
) -> dict[OriginKey, Origin]:
    """(recorder executor) User or automation origins of the recorded states in ``window``."""
    stmt = (
        select(
            StatesMeta.entity_id,
            States.last_updated_ts,
            States.context_user_id_bin,
            States.context_parent_id_bin,
        )
        .join(StatesMeta, States.metadata_id == StatesMeta.metadata_id)
        .where(
            StatesMeta.entity_id.in_(entity_ids),
            States.last_updated_ts >= window[0].timestamp(),
            States.last_updated_ts < window[1].timestamp(),
            or_(States.context_user_id_bin.is_not(None), States.context_parent_id_bin.is_not(None)),
        )
    )
    origins: dict[OriginKey, Origin] = {}
    try:
        with session_scope(hass=hass, read_only=True) as session:
            for entity_id, timestamp, user_id, _parent_id in session.execute(stmt):
                if entity_id is not None and timestamp is not None:
                    origins[origin_key(entity_id, timestamp)] = "user" if user_id else "automation"
    except SQLAlchemyError as err:
        _LOGGER.warning("Could not read who caused the recorded changes; counting them as device: %s", err)
        return {}
    return origins
