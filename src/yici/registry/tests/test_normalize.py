import datetime
import json
from decimal import Decimal

import pytest

from yici.catalog.services import BUILTIN_CATALOG, catalog_load
from yici.registry.normalize import (
    ElementSpec,
    Normalized,
    element_spec_from_dict,
    element_specs_from_catalog,
    normalize,
    normalize_address,
    normalize_name,
    normalize_row,
    normalize_text,
    to_half_width,
)
from yici.registry.validation import ERROR, WARNING, today

CATALOG = json.loads(BUILTIN_CATALOG.read_text(encoding="utf-8"))
SPECS = {e["code"]: element_spec_from_dict(e) for e in CATALOG["elements"]}


def norm(code: str, raw) -> Normalized:
    return normalize(SPECS[code], raw)


def issue_codes(result: Normalized) -> list[tuple[str, str]]:
    return [(issue.level, issue.code) for issue in result.issues]


# ------------------------------------------------------------------------------------- generic
def test_half_width_converts_digits_letters_punctuation_and_spaces():
    assert to_half_width("ＡＢＣ１２３（）：，\u3000") == "ABC123():, "
    assert to_half_width("中文、。") == "中文、。"


def test_normalize_text_strips_and_collapses():
    assert normalize_text("  a\u3000\u3000b \t c ") == "a b c"


@pytest.mark.parametrize("raw", [None, "", "  ", "\u3000", "\u200b"])
def test_blank_cells_are_empty_without_issues(raw):
    for code in ("person.name", "person.id_number", "person.phone", "person.birth_date", "person.gender",
                 "house.floors", "house.floor_area"):
        result = norm(code, raw)
        assert result.value == "" and result.issues == (), (code, raw)


@pytest.mark.parametrize("raw", ["-", "/", "无", "暂无", "N/A", "null"])
def test_placeholders_mean_no_value_for_typed_elements(raw):
    for code in ("person.phone", "person.birth_date", "person.id_number", "house.floors", "person.employer"):
        assert norm(code, raw).value == "", (code, raw)


def test_excel_error_values_are_rejected():
    for code in ("person.name", "person.phone", "person.birth_date", "person.gender", "house.floors"):
        result = norm(code, "#N/A")
        assert issue_codes(result) == [(ERROR, "excel_error")], code
        assert result.original == "#N/A"


def test_it_never_raises_on_odd_cell_values():
    odd = [object(), [1, 2], {"a": 1}, datetime.time(12, 0), float("nan"), float("inf"), -1, 10**30, b"bytes",
           Decimal("3.5"), True]
    for spec in SPECS.values():
        for raw in odd:
            result = normalize(spec, raw)
            assert isinstance(result, Normalized)
            assert result.ok or result.value == ""


# -------------------------------------------------------------------------------------- strings
@pytest.mark.parametrize(
    "raw, expected",
    [
        ("黄\u3000琴", "黄琴"),
        ("周  俊", "周俊"),
        (" 倪 丽 ", "倪丽"),
        ("汪菊英\u3000", "汪菊英"),
        ("刘小妹 ", "刘小妹"),
        ("阿依古丽·买买提", "阿依古丽·买买提"),
        ("阿依古丽・买买提", "阿依古丽·买买提"),
        ("阿依古丽.买买提", "阿依古丽·买买提"),
        ("阿依古丽 · 买买提", "阿依古丽·买买提"),
        ("John  Smith", "John Smith"),
    ],
)
def test_names_lose_all_spaces_and_keep_the_middle_dot(raw, expected):
    assert norm("person.name", raw) == Normalized(expected, (), raw)
    assert normalize_name(raw) == expected


def test_other_name_elements_are_names_too():
    for code in ("person.household_head_name", "household.head_name", "house.owner_name", "place.manager_name"):
        assert norm(code, "张\u3000三").value == "张三"


def test_plain_strings_collapse_inner_whitespace():
    assert norm("person.employer", "  浦江县  鑫源 建筑 ") == Normalized("浦江县 鑫源 建筑", (), "  浦江县  鑫源 建筑 ")
    assert norm("person.employer", "ＡＢＣ有限公司（浦江）").value == "ABC有限公司(浦江)"


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("3307261112010001", "3307261112010001"),
        (3307261112010001, "3307261112010001"),
        (1112010001, "1112010001"),
        (1112010001.0, "1112010001"),
    ],
)
def test_codes_held_as_text_survive_number_cells(raw, expected):
    code = "house.code" if len(expected) == 16 else "person.household_no"
    assert norm(code, raw).value == expected


