import datetime
import hashlib
import io
import json
from collections import Counter, defaultdict

import openpyxl
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import transaction
from django.test import override_settings
from django.urls import reverse
from pypinyin import Style, lazy_pinyin

from yici.accounts.models import Area, AreaLevel, Department, User
from yici.demo import legacy
from yici.demo.models import DemoDataset
from yici.demo.services import (
    AS_OF,
    CITY,
    COUNTY,
    COUNTY_CODE,
    DEMO_PASSWORD,
    DEMO_USERS,
    DemoError,
    _Generator,
    demo_generate,
    demo_reset,
    legacy_folder,
)
from yici.exchange.imports import import_prepare
from yici.exchange.models import ImportBatch, LineSystem
from yici.registry.golden import provenance_of
from yici.registry.idnumbers import is_valid_id_number
from yici.registry.models import House, Household, Link, Person, Place, ReviewPair, SourceKind, SourceRecord

PERSONS = 300


def settled():
    """The demo's golden persons but the few 卫健 typed a second time from memory (``legacy.RECALLED``),
    which linkage leaves apart: the residents."""
    return Person.objects.filter(links__active=True, links__record__system__code="gongan_huji").distinct()


def typed_from_memory():
    return (Person.objects.filter(merged_into_id__isnull=True, links__record__batch__isnull=False)
            .exclude(pk__in=settled().values("pk")).distinct())

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
GONGAN_FILE = "公安_常住人口信息导出.xlsx"


@pytest.fixture(autouse=True)
def _var_dir(settings, tmp_path):
    """Each test writes the demo's exports into its own folder, never into the clone's var/."""
    settings.VAR_DIR = tmp_path / "var"


# By content alone: the persons typed from memory have no ID number.
PERSON_ORDER = ("id_number", "name", "birth_date", "area_code")


def fingerprint() -> str:
    """A digest of everything loaded, by content: no primary keys, record ids or timestamps."""
    digest = hashlib.sha256()
    rows = [
        Area.objects.order_by("code").values_list("code", "name", "level", "parent__code"),
        Household.objects.order_by("household_no").values_list("household_no", "head_name", "address", "phone",
                                                               "area_code", "attributes"),
        Person.objects.order_by(*PERSON_ORDER).values_list("id_number", "name", "name_initials", "gender",
                                                         "birth_date", "phone", "relation_to_head", "address",
                                                         "area_code", "household__household_no", "attributes"),
        House.objects.order_by("code").values_list("code", "address", "owner__id_number", "structure", "floors",
                                                   "area_code", "attributes"),
        Place.objects.order_by("code").values_list("code", "name", "place_type", "address", "manager_name",
                                                   "manager_phone", "area_code", "attributes"),
        SourceRecord.objects.order_by("batch__filename", "batch__sheet_name", "row_number", "entity")
        .values_list("system__code", "batch__filename", "batch__sheet_name", "row_number", "entity", "values", "raw",
                     "issues", "status", "area_code"),
        User.objects.order_by("username").values_list("username", "role", "area__code", "department__code"),
    ]
    for queryset in rows:
        for row in queryset:
            digest.update(json.dumps(row, sort_keys=True, default=str, ensure_ascii=False).encode())
    # Which source won each golden value, and by which rule.
    for person in Person.objects.order_by(*PERSON_ORDER):
        reduced = {code: (p["value"], p["system"], p["rule"]) for code, p in provenance_of("person", person).items()}
        digest.update(json.dumps(reduced, sort_keys=True, ensure_ascii=False).encode())
    return digest.hexdigest()


def age(birth: datetime.date) -> int:
    return AS_OF.year - birth.year - ((AS_OF.month, AS_OF.day) < (birth.month, birth.day))


