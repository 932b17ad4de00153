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
    parser.add_argument(
        "--history-days", type=float, default=None, metavar="DAYS",
        help="dataset days of the home's past, played at once with past timestamps once Habitus is set up "
        "(default 365: at least 100 TSS sequences, so the base threshold is calibrated; 0: none)",
    )  # fmt: skip
    parser.add_argument(
        "--inject-every", type=float, default=None, metavar="SECONDS",
        help="slip an unusual behaviour sequence into the replay this often (default 15; 0: never)",
    )  # fmt: skip
    parser.add_argument(
        "--no-adapt", action="store_true",
        help="do not start the adaptation (habitus.adapt with the embedded Gemma 3 270M)",
    )  # fmt: skip
    parser.add_argument(
        "--adapt-timeout", type=float, default=600.0, metavar="SECONDS",
        help="how long a --for run waits at the end for the adaptation to finish (default: %(default)s)",
    )  # fmt: skip
    parser.add_argument(
        "--no-browser", action="store_true", help="skip the headless Chromium check of the UI at the end"
    )
    parser.add_argument(
        "--screenshot", type=Path, metavar="FILE", help="save the headless Chromium screenshot (PNG) here"
    )
    parser.add_argument(
        "--no-routines", action="store_true",
        help="skip the routine household's past and Habitus's routine suggestions",
    )  # fmt: skip
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from .demo.observe import AdaptationSettings  # noqa: PLC0415 - keep --help fast
    from .demo.plan import (  # noqa: PLC0415
        DEFAULT_HISTORY_DAYS,
        DEFAULT_INJECT_EVERY_S,
        DEFAULT_SPEED,
        DemoOptions,
    )
    from .demo.runner import run_demo  # noqa: PLC0415

    options = DemoOptions(
        dataset_dir=args.dataset,
        sequences_file=args.sequences,
        speed=DEFAULT_SPEED if args.speed is None else args.speed,
        duration_s=args.duration,
        summary_path=args.summary,
        port=args.port,
        keep_config=args.keep_config.resolve() if args.keep_config else None,
        start_timeout_s=args.start_timeout,
        history_days=DEFAULT_HISTORY_DAYS if args.history_days is None else args.history_days,
        inject_every_s=DEFAULT_INJECT_EVERY_S if args.inject_every is None else args.inject_every,
        adapt=not args.no_adapt,
        adaptation=AdaptationSettings(timeout_s=args.adapt_timeout),
        browser=not args.no_browser,
        screenshot_path=args.screenshot,
        routines=not args.no_routines,
    )
    return run_demo(options)
