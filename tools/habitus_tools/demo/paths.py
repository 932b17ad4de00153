"""Where the demo finds the repository's parts (all relative to this file, never to the cwd)."""

from __future__ import annotations

from pathlib import Path

DEMO_PACKAGE_DIR = Path(__file__).resolve().parent
REPO_ROOT = DEMO_PACKAGE_DIR.parents[2]  # <root>/tools/habitus_tools/demo
HABITUS_INTEGRATION_DIR = REPO_ROOT / "custom_components" / "habitus"
VIRTUAL_HOME_DIR = DEMO_PACKAGE_DIR / "virtual_home"
DATASETS_DIR = REPO_ROOT.parent / "shared" / "datasets" / "smartthings"
DEFAULT_DATASET_DIR = DATASETS_DIR / "fr"
# Which file of a dataset directory is replayed when --sequences is not given (first that exists).
DEFAULT_SEQUENCE_FILES = ("raw/trn.jsonl", "raw/test.jsonl", "raw/vld.jsonl")


def default_sequence_file(dataset_dir: Path) -> Path | None:
    """The dataset file the demo replays: ``raw/trn.jsonl`` if present, else any ``*.jsonl`` in it."""
    for name in DEFAULT_SEQUENCE_FILES:
        if (dataset_dir / name).is_file():
            return dataset_dir / name
    found = sorted(dataset_dir.rglob("*.jsonl"))
    return found[0] if found else None
