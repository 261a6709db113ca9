import datetime
import hashlib
import io
import json
from collections import Counter, defaultdict

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse
from pypinyin import Style, lazy_pinyin

from yici.accounts.models import Area, AreaLevel, User
from yici.demo.models import DemoDataset
from yici.demo.services import (
    AS_OF,
    COUNTY_CODE,
    DEMO_PASSWORD,
    DEMO_USERS,
    DemoError,
    demo_generate,
    demo_reset,
)
from yici.registry.idnumbers import is_valid_id_number
from yici.registry.models import House, Household, Person, Place

PERSONS = 300

# Code-list labels from the catalog (person.* and house.* elements the demo fills).
LABELS = {
    "person.political_status": {"中共党员", "中共预备党员", "共青团员", "群众"},
    "person.education": {"研究生", "大学本科", "大学专科", "中等专科", "高中", "初中", "小学", "文盲或半文盲"},
    "person.marital_status": {"未婚", "已婚", "丧偶", "离婚"},
    "person.low_income": {"是", "否"},
    "person.veteran": {"是", "否"},
    "person.living_alone": {"是", "否"},
    "person.medical_insurance": {"城镇职工基本医疗保险", "城乡居民基本医疗保险", "未参保"},
    "person.disability_category": {"视力残疾", "听力残疾", "言语残疾", "肢体残疾", "智力残疾", "精神残疾", "多重残疾"},
    "house.usage": {"自住", "出租", "经营", "自住兼经营", "闲置", "生产", "其他"},
    "house.safety_level": {"A级", "B级", "C级", "D级"},
}
RELATIONS = {"户主", "配偶", "子", "女", "女婿", "儿媳", "孙子", "孙女", "外孙子", "外孙女", "父亲", "母亲"}
PLACE_TYPES = {"文化礼堂", "村委会办公场所", "卫生室", "商店超市", "餐饮店", "加工作坊", "民宿农家乐", "幼儿园",
               "养老服务场所", "宗教活动场所", "仓库"}


@pytest.fixture
def demo(db):
    return demo_generate(seed=2026, persons=PERSONS)


def fingerprint() -> str:
    """A digest of everything generated except primary keys and timestamps."""
    digest = hashlib.sha256()
    rows = [
        Area.objects.order_by("code").values_list("code", "name", "level", "parent__code"),
        Household.objects.order_by("household_no").values_list("household_no", "head_name", "address", "phone",
                                                               "area_code", "attributes"),
        Person.objects.order_by("id_number").values_list("id_number", "name", "name_initials", "gender",
                                                         "birth_date", "phone", "relation_to_head", "address",
                                                         "area_code", "household__household_no", "attributes"),
        House.objects.order_by("code").values_list("code", "address", "owner__id_number", "structure", "floors",
                                                   "area_code", "attributes"),
        Place.objects.order_by("code").values_list("code", "name", "place_type", "address", "manager_name",
                                                   "manager_phone", "area_code"),
        User.objects.order_by("username").values_list("username", "role", "area__code", "department__code"),
    ]
    for queryset in rows:
        for row in queryset:
            digest.update(json.dumps(row, sort_keys=True, default=str, ensure_ascii=False).encode())
    return digest.hexdigest()


def age(birth: datetime.date) -> int:
    return AS_OF.year - birth.year - ((AS_OF.month, AS_OF.day) < (birth.month, birth.day))


def test_the_same_seed_generates_the_same_county(demo):
    first = fingerprint()
    demo_reset()
    assert not Person.objects.exists() and not Area.objects.filter(code__startswith="330726").exists()
    assert demo_generate(seed=2026, persons=PERSONS) == demo
    assert fingerprint() == first


def test_another_seed_generates_other_residents(demo):
    names = set(Person.objects.values_list("id_number", flat=True))
    demo_reset()
    demo_generate(seed=7, persons=PERSONS)
    assert set(Person.objects.values_list("id_number", flat=True)) != names


def test_it_generates_the_requested_residents_and_reports_counts(demo):
    assert Person.objects.count() == PERSONS == demo["persons"]
    assert Household.objects.count() == demo["households"]
    assert House.objects.count() == demo["houses"]
    assert Place.objects.count() == demo["places"]
    assert demo["townships"] == 2 and demo["villages"] == 6 and demo["users"] == len(DEMO_USERS) == 7


def test_every_id_number_is_valid_unique_and_matches_birth_date_and_gender(demo):
    persons = list(Person.objects.all())
    numbers = [p.id_number for p in persons]
    assert len(set(numbers)) == len(numbers)
    for p in persons:
        assert is_valid_id_number(p.id_number), p.id_number
        assert p.id_number.startswith("330726")
        assert p.id_number[6:14] == p.birth_date.strftime("%Y%m%d")
        assert p.gender == ("男" if int(p.id_number[16]) % 2 else "女")


