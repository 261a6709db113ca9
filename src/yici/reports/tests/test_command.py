import io
import json

import openpyxl
import pytest
from django.core.management import CommandError, call_command

from yici.reports.tests.builders import template


def run(*args) -> str:
    out = io.StringIO()
    call_command("fill", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def template_file(tmp_path):
    path = tmp_path / "重点人员.xlsx"
    path.write_bytes(template())
    return path


def test_it_fills_a_template_and_writes_its_gaps(world, people, template_file, tmp_path):
    out, gaps = tmp_path / "out" / "filled.xlsx", tmp_path / "gaps.json"
    printed = run(str(template_file), "--area", world.village.code, "--out", str(out), "--where", "age>=80",
                  "--as-of", "2025-06-30", "--gaps", str(gaps))
    assert printed.count("\n") == 1
    assert "8 of 10 columns mapped" in printed and "of 16 cells filled" in printed and "2 rows" in printed
    ws = openpyxl.load_workbook(out)["花名册"]
    assert (ws["B5"].value, ws["B6"].value) == ("张大山", "李秀英")
    report = json.loads(gaps.read_text(encoding="utf-8"))
    assert (report["area"], report["where"], report["as_of"]) == (world.village.code, "age>=80", "2025-06-30")
    assert {(g["row"], g["column"], g["element"]) for g in report["gaps"]} >= {(6, "H", "person.phone")}


def test_an_out_folder_gets_the_templates_name(world, people, template_file, tmp_path):
    run(str(template_file), "--area", world.village.code, "--out", str(tmp_path))
    assert (tmp_path / "重点人员.xlsx").read_bytes() != template()


@pytest.mark.parametrize(("args", "message"), [
    (["--where", "person.shoe_size>40"], "Unknown data element"),
    (["--where", "age=80"], "Cannot read the filter clause"),
    (["--as-of", "30/06/2025"], "is not a date"),
    (["--area", "999999999999"], "no area with code"),
])
def test_bad_input_writes_nothing(world, people, template_file, tmp_path, args, message):
    out, gaps = tmp_path / "filled.xlsx", tmp_path / "gaps.json"
    base = {"--area": world.village.code, "--out": str(out), "--gaps": str(gaps)}
    for flag, value in zip(args[::2], args[1::2], strict=True):
        base[flag] = value
    with pytest.raises(CommandError, match=message) as caught:
        run(str(template_file), *[x for pair in base.items() for x in pair])
    assert "\n" not in str(caught.value)
    assert not out.exists() and not gaps.exists()


@pytest.mark.parametrize(("data", "message"), [
    (template(protect=True), "is protected"),
    (template(formula=True), "holds a formula"),
    (b"no header here", "must be an Excel workbook"),
])
def test_a_template_it_cannot_fill_writes_nothing(world, people, tmp_path, data, message):
    path, out = tmp_path / "t.xlsx", tmp_path / "filled.xlsx"
    path.write_bytes(data)
    with pytest.raises(CommandError, match=message):
        run(str(path), "--area", world.village.code, "--out", str(out))
    assert not out.exists()


def test_a_missing_template_or_a_wrong_out_name_is_refused(world, people, template_file, tmp_path):
    with pytest.raises(CommandError, match="cannot read"):
        run(str(tmp_path / "nope.xlsx"), "--area", world.village.code, "--out", str(tmp_path / "o.xlsx"))
    with pytest.raises(CommandError, match="must be an .xlsx file"):
        run(str(template_file), "--area", world.village.code, "--out", str(tmp_path / "o.xls"))
