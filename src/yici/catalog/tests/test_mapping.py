import json
import time

import pytest
from django.utils import translation

from yici.audit.models import AuditEvent
from yici.catalog.mapping import (
    CONFIRM_BELOW,
    MIN_CONFIDENCE,
    ColumnInput,
    MappingError,
    element_index,
    header_key,
    map_columns,
    mapping_confirm,
)
from yici.catalog.models import HeaderMapping
from yici.catalog.services import BUILTIN_CATALOG, catalog_parse
from yici.testing.kit import KIT_DIR as KIT

IDS = ["330726194407248902", "33072619821119914X", "330726198212094091", "330726195611026316"]
PHONES = ["13912345678", "+86 153 1234 5678", "188-1234-5678", "15900001111"]


@pytest.fixture(autouse=True)
def english():
    with translation.override("en"):
        yield


@pytest.fixture
def cadre(world):
    return world.cadre


@pytest.fixture(scope="module")
def index():
    """The shipped catalog, indexed without the database."""
    return element_index(catalog_parse(data=BUILTIN_CATALOG.read_bytes()))


def mapped(headers, index, **kwargs) -> list[str | None]:
    cols = [ColumnInput(h if isinstance(h, tuple) else (h,)) for h in headers]
    return [m.element_code for m in map_columns(cols, elements=index, use_remembered=False, **kwargs)]


def one(header, index, samples=(), **kwargs):
    path = header if isinstance(header, tuple) else (header,)
    return map_columns([ColumnInput(path, list(samples))], elements=index, use_remembered=False, **kwargs)[0]


# --- the data kit ---------------------------------------------------------------------------------


@pytest.mark.skipif(not KIT.exists(), reason=f"{KIT} is not present in this checkout")
def test_it_maps_the_columns_of_the_kit_legacy_files_and_templates(loaded_catalog):
    from yici.exchange.tabular import read_table

    index = element_index()  # the catalog as loaded into the database
    jobs = []
    for item in json.loads((KIT / "truth" / "legacy_columns.json").read_text(encoding="utf-8")):
        jobs.append((KIT / "legacy" / item["file"], item["columns"]))
    for path in sorted((KIT / "truth" / "templates").glob("*.json")):
        truth = json.loads(path.read_text(encoding="utf-8"))
        jobs.append((KIT / "templates" / truth["file"], [c for c in truth["columns"]]))
    total, misses = 0, []
    for path, truth in jobs:
        table = read_table(path, filename=path.name)
        cols = [ColumnInput(c.header_path, table.column_values(c.index, limit=50)) for c in table.columns]
        results = map_columns(cols, elements=index, use_remembered=False)
        assert len(results) == len(truth)
        for column, result, expected in zip(table.columns, results, truth, strict=True):
            if expected.get("role") == "seq":
                continue
            total += 1
            if result.element_code != expected["element_code"]:
                misses.append(f"{path.name} {column.letter} {'/'.join(column.header_path)!r}: "
                              f"{result.element_code} (want {expected['element_code']})")
    accuracy = 1 - len(misses) / total
    print(f"mapping accuracy {accuracy:.4f} over {total} columns; misses: {misses}")
    assert accuracy >= 0.98, misses


# --- evidence ------------------------------------------------------------------------------------


def test_an_element_code_as_header_is_exact(index):
    result = one("person.id_number", index)
    assert (result.element_code, result.confidence, result.method) == ("person.id_number", 1.0, "exact")
    assert not result.needs_confirmation


def test_standard_names_and_synonyms(index):
    assert (one("公民身份号码", index).element_code, one("公民身份号码", index).method) == ("person.id_number", "exact")
    result = one("身份证件号码", index)
    assert (result.element_code, result.confidence, result.method) == ("person.id_number", 1.0, "synonym")
    assert one("家庭关系", index).element_code == "person.relation_to_head"


