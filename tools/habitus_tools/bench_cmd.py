"""``habitus bench``: the benchmarks behind docs/BENCHMARKS.md, one module per benchmark.

Each module named in ``BENCHMARK_MODULES`` exposes ``register(bench_subparsers)``, which adds its own
``habitus bench <name>`` parser with ``set_defaults(func=handler)`` (handler: Namespace -> exit code).
To add a benchmark, create ``tools/habitus_tools/bench_<name>.py`` and add its module name here.
"""

from __future__ import annotations

import argparse
import importlib

BENCHMARK_MODULES: tuple[str, ...] = (
    "habitus_tools.bench_routines",
    "habitus_tools.bench_models",
    "habitus_tools.bench_latency",
    "habitus_tools.bench_grammar",
    "habitus_tools.bench_looplag",
    "habitus_tools.bench_compress",
    "habitus_tools.bench_live",
    "habitus_tools.bench_adapt",
    "habitus_tools.bench_denoise",
    "habitus_tools.bench_base",
    "habitus_tools.bench_threshold",
    "habitus_tools.bench_hub_adapt",
)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``habitus bench`` and every registered benchmark below it."""
    parser = subparsers.add_parser(
        "bench", help="run a benchmark (see docs/BENCHMARKS.md)", description=__doc__
    )
    benchmarks = parser.add_subparsers(dest="benchmark", required=True, metavar="BENCHMARK")
    for name in BENCHMARK_MODULES:
        importlib.import_module(name).register(benchmarks)
