import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from yici.accounts.models import Area, AreaLevel
from yici.accounts.services import AreaImportError, areas_import
from yici.audit.models import AuditEvent

GOOD = """code,name,level,parent_code
330726000000,浦江县,county,
330726101000,岩头镇,乡镇,330726000000
330726101201,樟树村,village,330726101000
33072610120101,1组,村民小组,330726101201
"""


def test_it_loads_a_tree_with_prefixes(db):
    result = areas_import(data=GOOD.encode())
    assert result == {"created": 4, "updated": 0, "rows": 4}
    village = Area.objects.get(code="330726101201")
    assert village.level == AreaLevel.VILLAGE and village.parent.code == "330726101000"
    assert Area.objects.get(code="330726000000").prefix == "330726"
    assert Area.objects.get(code="330726101000").prefix == "330726101"
    assert Area.objects.get(code="33072610120101").prefix == "33072610120101"
    assert AuditEvent.objects.filter(action="create", object_type="accounts.area").count() == 4


def test_reloading_the_same_file_changes_nothing_and_renames_update(db):
    areas_import(data=GOOD.encode())
    assert areas_import(data=GOOD.encode()) == {"created": 0, "updated": 0, "rows": 4}
    renamed = GOOD.replace("樟树村", "樟树社区")
    assert areas_import(data=renamed.encode())["updated"] == 1
    assert Area.objects.get(code="330726101201").name == "樟树社区"


def test_it_reads_gbk(db):
    assert areas_import(data=GOOD.encode("gbk"))["created"] == 4


@pytest.mark.parametrize(
    "bad_line, message",
    [
        ("3307261012,短码村,village,330726101000", "12-digit"),
        ("330726101202,石门村,hamlet,330726101000", "unknown level"),
        ("330726101202,,village,330726101000", "name is empty"),
        ("330726101202,石门村,village,330726999000", "neither in the file nor loaded"),
        ("330727101202,外县村,village,330726101000", "does not lie under"),
        ("330726101202,石门村,township,330726101000", "level above"),
        ("330726101201,樟树村,village,330726101000", "twice"),
        ("330726101202,组,group,330726101000", "suffix"),
    ],
)
def test_a_bad_row_rejects_the_whole_file_with_its_line(db, bad_line, message):
    with pytest.raises(AreaImportError) as info:
        areas_import(data=(GOOD + bad_line + "\n").encode())
    assert message in str(info.value)
    assert "line 6" in str(info.value)
    assert not Area.objects.exists()


def test_an_empty_file_is_refused(db):
    with pytest.raises(AreaImportError, match="empty"):
        areas_import(data=b"")


def test_binary_garbage_is_refused(db):
    with pytest.raises(AreaImportError):
        areas_import(data=bytes(range(128, 256)) * 4)
    assert not Area.objects.exists()


def test_the_command_reports_one_line_and_exits_non_zero(db, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("330726000000,浦江县,nowhere,\n", encoding="utf-8")
    with pytest.raises(CommandError, match="line 1: unknown level"):
        call_command("import_areas", str(bad))
    with pytest.raises(CommandError, match="cannot read"):
        call_command("import_areas", str(tmp_path / "missing.csv"))


def yici_executable() -> str:
    return str(Path(sys.executable).parent / "yici")


def test_the_console_script_prints_no_traceback(tmp_path):
    env_dir = tmp_path / "var"
    proc = subprocess.run(
        [yici_executable(), "import-areas", str(tmp_path / "missing.csv")],
        capture_output=True, text=True, env={"YICI_VAR_DIR": str(env_dir), "PATH": "/usr/bin:/bin"}, timeout=60,
    )
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    assert "cannot read" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