def test_every_person_lives_in_a_villager_group_of_the_county(demo):
    groups = {
        a.code: a for a in Area.objects.filter(level=AreaLevel.GROUP).select_related("parent__parent__parent")
    }
    for p in Person.objects.all():
        group = groups[p.area_code]
        assert group.parent.level == AreaLevel.VILLAGE
        assert group.parent.parent.parent.code == COUNTY_CODE
        assert p.address.startswith("浙江省金华市浦江县" + group.parent.parent.name + group.parent.name + group.name)
        assert p.address.endswith("号")


def test_the_area_tree_has_the_expected_shape(demo):
    county = Area.objects.get(code=COUNTY_CODE)
    assert (county.name, county.level, county.parent.code, county.parent.parent.code) == (
        "浦江县", AreaLevel.COUNTY, "330700000000", "330000000000")
    townships = list(county.children.order_by("code"))
    assert [t.name for t in townships] == ["岩头镇", "郑宅镇"]
    for township in townships:
        villages = list(township.children.all())
        assert len(villages) == 3
        for village in villages:
            groups = list(village.children.order_by("code"))
            assert 5 <= len(groups) <= 9
            assert [g.name for g in groups] == [f"{i}组" for i in range(1, len(groups) + 1)]
            assert groups[0].code == village.code + "01" and groups[0].prefix == groups[0].code


def test_every_household_has_exactly_one_head_and_plausible_ages(demo):
    members = defaultdict(list)
    for p in Person.objects.select_related("household"):
        members[p.household_id].append(p)
        assert p.relation_to_head in RELATIONS
        assert p.area_code == p.household.area_code and p.address == p.household.address
    for household_members in members.values():
        assert 1 <= len(household_members) <= 6
        heads = [p for p in household_members if p.relation_to_head == "户主"]
        assert len(heads) == 1
        head = heads[0]
        assert head.household.head_name == head.name
        for p in household_members:
            if p.relation_to_head == "配偶":
                assert abs(age(p.birth_date) - age(head.birth_date)) <= 8
                assert p.gender != head.gender
            elif p.relation_to_head in ("子", "女"):
                assert age(head.birth_date) - age(p.birth_date) >= 18
            elif p.relation_to_head in ("父亲", "母亲"):
                assert age(p.birth_date) - age(head.birth_date) >= 18


def test_the_population_is_ageing(db):
    demo_generate(seed=2026, persons=2000)
    ages = [age(b) for b in Person.objects.values_list("birth_date", flat=True)]
    assert sum(a >= 60 for a in ages) / len(ages) > 0.18
    assert 0.01 < sum(a >= 80 for a in ages) / len(ages) < 0.10
    assert max(ages) <= 100


def test_attributes_hold_catalog_labels(demo):
    values = defaultdict(Counter)
    for attributes in Person.objects.values_list("attributes", flat=True):
        for key, value in attributes.items():
            values[key][value] += 1
    for key, labels in LABELS.items():
        if key.startswith("person."):
            assert set(values[key]) <= labels, key
    assert values["person.ethnicity"]["汉族"] > 0.9 * PERSONS
    assert 0 < values["person.low_income"]["是"] < 0.15 * PERSONS
    for attributes in Person.objects.filter(attributes__has_key="person.enlist_date").values_list("attributes", flat=True):
        assert attributes["person.veteran"] == "是"
        assert attributes["person.enlist_date"] < attributes["person.discharge_date"] < AS_OF.isoformat()
    for p in Person.objects.filter(attributes__has_key="person.disability_category"):
        assert p.attributes["person.disability_cert_no"][:18] == p.id_number
        assert p.attributes["person.disability_level"] in {"一级", "二级", "三级", "四级"}


def test_names_have_pinyin_initials_and_phones_are_mobiles(demo):
    for p in Person.objects.all():
        assert p.name_initials == "".join(lazy_pinyin(p.name, style=Style.FIRST_LETTER)).lower()
        assert p.phone == "" or (len(p.phone) == 11 and p.phone.isdigit() and p.phone[0] == "1")
    assert Person.objects.filter(phone="").exists()