def test_headers_are_normalised(index):
    assert mapped(["性　别", "身份证号（18位）", "建筑面积(㎡)", "*姓名", "联系电话：", "民族\n（族别）", "工作单位(\n就读学校)"],
                  index, entity="person") == [
        "person.gender", "person.id_number", "house.floor_area", "person.name", "person.phone", "person.ethnicity",
        "person.employer"]
    # 号码/号, 时间/日期, 联系方式/电话 and other interchangeable words
    assert mapped(["身份证号", "出生时间", "手机号", "现居住地", "残疾证编号"], index) == [
        "person.id_number", "person.birth_date", "person.phone", "person.current_address", "person.disability_cert_no"]


def test_a_typo_or_homophone_still_maps_with_less_confidence(index):
    typo = one("出生日其", index)
    assert typo.element_code == "person.birth_date" and typo.method == "fuzzy" and typo.confidence < 1
    homophone = one("身分证号", index)
    assert homophone.element_code == "person.id_number" and homophone.confidence < 1
    assert one("成员姓名", index).element_code == "person.name"
    assert one("现年龄", index).element_code == "person.age"


def test_a_group_header_says_whose_field_it_is(index):
    assert mapped([("户主信息", "姓名"), ("户主信息", "身份证号"), ("成员信息", "姓名"), ("成员信息", "身份证号")],
                  index, entity="person") == [
        "person.household_head_name", "household.head_id_number", "person.name", "person.id_number"]
    assert mapped([("产权人信息", "姓名"), ("产权人信息", "联系电话"), "房屋编号"], index) == [
        "house.owner_name", "house.owner_phone", "house.code"]
    assert mapped([("场所信息", "单位名称"), ("场所信息", "负责人"), ("场所信息", "联系方式")], index) == [
        "place.name", "place.manager_name", "place.manager_phone"]


def test_a_role_word_in_the_header(index):
    assert mapped(["户主身份证号", "房东身份证号", "业主姓名", "出租人", "所在户户主"], index, entity="person") == [
        "household.head_id_number", "house.owner_id_number", "house.owner_name", None, "person.household_head_name"]
    # Someone else's name or phone is not a registry field of the row.
    assert mapped(["监护人", "监护人电话", "配偶姓名", "联系人电话"], index, entity="person") == [None] * 4


def test_the_entity_prefers_its_own_elements_but_reaches_across(index):
    assert one("身份证号码", index, entity="person").element_code == "person.id_number"
    # In a house file a bare ID or phone is the owner's; 户主 means the owner.
    assert mapped(["户主姓名", "身份证号码", "联系电话", "性别"], index, entity="house") == [
        "house.owner_name", "house.owner_id_number", "house.owner_phone", "person.gender"]
    # Without a hint, the entity is inferred from the unambiguous columns.
    assert mapped(["房屋编号", "结构类型", "层数", "身份证号码", "联系电话"], index) == [
        "house.code", "house.structure", "house.floors", "house.owner_id_number", "house.owner_phone"]
    assert mapped(["姓名", "性别", "民族", "身份证号码", "联系电话"], index) == [
        "person.name", "person.gender", "person.ethnicity", "person.id_number", "person.phone"]


def test_values_name_the_element_when_the_header_does_not(index):
    assert (one("col7", index, IDS).element_code, one("col7", index, IDS).method) == ("person.id_number", "pattern")
    assert one("号", index, PHONES).element_code == "person.phone"
    assert one("XB", index, ["男", "女", "男", "女"]).element_code == "person.gender"
    assert one("族", index, ["汉族", "回族", "汉", "畲族"]).element_code == "person.ethnicity"
    pattern = one("col7", index, IDS)
    assert pattern.confidence < CONFIRM_BELOW and pattern.needs_confirmation
    # Dates say too little on their own (建档日期, 活动日期 …), and so do 是/否 columns.
    assert one("col8", index, ["2023-01-09", "2022-03-05", "2021-07-01"]).element_code is None
    assert one("col9", index, ["是", "否", "是"]).element_code is None


