"""``habitus bench latency``'s timing helper: wall clock and the thread's CPU time, side by side."""

from __future__ import annotations

import time

from habitus_tools.bench_latency import time_calls


def test_a_call_that_waits_shows_in_wall_clock_not_in_cpu_time() -> None:
    prefixes = [[(0, 0, 0, 0)]] * 5
    result = time_calls(lambda _p: time.sleep(0.003), prefixes, warmup=1)
    assert result["calls"] == 5
    assert result["p50_ms"] >= 3.0  # the caller waited
    assert result["cpu_p50_ms"] < result["p50_ms"] - 1.0  # but the call did almost no work
    assert result["waited_over_1ms"] == 5


def test_a_call_that_computes_shows_in_both() -> None:
    def spin(_prefix: object) -> None:
        deadline = time.thread_time() + 0.002
        while time.thread_time() < deadline:
            pass

    result = time_calls(spin, [[(0, 0, 0, 0)]] * 3, warmup=0)
    assert result["cpu_p50_ms"] >= 2.0
    assert result["p50_ms"] >= result["cpu_p50_ms"] - 0.01  # wall clock never runs behind CPU time
