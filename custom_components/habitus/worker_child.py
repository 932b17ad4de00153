"""Entry script of the Habitus worker process: run by path (``runpy.run_path``) in a spawned child.

It is never imported by the integration. It loads ``engine/`` as the stand-alone package
``habitus_engine`` straight from its folder, so the worker never imports Home Assistant or this
integration's package (that would cost seconds and ~80 MB per worker), then serves jobs
(``engine/jobs.py``'s ``serve``). ``worker.py`` passes its arguments as the global ``HABITUS_WORKER``.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

ENGINE_PACKAGE = "habitus_engine"
RUN_NAME = "__habitus_worker__"


def load_engine(engine_dir: Path) -> ModuleType:
    """Import ``engine_dir`` as the package ``habitus_engine`` (its relative imports then just work)."""
    if ENGINE_PACKAGE in sys.modules:
        return sys.modules[ENGINE_PACKAGE]
    spec = importlib.util.spec_from_file_location(
        ENGINE_PACKAGE, engine_dir / "__init__.py", submodule_search_locations=[str(engine_dir)]
    )
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load the Habitus engine from {engine_dir}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[ENGINE_PACKAGE] = module
    spec.loader.exec_module(module)
    return module


def main(arguments: dict[str, Any]) -> None:
    """One BLAS thread (the hub's CPU is shared with HA), load the engine, serve jobs until stopped."""
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(name, "1")
    load_engine(Path(__file__).resolve().parent / "engine")
    jobs = importlib.import_module(f"{ENGINE_PACKAGE}.jobs")
    jobs.serve(
        arguments["commands"],
        arguments["events"],
        nice=arguments["nice"],
        memory_limit_mb=arguments["memory_limit_mb"],
    )


if __name__ == RUN_NAME:
    main(globals()["HABITUS_WORKER"])