def run(*args) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("demo", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


# --- Generating, resetting and the command ---------------------------------------------------------


@pytest.mark.django_db
def test_the_same_seed_generates_the_same_county():
    summary = demo_generate(seed=2026, persons=PERSONS)
    first = fingerprint()
    demo_reset()
    assert not Person.objects.exists() and not SourceRecord.objects.exists()
    assert not Area.objects.filter(code__startswith="330726").exists()
    assert demo_generate(seed=2026, persons=PERSONS) == summary
    assert fingerprint() == first


@pytest.mark.django_db
def test_another_seed_generates_other_residents():
    demo_generate(seed=2026, persons=PERSONS)
    numbers = set(Person.objects.values_list("id_number", flat=True))
    demo_reset()
    demo_generate(seed=7, persons=PERSONS)
    assert set(Person.objects.values_list("id_number", flat=True)) != numbers


def generated_world(*, seed: int, persons: int) -> list:
    """The residents the generator makes, before any file is written or imported."""
    generator = _Generator(seed=seed, persons=persons, progress=None)
    generator._ancestors()
    county = Area.objects.create(code=COUNTY[0], name=COUNTY[1], level=AreaLevel.COUNTY,
                                 parent=Area.objects.get(code=CITY[0]))
    villages, _n = generator._areas(county)
    generator._population(villages)
    return [m for family in generator.families for m in family.members]


@pytest.mark.django_db
def test_the_population_is_ageing():
    ages = [age(m.birth) for m in generated_world(seed=2026, persons=2000)]
    assert len(ages) == 2000
    assert sum(a >= 60 for a in ages) / len(ages) > 0.18
    assert 0.01 < sum(a >= 80 for a in ages) / len(ages) < 0.10
    assert max(ages) <= 100


@pytest.mark.django_db
@pytest.mark.parametrize("persons", ["5", "200001", "-1"])
def test_the_command_refuses_a_bad_persons_count_and_stores_nothing(persons):
    with pytest.raises(CommandError) as error:
        run("--persons", persons)
    assert error.value.returncode == 1
    assert "\n" not in str(error.value) and "persons must be between 10 and 200000" in str(error.value)
    assert not Area.objects.exists() and not Person.objects.exists() and not User.objects.exists()
    assert not SourceRecord.objects.exists() and not legacy_folder().exists()


@pytest.mark.django_db
def test_the_command_prints_a_summary_the_imports_and_the_logins():
    out, _err = run("--persons", str(PERSONS))
    assert "golden persons" in out and str(PERSONS) in out
    for export in legacy.EXPORTS:
        assert export.filename in out
    for spec in DEMO_USERS:
        assert spec["username"] in out
    assert DEMO_PASSWORD in out


@pytest.mark.django_db
def test_a_second_run_without_reset_changes_nothing():
    run("--persons", str(PERSONS), "--quiet")
    before = fingerprint()
    out, _err = run("--persons", "500", "--seed", "1")
    assert "already exists" in out and len(out.strip().splitlines()) == 1
    assert fingerprint() == before and settled().count() == PERSONS


@pytest.mark.django_db
def test_reset_replaces_the_demo_and_keeps_other_data():
    elsewhere = Area.objects.create(code="330782000000", name="义乌市", level=AreaLevel.COUNTY)
    Person.objects.create(name="外县人", area_code="330782001001", id_number="")
    run("--persons", str(PERSONS), "--quiet")
    first = fingerprint()
    out, _err = run("--reset", "--persons", "200", "--seed", "3", "--quiet")
    assert settled().count() == 200 and Person.objects.filter(area_code__startswith="330726").count() == (
        200 + typed_from_memory().count())
    assert fingerprint() != first
    assert Person.objects.filter(name="外县人").exists() and Area.objects.filter(pk=elsewhere.pk).exists()
    assert User.objects.filter(username="admin").count() == 1 and DemoDataset.objects.count() == 1
    assert ImportBatch.objects.count() == len(legacy.EXPORTS)


@pytest.mark.django_db
def test_reset_removes_everything_the_demo_loaded():
    # A line system that existed before the demo is used by it but not deleted with it.
    gongan = Department.objects.create(code="gongan", name="公安")
    kept_system = LineSystem.objects.create(code="gongan_huji", name="公安人口库", department=gongan)
    other = Person.objects.create(name="外县人", area_code="330782001001")
    typed = SourceRecord.objects.create(kind=SourceKind.USER, entity="person", values={"person.name": "外县人"},
                                        observed_at=datetime.datetime(2025, 1, 1, tzinfo=datetime.UTC))
    Link.objects.create(record=typed, person=other, method="direct")
    demo_generate(seed=2026, persons=PERSONS)
    assert SourceRecord.objects.filter(batch__isnull=False).exists() and legacy_folder().exists()
    loaded = PERSONS + typed_from_memory().count()

    counts = demo_reset()

    assert counts["persons"] == loaded and counts["import batches"] == len(legacy.EXPORTS)
    assert counts["source records"] > PERSONS and counts["files"] == len({e.filename for e in legacy.EXPORTS})
    assert list(SourceRecord.objects.all()) == [typed] and list(Link.objects.values_list("record", flat=True)) == [typed.pk]
    assert not ReviewPair.objects.exists() and not ImportBatch.objects.exists()
    assert list(LineSystem.objects.all()) == [kept_system]
    assert list(Person.objects.all()) == [other]
    for model in (Household, House, Place, DemoDataset):
        assert not model.objects.exists(), model
    assert not Area.objects.exists() and not User.objects.exists()
    assert not legacy_folder().exists()


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
    assert not Area.objects.exists() and not Person.objects.exists() and not SourceRecord.objects.exists()


# --- The loaded county (one demo, shared by the read-only tests below) -----------------------------


@pytest.fixture(scope="class")
def loaded(django_db_setup, django_db_blocker, tmp_path_factory):
    """One demo for the whole class, rolled back afterwards; each test runs in a savepoint inside it."""
    with django_db_blocker.unblock(), override_settings(VAR_DIR=tmp_path_factory.mktemp("var")):
        with transaction.atomic():
            yield demo_generate(seed=2026, persons=PERSONS), legacy_folder()
            transaction.set_rollback(True)


@pytest.mark.django_db
class TestTheLoadedDemo:
    @pytest.fixture(autouse=True)
    def _var_dir(self, loaded):
        """The class's demo wrote its files into the class's folder (this replaces the module's fixture)."""

    def test_it_loads_the_requested_residents_and_reports_counts(self, loaded):
        summary, _folder = loaded
        assert summary["residents"] == PERSONS
        # Only a deliberately garbled row that linkage could not decide may add a person (and a review pair).
        assert PERSONS <= Person.objects.filter(merged_into_id__isnull=True).count() == summary["persons"] <= PERSONS + summary["review_pairs"]
        assert Household.objects.count() == summary["households"] > 0
        assert House.objects.count() == summary["houses"] >= summary["households"]
        assert Place.objects.count() == summary["places"] > 0
        assert summary["differences"] == {} or set(summary["differences"]) == {"persons"}
        assert summary["files"] == 7 and summary["source_records"] == SourceRecord.objects.count()
        assert summary["townships"] == 2 and summary["villages"] == 6 and summary["users"] == len(DEMO_USERS) == 7

    def test_every_golden_person_takes_its_name_from_a_gongan_record(self, loaded):
        records = {r.pk: r for r in SourceRecord.objects.select_related("system", "batch")}
        in_review = set(ReviewPair.objects.values_list("left_id", flat=True)) | set(
            ReviewPair.objects.values_list("right_id", flat=True))
        for person in Person.objects.all():
            source = provenance_of("person", person)["person.name"]
            record = records[source["record"]]
            if record.pk in in_review:
                continue
            assert (record.system.code, record.batch.filename, record.entity) == ("gongan_huji", GONGAN_FILE, "person")
            assert source["system"] == "gongan_huji" and source["rule"] in ("authoritative", "only")
            assert record.values["person.name"] == person.name
            assert person.links.filter(active=True, record=record).exists()

    def test_everyone_is_in_the_gongan_export_exactly_once(self, loaded):
        gongan = Counter(Link.objects.filter(active=True, record__system__code="gongan_huji", record__entity="person")
                         .values_list("person_id", flat=True))
        assert set(gongan.values()) == {1} and len(gongan) == PERSONS
        several = Counter(Link.objects.filter(active=True, person__isnull=False).values_list("person_id", flat=True))
        assert any(n >= 3 for n in several.values())  # some persons appear in several departments' files

    def test_a_house_owner_is_linked_to_the_owner_the_house_row_names(self, loaded):
        houses = list(House.objects.select_related("owner__household"))
        assert houses
        for house in houses:
            owner = house.owner
            assert owner is not None, house.code
            assert owner.id_number == house.attributes["house.owner_id_number"]
            assert owner.relation_to_head == "户主" and owner.household is not None
            assert owner.links.filter(active=True, record__system__code="gongan_huji").exists()
            assert house.links.get(active=True).record.system.code == "zhujian_zijianfang"

    def test_the_messy_rows_join_the_right_person(self, loaded):
        invalid = SourceRecord.objects.filter(status="invalid", entity="person")
        assert invalid.exists()  # the few transposed ID digits
        for record in invalid:
            person = record.links.get(active=True).person
            written = record.raw["person.id_number"]
            assert written != person.id_number and sorted(written) == sorted(person.id_number)
        typos = [
            (link.record.values["person.name"], link.person)
            for link in Link.objects.filter(active=True, person__isnull=False).select_related("record", "person")
            if link.record.values.get("person.name", link.person.name) != link.person.name
        ]
        assert typos  # a few homophone typos, each linked by the ID it carries
        for name, person in typos:
            assert len(name) == len(person.name) and sum(a != b for a, b in zip(name, person.name, strict=True)) == 1

    def test_every_intended_column_maps(self, loaded):
        _summary, folder = loaded
        for export in legacy.EXPORTS:
            plan = import_prepare(data=export.path(folder).read_bytes(), filename=export.filename,
                                  system_code=export.system, entity=export.entity, sheet=export.sheet,
                                  overrides=dict(export.overrides) or None)
            assert [(c.header, c.element) for c in plan.columns] == list(export.columns), export.filename
            assert plan.entity == export.entity

    def test_the_exports_look_like_department_files(self, loaded):
        _summary, folder = loaded
        csv_bytes = (folder / "卫健_65岁及以上老年人健康管理名单.csv").read_bytes()
        text = csv_bytes.decode("gbk")
        assert text.startswith("档案编号,姓名,性　别") and "\r\n" in text and "年" in text.splitlines()[1]
        book = openpyxl.load_workbook(folder / "住建_农村自建房安全隐患排查台账.xlsx")
        sheet = book["排查台账"]
        assert (sheet["B2"].value, sheet["H2"].value, sheet["C3"].value) == ("基本情况", "房屋信息", "房屋编号")
        assert "B2:G2" in {str(r) for r in sheet.merged_cells.ranges}
        assert isinstance(sheet["C4"].value, str) and len(sheet["C4"].value) == 16
        book = openpyxl.load_workbook(folder / "民政_低保特困救助对象花名册.xlsx")
        rows = list(book["花名册"].values)
        assert "花名册" in rows[0][0] and rows[-1][0].startswith("注：") and rows[2][6] in ("1", "2")
        assert book.sheetnames == ["花名册", "填表说明"]
        book = openpyxl.load_workbook(folder / GONGAN_FILE)
        assert book.sheetnames == ["常住人口", "户信息"] and book["常住人口"].max_row == PERSONS + 1

    def test_the_rows_typed_from_memory_stay_apart_and_wait_for_review(self, loaded):
        summary, _folder = loaded
        extra = {p.pk: p for p in typed_from_memory()}
        assert 1 <= len(extra) <= legacy.RECALLED
        recalled = {}
        for person in extra.values():
            (record,) = [link.record for link in person.links.filter(active=True).select_related("record__system")]
            assert record.system.code == "weijian_laonian" and "person.id_number" not in record.values
            recalled[record.pk] = person
        pairs = list(ReviewPair.objects.select_related("left", "right"))
        # One question per such person at most (a name too common may not even be asked about).
        assert 1 <= len(pairs) == summary["review_pairs"] <= len(extra)
        for pair in pairs:
            mine, theirs = (pair.left, pair.right) if pair.left_id in recalled else (pair.right, pair.left)
            person, other = recalled[mine.pk], theirs.links.get(active=True).person
            assert other in settled() and len(other.name) == len(person.name)
            assert sum(a != b for a, b in zip(other.name, person.name, strict=True)) == 1
            assert person.birth_date - other.birth_date == datetime.timedelta(days=1)

    def test_every_id_number_is_valid_unique_and_matches_birth_date_and_gender(self, loaded):
        persons = list(settled())
        numbers = [p.id_number for p in persons]
        assert len(set(numbers)) == len(numbers)
        for p in persons:
            assert is_valid_id_number(p.id_number), p.id_number
            assert p.id_number.startswith("330726")
            assert p.id_number[6:14] == p.birth_date.strftime("%Y%m%d")
            assert p.gender == ("男" if int(p.id_number[16]) % 2 else "女")

    def test_every_person_lives_in_a_villager_group_of_the_county(self, loaded):
        groups = {
            a.code: a for a in Area.objects.filter(level=AreaLevel.GROUP).select_related("parent__parent__parent")
        }
        for p in settled():
            group = groups[p.area_code]
            assert group.parent.level == AreaLevel.VILLAGE
            assert group.parent.parent.parent.code == COUNTY_CODE
            assert p.address.startswith("浙江省金华市浦江县" + group.parent.parent.name + group.parent.name + group.name)
            assert p.address.endswith("号")
            assert (p.attributes["person.village"], p.attributes["person.grid"]) == (group.parent.name, group.name)

    def test_the_area_tree_has_the_expected_shape(self, loaded):
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

    def test_every_household_has_exactly_one_head_and_plausible_ages(self, loaded):
        members = defaultdict(list)
        for p in settled().select_related("household"):
            members[p.household_id].append(p)
            assert p.relation_to_head in RELATIONS
            assert p.area_code == p.household.area_code and p.address == p.household.address
            assert p.attributes["person.household_no"] == p.household.household_no
        assert len(members) == Household.objects.count()
        for household_members in members.values():
            assert 1 <= len(household_members) <= 6
            heads = [p for p in household_members if p.relation_to_head == "户主"]
            assert len(heads) == 1
            head = heads[0]
            assert head.household.head_name == head.name
            assert head.household.attributes["household.member_count"] == str(len(household_members))
            for p in household_members:
                if p.relation_to_head == "配偶":
                    assert abs(age(p.birth_date) - age(head.birth_date)) <= 8
                    assert p.gender != head.gender
                elif p.relation_to_head in ("子", "女"):
                    assert age(head.birth_date) - age(p.birth_date) >= 18
                elif p.relation_to_head in ("父亲", "母亲"):
                    assert age(p.birth_date) - age(head.birth_date) >= 18

    def test_attributes_hold_catalog_labels(self, loaded):
        values = defaultdict(Counter)
        for attributes in Person.objects.values_list("attributes", flat=True):
            for key, value in attributes.items():
                values[key][value] += 1
        for key, labels in LABELS.items():
            if key.startswith("person."):
                assert set(values[key]) <= labels, key
        assert values["person.ethnicity"]["汉族"] > 0.9 * PERSONS
        assert 0 < values["person.low_income"]["是"] < 0.15 * PERSONS
        assert values["person.veteran"]["是"] > 0 and values["person.medical_insurance"].total() > 0
        veterans = Person.objects.filter(attributes__has_key="person.enlist_date")
        for attributes in veterans.values_list("attributes", flat=True):
            assert attributes["person.veteran"] == "是"
            assert attributes["person.enlist_date"] < attributes["person.discharge_date"] < AS_OF.isoformat()
        for p in Person.objects.filter(attributes__has_key="person.disability_category"):
            assert p.attributes["person.disability_cert_no"][:18] == p.id_number
            assert p.attributes["person.disability_level"] in {"一级", "二级", "三级", "四级"}

    def test_names_have_pinyin_initials_and_phones_are_mobiles(self, loaded):
        for p in Person.objects.all():
            assert p.name_initials == "".join(lazy_pinyin(p.name, style=Style.FIRST_LETTER)).lower()
            assert p.phone == "" or (len(p.phone) == 11 and p.phone.isdigit() and p.phone[0] == "1")
        assert Person.objects.filter(phone="").exists()

    def test_houses_belong_to_household_heads_and_places_to_villages(self, loaded):
        villages = {a.code: a for a in Area.objects.filter(level=AreaLevel.VILLAGE)}
        per_household = Counter()
        for house in House.objects.select_related("owner"):
            assert len(house.code) == 16 and house.code[:12] in villages and house.area_code[:12] == house.code[:12]
            assert house.attributes["house.usage"] in LABELS["house.usage"]
            assert house.attributes["house.safety_level"] in LABELS["house.safety_level"]
            assert house.structure in {"钢混", "砖混", "砖木", "土木", "其他"} and 1 <= house.floors <= 5
            per_household[house.owner.household_id] += 1
        assert set(per_household.values()) <= {1, 2}
        assert len(per_household) == Household.objects.count()
        places = Counter()
        for place in Place.objects.all():
            assert place.place_type in PLACE_TYPES and place.manager_name and len(place.manager_phone) == 11
            assert place.links.get(active=True).record.system.code == "yingji_changsuo"
            places[place.area_code[:12]] += 1
        assert set(places) == set(villages) and all(5 <= n <= 10 for n in places.values())

    def test_departments_and_their_line_systems_exist(self, loaded):
        assert set(Department.objects.values_list("code", flat=True)) >= {
            "minzheng", "zhujian", "weijian", "gongan", "wenlv", "tuiyijunren", "canlian", "yibao"}
        systems = {s.code: s for s in LineSystem.objects.select_related("department")}
        for code, (name, department) in legacy.LINE_SYSTEMS.items():
            assert (systems[code].name, systems[code].department.code) == (name, department)

    @pytest.mark.parametrize("spec", DEMO_USERS, ids=[u["username"] for u in DEMO_USERS])
    def test_every_demo_user_exists_with_its_role_and_can_log_in(self, client, loaded, spec):
        user = User.objects.get(username=spec["username"])
        assert (user.role, user.area.name, user.area.code) == (spec["role"], spec["area"], spec["area_code"])
        if spec["department"]:
            assert user.department.code == spec["department"]
        response = client.post(reverse("accounts:login"), {"username": spec["username"], "password": DEMO_PASSWORD})
        assert response.status_code == 302
        assert int(client.session["_auth_user_id"]) == user.pk

    def test_the_two_cadres_are_in_villages_of_different_townships(self, loaded):
        cadre, cadre2 = User.objects.get(username="cadre"), User.objects.get(username="cadre2")
        assert cadre.area.parent_id != cadre2.area.parent_id
        assert User.objects.get(username="township").area == cadre.area.parent