def test_a_long_code_mangled_by_excel_is_rejected():
    result = norm("house.code", 3307261112010000.0)
    assert result.value == ""
    assert issue_codes(result) == [(ERROR, "number_mangled")]
    assert result.original == "3307261112010000.0"


# ------------------------------------------------------------------------------------ addresses
@pytest.mark.parametrize(
    "raw, expected",
    [
        ("樟树村第7村民小组11号", "樟树村7组11号"),
        ("石门村第5村民小组101号", "石门村5组101号"),
        ("梅岭镇石门村七组47号", "梅岭镇石门村7组47号"),
        ("梅岭镇樟树村四组7号", "梅岭镇樟树村4组7号"),
        ("樟树村第三小组", "樟树村3组"),
        ("樟树村十组", "樟树村10组"),
        ("樟树村十二组", "樟树村12组"),
        ("樟树村二十组", "樟树村20组"),
        ("樟树村九十九组", "樟树村99组"),
        ("樟树村03组", "樟树村3组"),
        ("樟树村9-11", "樟树村9-11"),  # house numbers are left alone
        ("石门村5-105", "石门村5-105"),
        ("浙江省金华市浦江县梅岭镇樟树村7组11号", "浙江省金华市浦江县梅岭镇樟树村7组11号"),
        ("前陈1组25号", "前陈1组25号"),  # no prefix or 村 invented
        ("樟树村 ３组 ５号", "樟树村3组5号"),
        ("上海市闵行区建设路289弄17号", "上海市闵行区建设路289弄17号"),
    ],
)
def test_addresses_are_normalised_lightly(raw, expected):
    assert normalize_address(raw) == expected
    assert norm("house.address", raw).value == expected
    assert norm("person.current_address", raw).value == expected


@pytest.mark.parametrize("raw, expected", [("三组", "3组"), ("第3村民小组", "3组"), ("3组", "3组"), ("第十一组", "11组")])
def test_grid_values_use_the_registry_form(raw, expected):
    assert norm("person.grid", raw).value == expected


# ----------------------------------------------------------------------------------------- dates
@pytest.mark.parametrize(
    "raw",
    [
        "1985-03-02",
        "19850302",
        "1985年3月2日",
        "1985年03月02日",
        "1985.3.2",
        "1985.03.02",
        "1985/03/02",
        "1985/3/2",
        "1985-3-2",
        " 1985-03-02 ",
        "１９８５－０３－０２",
        "1985-03-02 00:00:00",
        "1985-03-02T08:30",
        19850302,
        31108,  # Excel serial, 1900 date system
        31108.0,
        31108.75,  # with a time of day
        "31108",
        datetime.datetime(1985, 3, 2),
        datetime.datetime(1985, 3, 2, 14, 5),
        datetime.date(1985, 3, 2),
    ],
)
def test_it_reads_every_legacy_date_format(raw):
    result = norm("person.birth_date", raw)
    assert result.value == "1985-03-02", raw
    assert result.issues == ()


@pytest.mark.parametrize("raw", ["1985年3月", "1985.03", "198503", "1985-03", "1985/3", 198503])
def test_month_only_dates_are_kept_as_year_month_with_a_warning(raw):
    result = norm("person.enlist_date", raw)
    assert result.value == "1985-03"
    assert issue_codes(result) == [(WARNING, "date_month_only")]


def test_month_precision_elements_take_month_only_input_silently():
    spec = element_spec_from_dict({"code": "person.enlist_date", "type": "date", "precision": "month"})
    assert normalize(spec, "1985年3月") == Normalized("1985-03", (), "1985年3月")
    assert normalize(spec, "1985-03-02").value == "1985-03"


def test_day_precision_elements_refuse_month_only_input():
    spec = element_spec_from_dict({"code": "person.birth_date", "type": "date", "precision": "day"})
    result = normalize(spec, "1985年3月")
    assert result.value == "" and issue_codes(result) == [(ERROR, "date_incomplete")]