def test_houses_belong_to_household_heads_and_places_to_villages(demo):
    villages = {a.code: a for a in Area.objects.filter(level=AreaLevel.VILLAGE)}
    per_household = Counter()
    for house in House.objects.select_related("owner", "household"):
        assert len(house.code) == 16 and house.code[:12] in villages
        assert house.owner.relation_to_head == "户主" and house.owner.household_id == house.household_id
        assert house.attributes["house.usage"] in LABELS["house.usage"]
        assert house.attributes["house.safety_level"] in LABELS["house.safety_level"]
        assert house.structure in {"钢混", "砖混", "砖木", "土木", "其他"} and 1 <= house.floors <= 5
        per_household[house.household_id] += 1
    assert set(per_household.values()) <= {1, 2}
    assert len(per_household) == Household.objects.count()
    places = Counter()
    for place in Place.objects.all():
        assert place.place_type in PLACE_TYPES and place.manager_name and len(place.manager_phone) == 11
        places[place.area_code[:12]] += 1
    assert set(places) == set(villages) and all(5 <= n <= 10 for n in places.values())


def test_departments_exist(demo):
    from yici.accounts.models import Department

    assert set(Department.objects.values_list("code", flat=True)) >= {
        "minzheng", "zhujian", "weijian", "gongan", "wenlv", "tuiyijunren", "canlian", "yibao"}


@pytest.mark.parametrize("spec", DEMO_USERS, ids=[u["username"] for u in DEMO_USERS])
def test_every_demo_user_exists_with_its_role_and_can_log_in(client, demo, spec):
    user = User.objects.get(username=spec["username"])
    assert (user.role, user.area.name, user.area.code) == (spec["role"], spec["area"], spec["area_code"])
    if spec["department"]:
        assert user.department.code == spec["department"]
    response = client.post(reverse("accounts:login"), {"username": spec["username"], "password": DEMO_PASSWORD})
    assert response.status_code == 302
    assert int(client.session["_auth_user_id"]) == user.pk


def test_the_two_cadres_are_in_villages_of_different_townships(demo):
    cadre, cadre2 = User.objects.get(username="cadre"), User.objects.get(username="cadre2")
    assert cadre.area.parent_id != cadre2.area.parent_id
    assert User.objects.get(username="township").area == cadre.area.parent


def run(*args) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("demo", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


@pytest.mark.django_db
@pytest.mark.parametrize("persons", ["5", "200001", "-1"])
def test_the_command_refuses_a_bad_persons_count_and_stores_nothing(persons):
    with pytest.raises(CommandError) as error:
        run("--persons", persons)
    assert error.value.returncode == 1
    assert "\n" not in str(error.value) and "persons must be between 10 and 200000" in str(error.value)
    assert not Area.objects.exists() and not Person.objects.exists() and not User.objects.exists()


@pytest.mark.django_db
def test_the_command_prints_a_summary_and_the_logins():
    out, _err = run("--persons", str(PERSONS))
    assert "persons" in out and str(PERSONS) in out
    for spec in DEMO_USERS:
        assert spec["username"] in out
    assert DEMO_PASSWORD in out


@pytest.mark.django_db
def test_a_second_run_without_reset_changes_nothing():
    run("--persons", str(PERSONS), "--quiet")
    before = fingerprint()
    out, _err = run("--persons", "500", "--seed", "1")
    assert "already exists" in out and len(out.strip().splitlines()) == 1
    assert fingerprint() == before and Person.objects.count() == PERSONS


@pytest.mark.django_db
def test_reset_replaces_the_demo_and_keeps_other_data():
    elsewhere = Area.objects.create(code="330782000000", name="义乌市", level=AreaLevel.COUNTY)
    Person.objects.create(name="外县人", area_code="330782001001", id_number="")
    run("--persons", str(PERSONS), "--quiet")
    first = fingerprint()
    out, _err = run("--reset", "--persons", "200", "--seed", "3", "--quiet")
    assert Person.objects.filter(area_code__startswith="330726").count() == 200
    assert fingerprint() != first
    assert Person.objects.filter(name="外县人").exists() and Area.objects.filter(pk=elsewhere.pk).exists()
    assert User.objects.filter(username="admin").count() == 1 and DemoDataset.objects.count() == 1


@pytest.mark.django_db
def test_reset_refuses_a_county_the_demo_did_not_generate():
    Area.objects.create(code=COUNTY_CODE, name="浦江县", level=AreaLevel.COUNTY)
    Person.objects.create(name="真实居民", area_code="33072610120101")
    out, _err = run("--quiet")
    assert "not demo data" in out
    with pytest.raises(CommandError):
        run("--reset", "--quiet")
    assert Person.objects.filter(name="真实居民").exists()
    with pytest.raises(DemoError):
        demo_reset()


@pytest.mark.django_db
def test_it_refuses_when_a_demo_user_name_is_taken_and_stores_nothing():
    User.objects.create_user(username="admin", password="x")
    with pytest.raises(CommandError, match="admin"):
        run("--persons", "20", "--quiet")
    assert not Area.objects.exists() and not Person.objects.exists()
