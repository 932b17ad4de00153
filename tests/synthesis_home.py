"""A small home for the synthesis tests (engine pipeline and the worker job): its raw sequences in the
``export.to_home_raw`` form, its id lists, and contract A params for the ``synthesize`` job."""

from __future__ import annotations

from typing import Any

from habitus_engine.datasets import RawSequence
from habitus_engine.shifts import ContextShift

DEVICES = ["light.kitchen", "light.bedroom", "media_player.tv", "climate.living"]
ACTIONS = [
    "Light:switch on",
    "Light:switch off",
    "Television:switch on",
    "Television:switch off",
    "AirConditioner:switch on",
]
SHIFT = ContextShift(
    kind="custom",
    original="two adults with regular days",
    new="a baby arrived; the parents get up several times at night",
    emphasis_devices=("light.bedroom",),
)
DAY_LONG = 14  # timelines in home() with a 12 h gap (TSS splits them in two)
N_CTX = 768  # room for a short prompt and TINY's answer (prompt evaluation dominates the test's time)
TINY = {"max_prompts": 1, "max_new_tokens": 64, "sequences_per_response": 3}


def home() -> list[RawSequence]:
    """Two weeks of one home's day-long timelines (TSS cuts each in two: a 12 h gap at noon) plus
    evening TV sequences that repeat every week (SSC keeps one per weekday)."""
    timelines: list[RawSequence] = []
    for _week in range(2):
        for day in range(7):
            timelines.append([(day, 1, 1, 0), (day, 2, 0, 0), (day, 2, 0, 1), (day, 6, 2, 2), (day, 7, 2, 3)])
            timelines.append([(day, 6, 3, 4), (day, 6, 0, 0), (day, 7, 0, 1)])
    return timelines


def pairs_of(raw: list[RawSequence]) -> set[tuple[int, int]]:
    """The (device id, action id) pairs the sequences use."""
    return {(device, action) for seq in raw for _d, _b, device, action in seq}


def job_params(**overrides: Any) -> dict[str, Any]:
    """Contract A params for the home above with a free-text shift and the default Gemma."""
    params: dict[str, Any] = {
        "sequences": [[list(b) for b in seq] for seq in home()],
        "devices": DEVICES,
        "actions": ACTIONS,
        "shift": {
            "kind": "custom",
            "original": "",
            "new": "a baby arrived; the parents get up several times at night",
            "emphasis_devices": ["light.bedroom"],
            "active_hours": [],
        },
        "llm": {"backend": "local", "model_path": None, "n_threads": 1, "n_ctx": N_CTX},
        **TINY,
    }
    params.update(overrides)
    return params
