"""Where tests find the project and the shared datasets (``../shared`` beside the project)."""

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SMARTTHINGS = PROJECT_ROOT.parent / "shared" / "datasets" / "smartthings"