@pytest.mark.parametrize(
    "raw, code",
    [
        ("1985-02-30", "date_impossible"),
        ("1985年13月1日", "date_impossible"),
        ("19851301", "date_impossible"),
        ("1985.2.29", "date_impossible"),
        ("0985-03-02", "date_out_of_range"),
        ("2985-03-02", "date_out_of_range"),
        ("not a date", "date_invalid"),
        ("85.3.2", "date_invalid"),
        (1985, "date_year_only"),
        ("1985", "date_year_only"),
        (5, "date_invalid"),
        (True, "value_unreadable"),
    ],
)
def test_impossible_dates_are_rejected_and_kept(raw, code):
    result = norm("person.birth_date", raw)
    assert result.value == ""
    assert issue_codes(result) == [(ERROR, code)]
    assert result.original == str(raw)


def test_a_future_birth_date_is_an_error_other_future_dates_a_warning():
    tomorrow = (today() + datetime.timedelta(days=2)).isoformat()
    assert issue_codes(norm("person.birth_date", tomorrow)) == [(ERROR, "date_in_future")]
    result = norm("person.discharge_date", tomorrow)
    assert result.value == tomorrow
    assert issue_codes(result) == [(WARNING, "date_in_future")]


def test_datetime_elements_keep_the_time():
    spec = element_spec_from_dict({"code": "person.visit", "type": "datetime"})
    assert normalize(spec, "2024-05-06 08:30").value == "2024-05-06 08:30:00"
    assert normalize(spec, datetime.datetime(2024, 5, 6, 8, 30, 15)).value == "2024-05-06 08:30:15"
    assert normalize(spec, "2024-05-06").value == "2024-05-06"


# --------------------------------------------------------------------------------------- numbers
@pytest.mark.parametrize(
    "raw, expected",
    [
        (3, "3"),
        ("3", "3"),
        ("3层", "3"),
        ("3 层", "3"),
        ("３层", "3"),
        (2.0, "2"),
        ("2.0", "2"),
        ("三层", "3"),
        ("十二层", "12"),
        (Decimal("4"), "4"),
    ],
)
def test_whole_numbers_with_units(raw, expected):
    assert norm("house.floors", raw).value == expected
    assert norm("house.floors", raw).issues == ()


@pytest.mark.parametrize(
    "code, raw, expected",
    [
        ("house.built_year", "1976年", "1976"),
        ("house.built_year", 1997, "1997"),
        ("house.tenant_count", "3人", "3"),
        ("household.member_count", "1,234", "1234"),
        ("person.age", "47岁", "47"),
    ],
)
def test_other_whole_number_elements(code, raw, expected):
    assert norm(code, raw).value == expected


@pytest.mark.parametrize("raw, code", [("2.5", "int_not_whole"), (2.5, "int_not_whole"), ("3万", "number_invalid"),
                                       ("约3层", "number_invalid"), ("2-3层", "number_invalid"), ("abc", "number_invalid")])
def test_bad_whole_numbers_are_rejected(raw, code):
    result = norm("house.floors", raw)
    assert result.value == "" and issue_codes(result) == [(ERROR, code)]


def test_negative_numbers_are_kept_with_a_warning():
    result = norm("house.floors", "-1")
    assert result.value == "-1" and issue_codes(result) == [(WARNING, "number_negative")]


@pytest.mark.parametrize(
    "raw, expected",
    [
        (288.54, "288.54"),
        (212, "212"),
        (74.9, "74.9"),
        ("288.54", "288.54"),
        ("288.50", "288.5"),
        ("288.54㎡", "288.54"),
        ("288.54 m²", "288.54"),
        ("288.54m2", "288.54"),
        ("288.54平方米", "288.54"),
        ("288.54平米", "288.54"),
        ("1,234.5", "1234.5"),
        ("２８８．５４", "288.54"),
        ("100.", "100"),
        (".5", "0.5"),
    ],
)
def test_decimals_with_units(raw, expected):
    result = norm("house.floor_area", raw)
    assert result == Normalized(expected, (), raw if isinstance(raw, str) else str(raw))


@pytest.mark.parametrize("raw", ["12,34", "1.2.3", "约100", "100-120"])
def test_bad_decimals_are_rejected(raw):
    result = norm("house.floor_area", raw)
    assert result.value == "" and issue_codes(result) == [(ERROR, "number_invalid")]
    assert result.original == raw