def test_values_pick_between_candidates_and_contradict_a_header(index):
    assert one("残疾", index, ["一级", "二级", "四级", "二级"]).element_code == "person.disability_level"
    assert one("残疾", index, ["视力残疾", "肢体", "精神残疾"]).element_code == "person.disability_category"
    shifted = one("出生日期", index, ["张三", "李四", "王五", "赵六"])
    assert shifted.element_code is None
    assert shifted.candidates[0][0] == "person.birth_date"
    messy = one("出生日期", index, ["19440724", "1985年3月2日", "1985.3.2", "1985/03/02"])
    assert messy.element_code == "person.birth_date" and messy.confidence == 1.0
    ids = one("身份证号", index, ["330726 19570410 1821", "３３０７８２１９５３１１２７６６４８", 3.30726194407249e17,
                                  "330726530410182"])
    assert ids.element_code == "person.id_number"


def test_each_element_goes_to_one_column(index):
    results = map_columns([ColumnInput((h,)) for h in ["联系电话", "手机号", "姓名", "姓名"]], elements=index,
                          use_remembered=False, entity="person")
    codes = [r.element_code for r in results]
    assert codes[0] == "person.phone" and codes[2] == "person.name"
    assert codes[1] != "person.phone" and codes[3] is None
    assert len({c for c in codes if c}) == len([c for c in codes if c])
    # The loser keeps its candidates, so a person can swap them.
    assert results[3].candidates[0] == ("person.name", 1.0)
    # The better column wins, wherever it stands.
    assert mapped(["名字啊", "姓名"], index) == [None, "person.name"]


def test_non_registry_columns_stay_unmapped(index):
    for header in ["备注", "签字", "走访情况", "存在问题", "曾用名", "兵役状况", "发现问题", "走访人签字", "序号", "序 号",
                   "高龄补贴标准(元/月)", "救助类型", "活动名称", "排查日期"]:
        result = one(header, index, entity="person")
        assert result.element_code is None, header
        assert result.confidence == 0.0 and result.method == "none"


def test_a_weak_guess_is_kept_but_asks_for_confirmation(index):
    result = one("建房时间", index, entity="house")
    assert result.element_code == "house.built_year"
    assert MIN_CONFIDENCE <= result.confidence < CONFIRM_BELOW
    assert result.needs_confirmation
    assert result.candidates[0] == ("house.built_year", result.confidence)


def test_header_keys_are_normalised_paths():
    assert header_key(("户主信息", "身份证 号")) == "户主信息|身份证号"
    assert header_key(("（户主）", "ＩＤ")) == "(户主)|id"
    assert header_key(("", "姓名")) == "姓名"


def test_mapping_forty_columns_takes_milliseconds(index):
    headers = ["序号", "姓名", "性别", "民族", "出生日期", "身份证号", "联系电话", "户籍地址", "现住址", "文化程度",
               "婚姻状况", "政治面貌", "工作单位", "户号", "与户主关系", "户主姓名", "所在村", "组别", "是否低保", "是否特困",
               "残疾类别", "残疾等级", "残疾证号", "是否退役军人", "入伍时间", "退役时间", "是否独居", "参保类型",
               "养老保险类型", "备注", "签字", "走访情况", "存在问题", "年龄", "高龄", "家庭人口数", "户别", "户主电话",
               "曾用名", "说明"]
    cols = [ColumnInput((h,), IDS if h == "身份证号" else []) for h in headers]
    map_columns(cols, elements=index, use_remembered=False)
    started = time.perf_counter()
    results = map_columns(cols, elements=index, use_remembered=False)
    assert time.perf_counter() - started < 0.2
    assert sum(r.element_code is not None for r in results) >= 32


def test_it_reads_the_catalog_and_confirmations_in_three_queries(loaded_catalog, django_assert_num_queries):
    cols = [ColumnInput((h,)) for h in ["姓名", "性别", "身份证号", "备注"] * 10]
    with django_assert_num_queries(3):
        results = map_columns(cols, context="minzheng")
    assert [r.element_code for r in results[:4]] == ["person.name", "person.gender", "person.id_number", None]
    index = element_index()
    with django_assert_num_queries(1):
        map_columns(cols, elements=index, context="minzheng")
    with django_assert_num_queries(0):
        map_columns(cols, elements=index, use_remembered=False)


