"""The ``habitus`` command line: one subcommand per module.

Each module listed in ``SUBCOMMAND_MODULES`` exposes ``register(subparsers)``, which adds its parser
and sets ``func`` (``(argparse.Namespace) -> int``) as the handler. Modules import heavy libraries
(onnxruntime, llama_cpp, homeassistant) inside their handlers, so ``habitus --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

SUBCOMMAND_MODULES: tuple[str, ...] = (
    "habitus_tools.segment_cmd",
    "habitus_tools.demo_cmd",
    "habitus_tools.routines_cmd",
    "habitus_tools.bench_cmd",
    "habitus_tools.build_assets_cmd",
)


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every registered subcommand."""
    parser = argparse.ArgumentParser(prog="habitus", description=__doc__.splitlines()[0])
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in SUBCOMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``habitus`` console script."""
    args = build_parser().parse_args(argv)
    try:
        code: int = args.func(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