# ------------------------------------------------------------------------------------- code lists
@pytest.mark.parametrize(
    "raw, expected",
    [
        ("男", "男"), ("女", "女"), ("1", "男"), ("2", "女"), (1, "男"), (2.0, "女"), ("男性", "男"), ("女性", "女"),
        ("M", "男"), ("F", "女"), ("m", "男"), ("f", "女"), ("Ｍ", "男"), (" 男 ", "男"), ("1-男", "男"), ("男(1)", "男"),
        ("1男", "男"), ("1.0", "男"), ("２", "女"),
    ],
)
def test_gender(raw, expected):
    assert norm("person.gender", raw).value == expected


@pytest.mark.parametrize(
    "raw, expected",
    [("汉", "汉族"), ("汉族", "汉族"), ("土家", "土家族"), ("土家族", "土家族"), ("蒙古", "蒙古族"), ("01", "汉族"),
     ("1", "汉族"), (1, "汉族"), ("01汉族", "汉族"), ("01-汉族", "汉族"), ("维吾尔", "维吾尔族")],
)
def test_ethnicity_with_or_without_zu(raw, expected):
    assert norm("person.ethnicity", raw).value == expected


@pytest.mark.parametrize(
    "raw, expected",
    [("是", "是"), ("否", "否"), ("Y", "是"), ("N", "否"), ("y", "是"), ("n", "否"), ("1", "是"), ("0", "否"), (1, "是"),
     (0, "否"), ("√", "是"), ("×", "否"), ("有", "是"), ("无", "否"), (True, "是"), (False, "否"), ("YES", "是")],
)
def test_yes_no_lists(raw, expected):
    for code in ("person.low_income", "person.living_alone", "house.is_dangerous"):
        assert norm(code, raw).value == expected, code


def test_yes_no_variants_apply_only_to_yes_no_lists():
    # 无 on the insurance list is its own alias (未参保); Y is not a value there at all.
    assert norm("person.medical_insurance", "无").value == "未参保"
    assert issue_codes(norm("person.medical_insurance", "Y")) == [(ERROR, "code_unknown")]
    assert issue_codes(norm("person.gender", "√")) == [(ERROR, "code_unknown")]


@pytest.mark.parametrize(
    "code, raw, expected",
    [
        ("person.relation_to_head", "本人", "户主"),
        ("person.relation_to_head", "妻", "配偶"),
        ("person.relation_to_head", "女", "女"),  # the label 女 (daughter) of this list
        ("person.relation_to_head", "02", "户主"),
        ("person.education", "文盲", "文盲或半文盲"),
        ("person.education", "大专", "大学专科"),
        ("person.marital_status", "离异", "离婚"),
        ("person.medical_insurance", "城乡居民医保", "城乡居民基本医疗保险"),
        ("person.disability_category", "精神", "精神残疾"),
        ("person.disability_category", "肢体残疾", "肢体残疾"),
        ("person.disability_level", "四级", "四级"),
        ("person.disability_level", "4级", "四级"),
        ("person.disability_level", "4", "四级"),
        ("house.structure", "砖混结构", "砖混"),
        ("house.structure", "钢筋混凝土结构", "钢混"),
        ("house.usage", "自住兼经营", "自住兼经营"),
        ("house.safety_level", "A", "A级"),
        ("house.safety_level", "b", "B级"),
        ("house.safety_level", "C级", "C级"),
        ("house.safety_level", "ｄ级", "D级"),
        ("household.type", "家庭户口", "家庭户"),
        ("place.type", "1", "文化礼堂"),
        ("place.type", "农家乐", "民宿农家乐"),
        ("person.political_status", "党员", "中共党员"),
    ],
)
def test_code_lists_of_the_shipped_catalog(code, raw, expected):
    assert norm(code, raw) == Normalized(expected, (), str(raw))


@pytest.mark.parametrize("code, raw", [("person.gender", "其它"), ("person.ethnicity", "火星族"),
                                       ("house.structure", "茅草"), ("person.gender", "3"), ("person.gender", "1-女")])
def test_unknown_code_values_are_rejected_and_kept(code, raw):
    result = norm(code, raw)
    assert result.value == "" and result.original == raw
    ((level, issue_code),) = issue_codes(result)
    assert (level, issue_code) == (ERROR, "code_unknown")
    assert raw in result.issues[0].message