# --- remembered confirmations --------------------------------------------------------------------


def test_a_remembered_confirmation_wins(loaded_catalog, cadre):
    mapping_confirm(header_path=("户别",), context="", element_code=None, actor=cadre)
    mapping_confirm(header_path=("档案", "编号"), context="weijian", element_code="person.household_no", actor=cadre)
    results = map_columns([ColumnInput(("户别",)), ColumnInput(("档案", "编号")), ColumnInput(("姓名",))],
                          context="weijian")
    assert [(r.element_code, r.method, r.confidence) for r in results] == [
        (None, "remembered", 1.0), ("person.household_no", "remembered", 1.0), ("person.name", "exact", 1.0)]
    assert not results[0].needs_confirmation
    assert results[0].candidates[0][0] == "household.type"  # what the engine would have guessed


def test_a_confirmation_is_per_context_with_the_global_one_as_fallback(loaded_catalog, cadre):
    mapping_confirm(header_path=("编号",), context="", element_code="person.household_no", actor=cadre)
    mapping_confirm(header_path=("编号",), context="zhujian", element_code="house.code", actor=cadre)
    cols = [ColumnInput(("编号",))]
    assert map_columns(cols, context="zhujian")[0].element_code == "house.code"
    assert map_columns(cols, context="minzheng")[0].element_code == "person.household_no"
    assert map_columns(cols)[0].element_code == "person.household_no"
    # Another wording is another header.
    assert map_columns([ColumnInput(("档案编号",))], context="zhujian")[0].method != "remembered"


def test_a_remembered_element_is_not_given_to_a_second_column(loaded_catalog, cadre):
    mapping_confirm(header_path=("名字",), context="", element_code="person.household_head_name", actor=cadre)
    results = map_columns([ColumnInput(("户主姓名",)), ColumnInput(("名字",))], entity="person")
    assert results[1].element_code == "person.household_head_name" and results[1].method == "remembered"
    assert results[0].element_code != "person.household_head_name"


def test_confirming_again_overwrites_counts_and_audits(loaded_catalog, cadre):
    first = mapping_confirm(header_path=("户主信息", "身份证 号"), context="minzheng",
                            element_code="household.head_id_number", actor=cadre)
    assert (first.header_key, first.context, first.element.code, first.uses) == (
        "户主信息|身份证号", "minzheng", "household.head_id_number", 1)
    assert first.confirmed_by == cadre and first.confirmed_at is not None
    second = mapping_confirm(header_path=("户主信息", "身份证号"), context="minzheng", element_code=None, actor=cadre)
    assert second.pk == first.pk and second.element is None and second.uses == 2
    assert HeaderMapping.objects.count() == 1
    events = AuditEvent.objects.filter(object_type="catalog.headermapping").order_by("id")
    assert [(e.action, e.before, e.after["element"]) for e in events] == [
        ("create", None, "household.head_id_number"), ("update", {"element": "household.head_id_number"}, None)]


def test_a_confirmation_needs_a_known_element_and_a_header(loaded_catalog, cadre):
    with pytest.raises(MappingError, match="Unknown data element"):
        mapping_confirm(header_path=("姓名",), context="", element_code="person.nickname", actor=cadre)
    with pytest.raises(MappingError, match="empty"):
        mapping_confirm(header_path=(" ",), context="", element_code=None, actor=cadre)
    assert not HeaderMapping.objects.exists()


def test_numbers_with_leading_zeros_are_not_taken_for_landlines(loaded_catalog):
    results = map_columns([ColumnInput(("户号",), ["0000345174", "0000311267", "0000311268", "0000000412"])])
    assert results[0].element_code == "person.household_no"
