"""The data kit's twelve department templates filled from its registry, scored by the kit's own scorer."""

import pytest

from yici.reports.tests.kit_world import build_kit_world, fill_kit, score
from yici.testing.kit import requires_kit

pytestmark = [requires_kit, pytest.mark.slow]


@pytest.mark.django_db
def test_kit_templates_fill_above_the_targets(tmp_path):
    build_kit_world()
    results = fill_kit(tmp_path)
    assert len(results) == 12
    summary = score(tmp_path)["summary"]
    assert summary["mapping_acc"] >= 0.98, summary
    assert summary["cell_f1"] >= 0.99, summary
    assert summary["layout_ok"] == summary["templates"] == 12, summary
    assert summary["seq_ok"] == 12, summary
    assert summary["blank_cols_ok"] == summary["blank_cols"], summary
    assert summary["pop_p"] == summary["pop_r"] == 1.0, summary