def test_code_results_are_cached_per_spec_but_not_across_languages():
    spec = element_spec_from_dict(next(e for e in CATALOG["elements"] if e["code"] == "person.gender"))
    first = normalize(spec, "男性")
    assert normalize(spec, "男性") is first
    assert "男性" in spec.cache
    normalize(spec, "外星")
    assert "外星" not in spec.cache  # results with issues are rebuilt so messages follow the language


# ------------------------------------------------------------------------------------------ specs
def test_element_spec_from_dict():
    spec = SPECS["person.ethnicity"]
    assert (spec.code, spec.type, spec.code_width) == ("person.ethnicity", "code", 2)
    assert spec.labels[0] == "汉族"
    assert spec.codes["汉"] == "汉族"
    assert SPECS["person.low_income"].yes_no and not SPECS["person.gender"].yes_no
    assert SPECS["person.name"].kind == "name"
    assert SPECS["place.name"].kind == ""
    assert SPECS["house.address"].kind == "address"
    assert SPECS["person.grid"].kind == "grid"


def test_element_spec_refuses_unknown_types():
    with pytest.raises(ValueError):
        element_spec_from_dict({"code": "person.x", "type": "colour"})


def test_specs_are_hashable_and_comparable():
    assert hash(SPECS["person.gender"])
    assert SPECS["person.gender"] == element_spec_from_dict(
        next(e for e in CATALOG["elements"] if e["code"] == "person.gender")
    )


def test_other_types():
    bool_spec = element_spec_from_dict({"code": "person.flag", "type": "bool"})
    assert normalize(bool_spec, True).value == "是"
    assert normalize(bool_spec, "N").value == "否"
    area = element_spec_from_dict({"code": "person.area", "type": "area_code"})
    assert normalize(area, 330726111201).value == "330726111201"
    assert normalize(area, "330726").value == "330726"
    assert issue_codes(normalize(area, "33072")) == [(ERROR, "area_code_invalid")]
    text = element_spec_from_dict({"code": "person.note", "type": "text"})
    assert normalize(text, " 第一行  说明\r\n第二行 ").value == "第一行 说明\n第二行"


@pytest.mark.django_db
def test_specs_from_the_database_match_those_from_the_json():
    catalog_load(data=BUILTIN_CATALOG.read_bytes())
    specs = element_specs_from_catalog()
    assert set(specs) == set(SPECS)
    for code, spec in specs.items():
        assert spec == SPECS[code], code
        assert dict(spec.codes) == dict(SPECS[code].codes), code


def test_spec_builds_need_no_database():
    spec = ElementSpec(code="person.name", type="string", kind="name")
    assert normalize(spec, "张 三").value == "张三"


# ------------------------------------------------------------------------------------------- rows
def test_normalize_row_returns_values_and_issues():
    row = {
        "person.name": "黄\u3000琴",
        "person.id_number": "33072619440724890x",  # bad check digit
        "person.gender": "2",
        "person.birth_date": "1944年7月24日",
        "person.ethnicity": "汉",
        "person.phone": "+86 138-0013-8000",
        "person.education": None,
        "person.low_income": "火星",
    }
    values, issues = normalize_row(SPECS, row)
    assert values == {
        "person.name": "黄琴",
        "person.gender": "女",
        "person.birth_date": "1944-07-24",
        "person.ethnicity": "汉族",
        "person.phone": "13800138000",
        "person.education": "",
    }
    assert set(issues) == {"person.id_number", "person.low_income"}
    assert issues["person.id_number"][0].code == "id_number_checksum"


def test_normalize_row_adds_consistency_warnings():
    row = {"person.id_number": "330726194407248902", "person.birth_date": "1950-01-01", "person.gender": "男"}
    values, issues = normalize_row(SPECS, row)
    assert values["person.id_number"] == "330726194407248902"
    assert [i.code for i in issues["person.id_number"]] == ["id_birth_date_mismatch", "id_gender_mismatch"]
    assert all(i.level == WARNING for i in issues["person.id_number"])


def test_normalize_row_reports_unknown_elements():
    values, issues = normalize_row(SPECS, {"person.shoe_size": "42"})
    assert values == {}
    assert issues["person.shoe_size"][0].code == "element_unknown"
