import datetime

import pytest

from yici.catalog.mapping import element_index
from yici.reports.population import (
    Clause,
    FilterError,
    add_derived,
    age_on,
    check_reachable,
    parse_where,
    population,
)
from yici.reports.tests.conftest import AS_OF


@pytest.fixture
def index(catalog):
    return element_index()


def test_all_and_empty_select_everyone(index):
    assert parse_where("all", elements=index) == []
    assert parse_where("", elements=index) == []
    assert parse_where(None, elements=index) == []


def test_it_reads_clauses_joined_by_and(index):
    clauses = parse_where("person.village==上塘村 and age>=80 and person.disability_category!=''", elements=index)
    assert clauses == [Clause("person.village", "==", "上塘村"), Clause("person.age", ">=", "80"),
                       Clause("person.disability_category", "!=", "")]


def test_a_code_or_alias_means_its_label_and_a_name_means_its_element(index):
    assert parse_where("person.gender==1", elements=index) == [Clause("person.gender", "==", "男")]
    assert parse_where("person.low_income=='是'", elements=index) == [Clause("person.low_income", "==", "是")]
    assert parse_where("性别==女性", elements=index) == [Clause("person.gender", "==", "女")]


@pytest.mark.parametrize(("where", "message"), [
    ("person.nonsense==1", "Unknown data element “person.nonsense”"),
    ("age=80", "Cannot read the filter clause “age=80”"),
    ("age>=eighty", "person.age is a number"),
    ("person.birth_date<1.1.1945", "is a date"),
    ("person.low_income==yes", "“yes” is not a value of person.low_income"),
    ("age>=''", "needs a value"),
])
def test_it_refuses_a_filter_it_cannot_read(index, where, message):
    with pytest.raises(FilterError, match=message):
        parse_where(where, elements=index)


def test_a_filter_must_be_about_the_rows(index):
    check_reachable(parse_where("household.type==家庭户 and age>=60", elements=index), "person")
    with pytest.raises(FilterError, match="names place.type, but the template's rows are person records"):
        check_reachable(parse_where("place.type==卫生室", elements=index), "person")


@pytest.mark.parametrize(("actual", "op", "value", "expected"), [
    ("80", ">=", "80", True), ("79", ">=", "80", False), ("100", ">", "99", True), ("", ">=", "0", False),
    ("", "==", "", True), ("是", "!=", "", True), ("1944-07-01", "<", "1945-01-01", True),
])
def test_clauses_compare_numbers_as_numbers_and_dates_as_text(actual, op, value, expected):
    assert Clause("person.x", op, value).matches({"person.x": actual} if actual else {}) is expected


def test_age_is_whole_years_on_the_as_of_date():
    assert age_on("1945-06-30", AS_OF) == 80
    assert age_on("1945-07-01", AS_OF) == 79
    assert age_on("2000-02-29", datetime.date(2025, 2, 28)) == 24
    assert age_on("not a date", AS_OF) is None


def test_derived_elements_are_computed_not_stored():
    values = {"person.birth_date": "1945-06-30", "person.age": "12", "house.safety_level": "D级"}
    add_derived(values, AS_OF)
    assert (values["person.age"], values["person.elderly"], values["house.is_dangerous"]) == ("80", "是", "是")
    values = {"person.birth_date": "1950-01-01", "house.safety_level": "B级"}
    add_derived(values, AS_OF)
    assert (values["person.elderly"], values["house.is_dangerous"]) == ("否", "否")
    values = {"person.age": "70"}  # no birth date: no age, whatever a source once said
    add_derived(values, AS_OF)
    assert values == {}


