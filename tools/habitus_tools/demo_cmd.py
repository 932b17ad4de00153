"""``habitus demo``: a real Home Assistant with Habitus and a virtual home replaying a dataset.

See docs/DEMO.md. The work is done by ``habitus_tools.demo`` (imported in the handler, so
``habitus --help`` does not load it).
"""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``demo`` subcommand."""
    from .demo.paths import DEFAULT_DATASET_DIR  # noqa: PLC0415 - light module, paths only

    parser = subparsers.add_parser(
        "demo",
        help="run a real Home Assistant with Habitus and a virtual home replaying a dataset",
        description=__doc__.splitlines()[0] if __doc__ else None,
    )
    parser.add_argument(
        "--for", dest="duration", type=float, metavar="SECONDS",
        help="headless: replay this long, stop HA, print a summary and exit (default: until Ctrl-C)",
    )  # fmt: skip
    parser.add_argument(
        "--summary", type=Path, metavar="FILE", help="also write the summary as a flat JSON object"
    )
    parser.add_argument(
        "--dataset", type=Path, default=DEFAULT_DATASET_DIR, metavar="DIR",
        help="dataset directory in the shared SmartThings format (default: %(default)s)",
    )  # fmt: skip
    parser.add_argument(
        "--sequences", type=Path, metavar="FILE",
        help="JSON Lines file of sequences to replay (default: the dataset's raw/trn.jsonl)",
    )  # fmt: skip
    parser.add_argument(
        "--speed", type=float, default=None, metavar="X",
        help="time acceleration: X dataset seconds per wall second (default 14400: 1 dataset hour = 0.25 s; "
        "at most 18000)",
    )  # fmt: skip
    parser.add_argument(
        "--port", type=int, metavar="PORT", help="HTTP port on 127.0.0.1 (default: a free one)"
    )
    parser.add_argument(
        "--keep-config", type=Path, metavar="DIR",
        help="use DIR as HA's config dir and keep it (a later run reuses its login, data and Habitus entry)",
    )  # fmt: skip
    parser.add_argument(
        "--start-timeout", type=float, default=300.0, metavar="SECONDS",
        help="how long HA may take to start (default: %(default)s)",
    )  # fmt: skip
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from .demo.runner import DEFAULT_SPEED, DemoOptions, run_demo  # noqa: PLC0415 - keep --help fast

    options = DemoOptions(
        dataset_dir=args.dataset,
        sequences_file=args.sequences,
        speed=DEFAULT_SPEED if args.speed is None else args.speed,
        duration_s=args.duration,
        summary_path=args.summary,
        port=args.port,
        keep_config=args.keep_config.resolve() if args.keep_config else None,
        start_timeout_s=args.start_timeout,
    )
    return run_demo(options)
