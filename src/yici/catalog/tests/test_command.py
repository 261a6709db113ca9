import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import translation

from yici.catalog.models import DataElement
from yici.catalog.services import BUILTIN_CATALOG


def run(*args) -> str:
    out = io.StringIO()
    with translation.override("en"):
        call_command("load_catalog", *args, stdout=out)
    return out.getvalue()


def command_error(*args) -> str:
    with translation.override("en"), pytest.raises(CommandError) as exc:
        call_command("load_catalog", *args, stdout=io.StringIO())
    message = str(exc.value)
    assert "\n" not in message
    return message


def test_without_a_file_it_loads_the_shipped_catalog_and_prints_one_line(db):
    count = len(json.loads(BUILTIN_CATALOG.read_text(encoding="utf-8"))["elements"])
    out = run()
    assert out.strip() == f"catalog.json: {count} elements created, 0 updated, 0 unchanged"
    assert DataElement.objects.count() == count
    assert run("--builtin").strip() == f"catalog.json: 0 elements created, 0 updated, {count} unchanged"


def test_it_loads_a_given_file(db, tmp_path, catalog_doc):
    catalog_doc["elements"] = catalog_doc["elements"][:3]
    path = tmp_path / "mine.json"
    path.write_text(json.dumps(catalog_doc, ensure_ascii=False), encoding="utf-8")
    assert run(str(path)).strip() == "mine.json: 3 elements created, 0 updated, 0 unchanged"
    assert DataElement.objects.count() == 3


def test_a_missing_file_is_a_one_line_error(db):
    assert "cannot read /nonexistent/catalog.json" in command_error("/nonexistent/catalog.json")
    assert not DataElement.objects.exists()


def test_a_file_that_is_not_json_is_a_one_line_error(db, tmp_path):
    path = tmp_path / "catalog.json"
    path.write_text("code,name\nperson.name,姓名\n", encoding="utf-8")
    message = command_error(str(path))
    assert "not valid JSON" in message and "nothing was loaded" in message
    assert not DataElement.objects.exists()


def test_an_invalid_catalog_is_a_one_line_error_naming_the_element(db, tmp_path, catalog_doc):
    catalog_doc["elements"][6]["entity"] = "company"
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps(catalog_doc, ensure_ascii=False), encoding="utf-8")
    message = command_error(str(path))
    assert "element 7 (person.phone)" in message and "company" in message
    assert not DataElement.objects.exists()


def test_file_and_builtin_together_are_refused(db):
    assert "--builtin" in command_error(str(BUILTIN_CATALOG), "--builtin")
    assert not DataElement.objects.exists()


def _yici() -> str:
    return shutil.which("yici") or str(Path(sys.executable).parent / "yici")


def _run_yici(*args, tmp_path) -> subprocess.CompletedProcess:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "yici.settings_test", "YICI_VAR_DIR": str(tmp_path / "var"),
           "LANGUAGE": "en"}
    return subprocess.run([_yici(), *args], capture_output=True, text=True, env=env, timeout=120, cwd=tmp_path)


@pytest.mark.parametrize("bad", ["missing", "not-json"])
def test_the_console_script_exits_non_zero_without_a_traceback(tmp_path, bad):
    if bad == "missing":
        target = "/nonexistent"
    else:
        target = str(tmp_path / "bad.json")
        Path(target).write_text("{oops", encoding="utf-8")
    result = _run_yici("load-catalog", target, tmp_path=tmp_path)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().count("\n") == 0
    assert target in result.stderr


def test_the_console_script_has_help(tmp_path):
    result = _run_yici("load-catalog", "--help", tmp_path=tmp_path)
    assert result.returncode == 0
    assert "--builtin" in result.stdout


def test_a_database_that_cannot_be_opened_is_one_line_not_a_traceback(tmp_path):
    target = tmp_path / "catalog.json"
    target.write_text("{}", encoding="utf-8")
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "yici.settings", "YICI_VAR_DIR": str(tmp_path / "var"),
           "DATABASE_URL": f"sqlite:///{tmp_path}/no-such-folder/yici.sqlite3", "LANGUAGE": "en"}
    result = subprocess.run([_yici(), "load-catalog", str(target)], capture_output=True, text=True, env=env,
                            timeout=120, cwd=tmp_path)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().startswith("yici: database error:") and len(result.stderr.strip().splitlines()) == 1