def test_the_population_is_the_area_subtree_filtered(world, people, index):
    everyone = population(entity="person", area=world.township, clauses=[], as_of=AS_OF)
    assert {r.values["person.name"] for r in everyone} == {"张大山", "李秀英", "张小明", "王芳", "赵四"}
    village = population(entity="person", area=world.village, clauses=parse_where("age>=80", elements=index),
                         as_of=AS_OF)
    assert [r.values["person.name"] for r in village] == ["张大山", "李秀英"]  # the head first
    assert village[0].values["person.age"] == "80"
    assert village[0].values["household.household_no"] == "1112010001"
    assert village[0].values["person.household_no"] == "1112010001"
    assert village[0].key == f"person:{people['head'].pk}"


def test_merged_away_records_are_not_rows(world, people, index):
    people["young"].merged_into_id = people["son"].pk
    people["young"].save()
    rows = population(entity="person", area=world.village, clauses=[], as_of=AS_OF)
    assert "王芳" not in {r.values["person.name"] for r in rows}


def test_house_rows_carry_their_owner_and_danger(world, houses, index):
    rows = population(entity="house", area=world.village, clauses=parse_where("house.is_dangerous==是", elements=index),
                      as_of=AS_OF)
    assert len(rows) == 1
    values = rows[0].values
    assert (values["house.code"], values["house.owner_name"], values["house.owner_phone"]) == (
        "3307261012010001", "孙房主", "13700000000")
    assert values["house.owner_id_number"].startswith("330726196005")


def test_household_rows_carry_their_head(world, people, index):
    rows = population(entity="household", area=world.village, clauses=[], as_of=AS_OF)
    assert rows[0].values["household.head_id_number"] == people["head"].id_number
    assert rows[0].values["person.name"] == "张大山"
    assert rows[0].values["household.household_no"] == "1112010001"


def test_the_village_and_group_come_from_the_area_when_no_source_said(world, catalog, index):
    from yici.accounts.models import Area, AreaLevel
    from yici.reports.tests.conftest import person

    Area.objects.create(code=world.village.code + "03", name="3组", level=AreaLevel.GROUP, parent=world.village)
    person("周三", datetime.date(1950, 3, 3), seq=31, area=world.village.code + "03")
    person("吴四", datetime.date(1950, 4, 4), seq=32, village="樟树村(老)", grid="9组")
    rows = population(entity="person", area=world.township, clauses=parse_where("person.grid==3组", elements=index),
                      as_of=AS_OF)
    assert [(r.values["person.name"], r.values["person.village"]) for r in rows] == [("周三", "樟树村")]
    rows = population(entity="person", area=world.village, clauses=parse_where("person.grid==9组", elements=index),
                      as_of=AS_OF)
    assert rows[0].values["person.village"] == "樟树村(老)"  # what a source said wins


def test_household_rows_count_their_members(world, people):
    rows = population(entity="household", area=world.village, clauses=[], as_of=AS_OF)
    assert rows[0].values["household.member_count"] == "2"


@pytest.mark.parametrize("where", [
    "age>=80", "age>80", "age<=80", "age<80", "age==80", "age>=0", "age<1", "person.low_income==是",
    "person.gender==女 and age>=60", "person.name==张小明", "person.village==樟树村", "person.disability_category!=''",
    "person.birth_date==1945-06-30", "person.birth_date<1950-01-01", "person.household_no==1112010001",
])
def test_the_database_preselection_never_loses_a_record(world, people, index, where):
    from yici.accounts.models import Area, AreaLevel
    from yici.reports.tests.conftest import person

    Area.objects.create(code=world.village.code + "05", name="5组", level=AreaLevel.GROUP, parent=world.village)
    person("边界", datetime.date(1945, 7, 1), seq=41, area=world.village.code + "05")  # 79 on the as-of date
    person("闰日", datetime.date(1944, 2, 29), seq=42)
    clauses = parse_where(where, elements=index)
    everyone = population(entity="person", area=world.county, clauses=[], as_of=AS_OF)
    expected = [r.pk for r in everyone if all(c.matches(r.values) for c in clauses)]
    assert [r.pk for r in population(entity="person", area=world.county, clauses=clauses, as_of=AS_OF)] == expected
