"""``habitus bench live``: its diagnosis options and the GC column it reports (no HA run)."""

from __future__ import annotations

import argparse
import gc

import pytest

from habitus_tools import bench_live
from habitus_tools.bench_hass import GcPause, GcPauses, config_yaml, gc_summary


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    bench_live.register(parser.add_subparsers())
    return parser.parse_args(["live", *argv])


def test_diagnosis_options_are_off_by_default() -> None:
    default = _parse([])
    assert (default.collect_first, default.trace_stalls) == (False, None)
    args = _parse(["--collect-first", "--trace-stalls", "50"])
    assert (args.collect_first, args.trace_stalls) == (True, 50.0)


def test_full_collections_are_counted_apart_and_timed_from_the_start_of_the_events() -> None:
    pauses = [GcPause(0, 1.2, 101.0), GcPause(2, 230.0, 140.5), GcPause(1, 6.0, 150.0)]
    summary = gc_summary(pauses, since=100.0)
    assert summary == {
        "pauses": 3,
        "full_collections": 1,
        "longest_full_ms": 230.0,
        "longest_young_ms": 6.0,
        "full_at_s": [(40.5, 230.0)],
    }
    assert gc_summary([], since=0.0)["longest_full_ms"] == 0.0


def test_a_real_full_collection_is_recorded_with_its_generation() -> None:
    pauses = GcPauses()
    pauses.install()
    try:
        garbage = [[i] for i in range(200_000)]  # enough tracked objects for a >= 1 ms full collection
        gc.collect()
        del garbage
    finally:
        pauses.remove()
    assert pauses not in gc.callbacks
    full = [p for p in pauses.take() if p.generation == 2]
    assert len(full) == 1 and full[0].ms >= 1.0
    assert pauses.take() == []


@pytest.mark.parametrize("prefix", ["bench_", "habitus_bench_"])
def test_config_names_the_switches_the_benches_toggle(prefix: str) -> None:
    text = config_yaml(3, prefix)
    assert all(f"  {prefix}{i}:\n" in text for i in range(3))
    assert "recorder:\n  commit_interval: 1\n" in text
