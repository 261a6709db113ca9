"""Where the synthetic county data kit lives: ``$YICI_DEV_KIT``, else ``../shared/datasets/dev`` beside the clone.

A user's clone has no kit; tests that need it are skipped there (``requires_kit``). CI lays the kit
beside the clone, so they run there.
"""

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[3]
KIT_DIR = Path(os.environ.get("YICI_DEV_KIT") or REPO_ROOT.parent / "shared" / "datasets" / "dev")

requires_kit = pytest.mark.skipif(not (KIT_DIR / "catalog.json").exists(), reason=f"data kit not found at {KIT_DIR}")
