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


def kit_areas_csv() -> str:
    """The kit's township, villages and villager groups in the `yici import-areas` layout."""
    import json

    world = json.loads((KIT_DIR / "truth" / "world.json").read_text(encoding="utf-8"))
    township = world["township"]
    county_code = township["code"][:6] + "000000"
    lines = ["code,name,level,parent_code", f"{county_code},{world['county']},county,"]
    township_code = township["code"].ljust(12, "0")
    lines.append(f"{township_code},{township['name']},township,{county_code}")
    for village in world["villages"]:
        lines.append(f"{village['code']},{village['name']},village,{township_code}")
        for n in range(1, village["groups"] + 1):
            lines.append(f"{village['code']}{n:02d},{n}组,group,{village['code']}")
    return "\n".join(lines) + "\n"
