import csv
import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from yici.registry.models import ReviewPair, SourceRecord


def test_it_refuses_an_export_into_a_missing_folder_before_doing_anything(db, tmp_path):
    with pytest.raises(CommandError, match="does not exist"):
        call_command("reconcile", export_clusters=str(tmp_path / "missing" / "clusters.csv"))


def test_it_reconciles_and_exports_the_clusters_file(db, tmp_path):
    out = io.StringIO()
    target = tmp_path / "clusters.csv"
    call_command("reconcile", export_clusters=str(target), quiet=True, stdout=out)
    assert "reconciled 0 records" in out.getvalue()
    with target.open(encoding="utf-8") as fh:
        assert next(csv.reader(fh)) == ["system", "file", "row_number", "cluster_id"]
    assert not SourceRecord.objects.exists() and not ReviewPair.objects.exists()
