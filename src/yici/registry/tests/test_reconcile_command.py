import csv
import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from yici.common import parallel
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


def _die(_context, _chunk):
    import os
    import signal

    os.kill(os.getpid(), signal.SIGKILL)


@pytest.mark.skipif(parallel.cores() < 2, reason="one core: no worker processes")
def test_a_lost_worker_process_is_one_line_and_changes_nothing(db, monkeypatch, fail_instead_of_hanging):
    # A large run's golden values are computed by a worker process; should the system kill it
    # (out of memory), the run stops with one line and leaves no golden record behind.
    from django.utils import timezone

    from yici.registry import reconcile as rc
    from yici.registry.models import Link, Person

    for i in range(3):
        SourceRecord.objects.create(kind="import", entity="person", values={"person.name": f"张{i}"},
                                    area_code="", observed_at=timezone.now(), row_number=i + 1)
    monkeypatch.setattr(rc, "PARALLEL_GOLDEN_FROM", 1)
    monkeypatch.setattr(rc, "_golden_chunk", _die)
    with pytest.raises(CommandError, match="worker process ended.*nothing was changed"):
        call_command("reconcile", quiet=True)
    assert not Person.objects.exists() and not Link.objects.exists()
