"""The demo county: a deterministic, realistic 浦江县 with residents, houses, places and demo users.

Every random choice comes from ``random.Random(seed)`` and a Faker seeded with the same seed, and
nothing reads the clock: the same seed always yields the same world. Ages are as of ``AS_OF``.
The small vocabularies (code-list labels of the catalog, place names, employers) are written out
here on purpose: a user's clone has no dataset kit to read them from.

Areas, departments and users are created directly. The registry is not: the world is rendered as
the departments' legacy exports (``demo.legacy``, into ``VAR_DIR/demo/legacy/``), which are
imported and reconciled like a real county's (``exchange.imports`` → ``registry.reconcile``), so
every golden record has its source records, links and provenance.
"""

import datetime
import math
import random
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.db.models import ProtectedError, Q
from django.utils.translation import gettext as _
from faker import Faker

from yici.accounts.models import Area, AreaLevel, Department, User
from yici.accounts.roles import Role
from yici.accounts.services import user_create
from yici.catalog.models import DataElement
from yici.demo import legacy
from yici.demo.models import DemoDataset
from yici.exchange.imports import ImportError_, import_prepare, import_run
from yici.exchange.models import ImportBatch, LineSystem
from yici.registry.idnumbers import make_id_number
from yici.registry.models import House, Household, Link, Person, Place, ReviewPair, ReviewStatus, SourceRecord

DEFAULT_SEED = 2026
DEFAULT_PERSONS = 6000
MIN_PERSONS, MAX_PERSONS = 10, 200_000
DEMO_PASSWORD = "yici-demo-2026"
AS_OF = datetime.date(2026, 1, 1)

REGION = "330726"
PROVINCE = ("330000000000", "浙江省")
CITY = ("330700000000", "金华市")
COUNTY = ("330726000000", "浦江县")
COUNTY_CODE = COUNTY[0]
ADDRESS_PREFIX = "浙江省金华市浦江县"

# Townships with their villages (code suffix, name, the surnames of the village's big clans).
# Three villages each by default; more are used only for large runs (see ``_villages_per_township``).
TOWNSHIPS = [
    ("330726101000", "岩头镇", [
        ("201", "樟树村", ("张", "黄")), ("202", "石门村", ("石", "陈")), ("203", "上塘村", ("王", "楼")),
        ("204", "溪头村", ("吴", "何")), ("205", "桃岭村", ("陈", "洪")), ("206", "柳塘村", ("柳", "张")),
    ]),
    ("330726102000", "郑宅镇", [
        ("201", "前陈村", ("陈", "郑")), ("202", "溪口村", ("郑", "楼")), ("203", "后溪村", ("郑", "傅")),
        ("204", "枣园村", ("郑", "黄")), ("205", "马岭村", ("马", "朱")), ("206", "冷坞村", ("郑", "钟")),
    ]),
]
# Keeps every village under 10,000 households and houses, so the 4-digit sequences of household
# numbers and house codes never overflow (200,000 persons → 5 villages a township).
PERSONS_PER_VILLAGE_CAP = 20_000

DEPARTMENTS = [
    ("minzheng", "民政"), ("zhujian", "住建"), ("weijian", "卫健"), ("gongan", "公安"),
    ("wenlv", "文旅"), ("tuiyijunren", "退役军人事务"), ("canlian", "残联"), ("yibao", "医保"),
    ("yingji", "应急管理"),
]

DEMO_USERS = [
    {"username": "admin", "role": Role.COUNTY_ADMIN.value, "area": "浦江县", "area_code": COUNTY_CODE,
     "department": "", "display_name": "县级管理员（演示）"},
    {"username": "minzheng", "role": Role.DEPARTMENT_STAFF.value, "area": "浦江县", "area_code": COUNTY_CODE,
     "department": "minzheng", "display_name": "民政条线（演示）"},
    {"username": "township", "role": Role.TOWNSHIP_STAFF.value, "area": "岩头镇", "area_code": "330726101000",
     "department": "", "display_name": "岩头镇干部（演示）"},
    {"username": "cadre", "role": Role.VILLAGE_CADRE.value, "area": "樟树村", "area_code": "330726101201",
     "department": "", "display_name": "樟树村干部（演示）"},
    {"username": "cadre2", "role": Role.VILLAGE_CADRE.value, "area": "前陈村", "area_code": "330726102201",
     "department": "", "display_name": "前陈村干部（演示）"},
    {"username": "burden", "role": Role.BURDEN_OFFICE.value, "area": "浦江县", "area_code": COUNTY_CODE,
     "department": "", "display_name": "减负办（演示）"},
    {"username": "auditor", "role": Role.AUDITOR.value, "area": "浦江县", "area_code": COUNTY_CODE,
     "department": "", "display_name": "审计（演示）"},
]
DEMO_USERNAMES = [u["username"] for u in DEMO_USERS]

# --- Vocabularies (code-list labels from the catalog) ----------------------------------------
YES, NO = "是", "否"
MINORITIES = ["畲族", "土家族", "苗族", "壮族", "布依族", "彝族"]
DISABILITY_CATEGORIES = [  # (label, code on the 残疾人证, weight)
    ("视力残疾", "1", 12), ("听力残疾", "2", 13), ("言语残疾", "3", 2), ("肢体残疾", "4", 45),
    ("智力残疾", "5", 10), ("精神残疾", "6", 7), ("多重残疾", "7", 9),
]
DISABILITY_LEVELS = [("一级", "1", 9), ("二级", "2", 20), ("三级", "3", 31), ("四级", "4", 40)]
PHONE_PREFIXES = [
    "130", "131", "132", "133", "135", "136", "137", "138", "139", "150", "151", "152", "153", "155",
    "157", "158", "159", "177", "180", "181", "183", "187", "188", "189", "199",
]
OLD_MALE_NAMES = [
    "根土", "水根", "金土", "有法", "樟荣", "德明", "志明", "国华", "建国", "金海", "松林", "福根",
    "春生", "永福", "忠良", "荣华", "银法", "土根", "关林", "炳贤",
]
OLD_FEMALE_NAMES = [
    "彩凤", "菊花", "月英", "金花", "秀英", "桂英", "素珍", "爱娟", "美华", "彩云", "雪花", "小妹",
    "菊仙", "银娥", "荷花", "翠娥", "玉仙", "秀娥",
]
YOUNG_MALE_NAMES = [
    "子轩", "浩然", "宇航", "俊杰", "一鸣", "思远", "家豪", "睿", "博文", "晨阳", "梓豪", "煜",
    "宇轩", "天佑", "子墨",
]
YOUNG_FEMALE_NAMES = [
    "欣怡", "梓涵", "雨涵", "诗涵", "思琪", "佳怡", "可馨", "梦瑶", "子萱", "一诺", "语桐", "若汐",
    "雨欣", "紫涵",
]
LOCAL_COMPANIES = [
    "浦江县银河水晶有限公司", "浦江县瑞丰水晶工艺品厂", "浦江县正泰建筑工程有限公司", "浦江县鑫源建筑工程有限公司",
    "浦江县恒盛挂锁有限公司", "浦江县新亚绗缝制品有限公司", "浦江县天顺锁业有限公司", "浦江县博雅书画用品厂",
    "浦江县永盛五金制品有限公司", "浦江县宏达电子商务有限公司",
]
AWAY_PLACES = [  # (address prefix, a firm there)
    ("浙江省义乌市稠城街道", "义乌市兴旺日用品有限公司"), ("浙江省义乌市北苑街道", "义乌市华联饰品有限公司"),
    ("浙江省杭州市萧山区", "杭州博雅科技有限公司"), ("浙江省杭州市西湖区", "杭州云帆网络科技有限公司"),
    ("浙江省金华市婺城区", "金华市金盛物流有限公司"), ("上海市闵行区", "上海申联机电有限公司"),
    ("江苏省苏州市工业园区", "苏州恒通精密制造有限公司"),
]
HIGH_SCHOOLS = ["浦江县浦阳高级中学", "浦江中学", "浦江县第三中学", "浦江县职业技术学校"]
COLLEGES = ["浙江师范大学", "金华职业技术学院", "浙江工业大学", "浙江工商大学", "杭州电子科技大学", "宁波大学"]
PLACE_BRANDS = ["天顺", "永盛", "博雅", "宏达", "恒盛", "新亚", "利民", "盛世", "正泰", "银河", "鑫源", "瑞丰"]

# Household compositions by size: (name, weight, head age (low, high, mode), members besides the head).
# Keys: spouse, children (unmarried), married_child (with their spouse), grandchildren, parents.
SIZE_WEIGHTS = {1: 15, 2: 20, 3: 16, 4: 18, 5: 17, 6: 14}
STRUCTURES = {
    1: [("alone_elder", 70, (62, 97, 78), {}), ("alone_adult", 30, (25, 64, 50), {})],
    2: [
        ("elder_couple", 55, (60, 90, 70), {"spouse": 1}),
        ("empty_nest", 20, (42, 62, 55), {"spouse": 1}),
        ("young_couple", 5, (22, 33, 27), {"spouse": 1}),
        ("parent_child", 20, (55, 88, 70), {"children": 1}),
    ],
    3: [
        ("couple_child", 55, (25, 58, 42), {"spouse": 1, "children": 1}),
        ("elder_grandchild", 15, (55, 78, 65), {"spouse": 1, "grandchildren": 1}),
        ("couple_parent", 15, (30, 58, 48), {"spouse": 1, "parents": 1}),
        ("single_parent", 15, (30, 55, 42), {"children": 2}),
    ],
    4: [
        ("couple_children", 50, (30, 56, 44), {"spouse": 1, "children": 2}),
        ("couple_child_parent", 20, (30, 56, 46), {"spouse": 1, "children": 1, "parents": 1}),
        ("couple_married_child", 15, (46, 70, 56), {"spouse": 1, "married_child": 1}),
        ("elder_grandchildren", 15, (55, 78, 65), {"spouse": 1, "grandchildren": 2}),
    ],
    5: [
        ("three_generations", 50, (46, 75, 58), {"spouse": 1, "married_child": 1, "grandchildren": 1}),
        ("couple_children_parent", 25, (32, 56, 46), {"spouse": 1, "children": 2, "parents": 1}),
        ("couple_three_children", 15, (34, 58, 45), {"spouse": 1, "children": 3}),
        ("couple_child_parents", 10, (30, 52, 44), {"spouse": 1, "children": 1, "parents": 2}),
    ],
    6: [
        ("three_generations_2", 55, (48, 75, 60), {"spouse": 1, "married_child": 1, "grandchildren": 2}),
        ("couple_children_parents", 25, (32, 55, 45), {"spouse": 1, "children": 2, "parents": 2}),
        ("three_generations_sibling", 20, (48, 72, 58),
         {"spouse": 1, "married_child": 1, "grandchildren": 1, "children": 1}),
    ],
}


class DemoError(Exception):
    """The demo cannot be generated or reset; the message says why in one line."""


@dataclass
class _Village:
    code: str
    name: str
    township: str
    clans: tuple[str, ...]
    groups: list[str]  # group area codes, index i is "(i+1)组"
    weight: float
    household_seq: int = 0
    house_seq: int = 0
    doors: dict[int, int] = field(default_factory=dict)  # group number → last door number
    managers: list[tuple[str, str]] = field(default_factory=list)  # (name, phone) of possible managers

    def address(self, group: int, door: int) -> str:
        return f"{ADDRESS_PREFIX}{self.township}{self.name}{group}组{door}号"

    def next_door(self, group: int) -> int:
        self.doors[group] = self.doors.get(group, 0) + 1
        return self.doors[group]


@dataclass
class _Member:
    name: str
    male: bool
    age: int
    birth: datetime.date
    relation: str
    marital: str
    attributes: dict = field(default_factory=dict)
    id_number: str = ""
    phone: str = ""


@dataclass
class _Family:
    village: _Village
    group: int
    door: int
    structure: str
    members: list[_Member]
    houses: list[dict] = field(default_factory=list)
    household_no: str = ""


def validate_options(*, seed: int, persons: int) -> None:
    """Raise ``DemoError`` for a persons count or seed the generator does not accept."""
    if not MIN_PERSONS <= persons <= MAX_PERSONS:
        raise DemoError(
            _("the number of persons must be between %(low)d and %(high)d, got %(n)d")
            % {"low": MIN_PERSONS, "high": MAX_PERSONS, "n": persons}
        )
    if not 0 <= seed < 2**63:
        raise DemoError(_("the seed must be a non-negative integer below 2**63, got %(seed)d") % {"seed": seed})


def demo_exists() -> bool:
    """Whether the demo county's code is taken (by the demo or by a real area tree)."""
    return Area.objects.filter(code=COUNTY_CODE).exists()


def demo_is_generated() -> bool:
    """Whether the area with the demo county's code was generated by ``yici demo``."""
    return DemoDataset.objects.filter(county_code=COUNTY_CODE).exists()


Progress = Callable[[str, int, int], None] | None


def legacy_folder() -> Path:
    """Where the demo writes its department exports: ``VAR_DIR/demo/legacy``."""
    return Path(settings.VAR_DIR) / "demo" / "legacy"


@transaction.atomic
def demo_generate(*, seed: int = DEFAULT_SEED, persons: int = DEFAULT_PERSONS, progress: Progress = None) -> dict:
    """Generate the demo county with ``persons`` residents, load it through the import pipeline, return counts.

    ``progress(stage, done, total)`` is called as work advances (generation, each import, each
    reconcile stage). Raises ``DemoError`` for bad options, when the county already exists (see
    ``demo_reset``) or when an export cannot be imported.
    """
    validate_options(seed=seed, persons=persons)
    if demo_exists():
        raise DemoError(_("the demo county %(code)s already exists") % {"code": COUNTY_CODE})
    return _Generator(seed=seed, persons=persons, progress=progress).run()


@transaction.atomic
def demo_reset() -> dict:
    """Delete the generated county and everything the demo loaded; return counts.

    That is its golden records, the source records, links and review pairs of its import batches,
    the batches and the line systems it created, the demo users, its areas and its export files.
    Refuses (``DemoError``) when the county was not generated by ``yici demo`` or when other users
    belong to its areas; nothing is deleted then.
    """
    dataset = DemoDataset.objects.filter(county_code=COUNTY_CODE).first()
    if dataset is None:
        if demo_exists():
            raise DemoError(
                _("area %(code)s exists but was not generated by `yici demo`; refusing to delete it")
                % {"code": COUNTY_CODE}
            )
        return {}
    demo_users = User.objects.filter(username__in=DEMO_USERNAMES, area__code__startswith=REGION)
    others = list(
        User.objects.filter(area__code__startswith=REGION).exclude(pk__in=demo_users.values("pk"))
        .order_by("username").values_list("username", flat=True)[:5]
    )
    if others:
        raise DemoError(
            _("users outside the demo belong to the demo county (%(names)s); move or delete them first")
            % {"names": ", ".join(others)}
        )
    counts = {}
    batches = ImportBatch.objects.filter(pk__in=dataset.import_batches)
    demo_links = Link.objects.filter(record__batch__in=batches)
    try:
        # Houses first: deleting persons first would update every house's owner to NULL.
        for key, model in (("houses", House), ("places", Place), ("persons", Person), ("households", Household)):
            linked = demo_links.filter(**{f"{model._meta.model_name}__isnull": False}).values(model._meta.model_name)
            golden = model.objects.filter(Q(area_code__startswith=REGION) | Q(pk__in=linked))
            counts[key] = golden.delete()[1].get(model._meta.label, 0)
        counts["review pairs"] = ReviewPair.objects.filter(left__batch__in=batches).count()
        counts["source records"] = SourceRecord.objects.filter(batch__in=batches).count()
        # The batches' source records go with them, and with those their links and review pairs.
        counts["import batches"] = batches.delete()[1].get(ImportBatch._meta.label, 0)
        systems = LineSystem.objects.filter(code__in=dataset.line_systems, batches__isnull=True, records__isnull=True)
        counts["line systems"] = systems.delete()[1].get(LineSystem._meta.label, 0)
        counts["users"] = demo_users.delete()[1].get(User._meta.label, 0)
        # Children before parents: an area's parent is protected.
        areas = 0
        for level in (AreaLevel.GROUP, AreaLevel.VILLAGE, AreaLevel.TOWNSHIP, AreaLevel.COUNTY):
            areas += Area.objects.filter(code__startswith=REGION, level=level).delete()[0]
        for code in reversed(dataset.created_ancestors):
            area = Area.objects.filter(code=code).first()
            if area is not None and not area.children.exists() and not area.users.exists():
                area.delete()
                areas += 1
        counts["areas"] = areas
    except ProtectedError as exc:
        raise DemoError(_("demo data is still referenced elsewhere: %(error)s") % {"error": exc.args[0]}) from exc
    dataset.delete()
    folder = legacy_folder()
    if folder.exists():
        counts["files"] = sum(1 for p in folder.iterdir() if p.is_file())
        shutil.rmtree(folder)
    return counts


def _row(rng: random.Random, rows):
    """Pick one of ``rows``, tuples whose last item is the weight."""
    return rng.choices(rows, weights=[r[-1] for r in rows])[0]


def _weighted(rng: random.Random, pairs):
    """Pick the value of one of the (value, weight) ``pairs``."""
    return _row(rng, pairs)[0]


def _villages_per_township(persons: int) -> int:
    return max(3, math.ceil(persons / (len(TOWNSHIPS) * PERSONS_PER_VILLAGE_CAP)))


class _Generator:
    def __init__(self, *, seed: int, persons: int, progress: Progress):
        self.seed = seed
        self.persons = persons
        self.progress = progress or (lambda stage, done, total: None)
        self.rng = random.Random(seed)
        self.fake = Faker("zh_CN")
        self.fake.seed_instance(seed)
        self.ids: set[str] = set()
        self.phones: set[str] = set()
        self.families: list[_Family] = []
        self.places: list[dict] = []

    # --- Orchestration ------------------------------------------------------------------------
    def run(self) -> dict:
        taken = list(User.objects.filter(username__in=DEMO_USERNAMES).values_list("username", flat=True))
        if taken:
            raise DemoError(
                _("user names needed by the demo are taken: %(names)s") % {"names": ", ".join(sorted(taken))}
            )
        created_ancestors = self._ancestors()
        county = Area.objects.create(code=COUNTY[0], name=COUNTY[1], level=AreaLevel.COUNTY,
                                     parent=Area.objects.get(code=CITY[0]))
        villages, areas = self._areas(county)
        departments = self._departments()
        self._population(villages)
        self._places(villages)
        users = self._users(departments)
        dataset = DemoDataset.objects.create(
            county_code=COUNTY_CODE, seed=self.seed, persons=self.persons, created_ancestors=created_ancestors
        )
        loaded = self._load(departments, dataset)
        from yici.exchange.demo import load_demo_line_systems  # share once (issue #5)
        dataset.line_systems = [*dataset.line_systems, *load_demo_line_systems()]
        dataset.save(update_fields=["line_systems"])
        from yici.inbox.demo import load_demo_inbox  # one inbox (issue #7)
        load_demo_inbox()
        from yici.accounts.demo import load_demo_sso  # one account (issue #6)
        load_demo_sso()
        return {
            "seed": self.seed,
            "areas": len(created_ancestors) + 1 + areas,
            "townships": len(TOWNSHIPS),
            "villages": len(villages),
            "groups": sum(len(v.groups) for v in villages),
            "departments": len(departments),
            **loaded,
            "users": len(users),
        }

    # --- Loading through the pipeline -----------------------------------------------------------
    def _load(self, departments: dict[str, Department], dataset: DemoDataset) -> dict:
        """Write the exports, import and reconcile them, check the outcome; return the counts."""
        from yici.registry.reconcile import reconcile

        if not DataElement.objects.exists():
            from yici.catalog.services import BUILTIN_CATALOG, catalog_load

            catalog_load(data=BUILTIN_CATALOG.read_bytes())
        folder = legacy_folder()
        exports = legacy.write_exports(
            folder=folder, families=self.families, places=self.places, seed=self.seed,
            progress=lambda done, total: self.progress(_("writing department exports"), done, total),
        )
        dataset.line_systems = self._line_systems(departments)
        imports = []
        for export in exports:
            stage = _("importing %(file)s") % {"file": export.filename}
            try:
                plan = import_prepare(data=export.path(folder).read_bytes(), filename=export.filename,
                                      system_code=export.system, entity=export.entity, sheet=export.sheet,
                                      overrides=dict(export.overrides) or None)
                summary = import_run(plan, progress=lambda done, total, stage=stage: self.progress(stage, done, total))
            except ImportError_ as exc:
                raise DemoError(f"{export.filename}: {exc}") from exc
            if not summary.already_imported:  # the same file imported before the demo stays someone else's
                dataset.import_batches.append(summary.batch.pk)
            imports.append({
                "system": export.system, "file": export.filename, "sheet": export.sheet or "",
                "rows": summary.rows_total, "warning": summary.counts["warning"], "invalid": summary.counts["invalid"],
                "unassigned": summary.counts["unassigned"], "mapped": len(plan.mapped), "columns": len(plan.columns),
            })
        dataset.save(update_fields=["line_systems", "import_batches"])
        reconcile(progress=self.progress)
        return self._verify(imports, dataset)

    def _line_systems(self, departments: dict[str, Department]) -> list[str]:
        """The departments' line systems (their department makes survivorship authoritative); codes created."""
        created = []
        for code, (name, department) in legacy.LINE_SYSTEMS.items():
            _system, new = LineSystem.objects.get_or_create(
                code=code, defaults={"name": name, "department": departments[department],
                                     "description": _("demo county legacy exports")},
            )
            if new:
                created.append(code)
        return created

    def _verify(self, imports: list[dict], dataset: DemoDataset) -> dict:
        """Golden counts after reconcile, and the ways they differ from the generated world."""
        alive = {"merged_into_id__isnull": True, "area_code__startswith": REGION}
        counts = {
            "residents": self.persons,
            "persons": Person.objects.filter(**alive).count(),
            "households": Household.objects.filter(**alive).count(),
            "houses": House.objects.filter(**alive).count(),
            "places": Place.objects.filter(**alive).count(),
            "files": len({i["file"] for i in imports}),
            "source_records": SourceRecord.objects.filter(batch_id__in=dataset.import_batches).count(),
            "review_pairs": ReviewPair.objects.filter(status=ReviewStatus.OPEN, area_code__startswith=REGION).count(),
        }
        expected = {
            "persons": self.persons,
            "households": len(self.families),
            "houses": sum(len(f.houses) for f in self.families),
            "places": len(self.places),
        }
        counts["differences"] = {key: (counts[key], n) for key, n in expected.items() if counts[key] != n}
        counts["imports"] = imports
        return counts

    def _ancestors(self) -> list[str]:
        created = []
        parent = None
        for (code, name), level in ((PROVINCE, AreaLevel.PROVINCE), (CITY, AreaLevel.CITY)):
            area = Area.objects.filter(code=code).first()
            if area is None:
                area = Area.objects.create(code=code, name=name, level=level, parent=parent)
                created.append(code)
            parent = area
        return created

    def _areas(self, county: Area) -> tuple[list[_Village], int]:
        per_township = _villages_per_township(self.persons)
        villages: list[_Village] = []
        count = 0
        for township_code, township_name, village_rows in TOWNSHIPS:
            township = Area.objects.create(
                code=township_code, name=township_name, level=AreaLevel.TOWNSHIP, parent=county
            )
            count += 1
            for suffix, name, clans in village_rows[:per_township]:
                code = township_code[:9] + suffix
                village = Area.objects.create(code=code, name=name, level=AreaLevel.VILLAGE, parent=township)
                n_groups = self.rng.randint(5, 9)
                groups = [
                    Area(code=f"{code}{i:02d}", name=f"{i}组", level=AreaLevel.GROUP, parent=village,
                         prefix=f"{code}{i:02d}")
                    for i in range(1, n_groups + 1)
                ]
                Area.objects.bulk_create(groups)
                count += 1 + n_groups
                villages.append(_Village(
                    code=code, name=name, township=township_name, clans=clans,
                    groups=[g.code for g in groups], weight=self.rng.uniform(0.8, 1.2),
                ))
        return villages, count

    def _departments(self) -> dict[str, Department]:
        departments = {}
        for code, name in DEPARTMENTS:
            dept = Department.objects.filter(Q(code=code) | Q(name=name)).order_by("pk").first()
            departments[code] = dept or Department.objects.create(code=code, name=name)
        return departments

    def _users(self, departments: dict[str, Department]) -> list[User]:
        areas = {a.code: a for a in Area.objects.filter(code__in=[u["area_code"] for u in DEMO_USERS])}
        return [
            user_create(
                username=u["username"], password=DEMO_PASSWORD, role=u["role"], area=areas[u["area_code"]],
                display_name=u["display_name"], department=departments.get(u["department"]), validate=False,
            )
            for u in DEMO_USERS
        ]

    # --- Population ---------------------------------------------------------------------------
    def _population(self, villages: list[_Village]) -> None:
        weights = [v.weight for v in villages]
        remaining = self.persons
        while remaining > 0:
            village = self.rng.choices(villages, weights=weights)[0]
            size = min(remaining, self.rng.choices(list(SIZE_WEIGHTS), weights=list(SIZE_WEIGHTS.values()))[0])
            family = self._family(village, size)
            self._number(family)
            remaining -= len(family.members)
            self.families.append(family)
            self.progress(_("generating residents"), self.persons - remaining, self.persons)

    def _number(self, family: _Family) -> None:
        """Give the family its 户号 and its houses their 房屋编号, in generation order."""
        village = family.village
        village.household_seq += 1
        if village.household_seq > 9999:
            raise DemoError(_("too many households for village %(name)s") % {"name": village.name})
        family.household_no = f"{village.code[6:]}{village.household_seq:04d}"
        houses = []
        for spec in family.houses:
            village.house_seq += 1
            if village.house_seq > 9999:
                raise DemoError(_("too many houses for village %(name)s") % {"name": village.name})
            group, door = spec.pop("group"), spec.pop("door")
            houses.append({
                "code": f"{village.code}{village.house_seq:04d}",
                "address": village.address(group, door),
                "area_code": village.groups[group - 1],
                "structure": spec.pop("structure"),
                "floors": spec.pop("floors"),
                "attributes": spec,
            })
        family.houses = houses

    def _family(self, village: _Village, size: int) -> _Family:
        rng = self.rng
        rows = STRUCTURES[size]
        structure, _w, (low, high, mode), spec = rng.choices(rows, weights=[r[1] for r in rows])[0]
        group = rng.randint(1, len(village.groups))
        family = _Family(village=village, group=group, door=village.next_door(group), structure=structure,
                         members=[])
        members = family.members
        head_age = round(rng.triangular(low, high, mode))
        couple = bool(spec.get("spouse"))
        if couple:
            head_male = rng.random() < 0.9
        elif structure == "alone_elder":
            head_male = rng.random() < 0.38
        elif structure == "alone_adult":
            head_male = rng.random() < 0.72
        else:
            head_male = rng.random() < 0.45

        family_name = rng.choice(village.clans) if rng.random() < 0.45 else self.fake.last_name()
        head_surname = family_name
        if couple:
            spouse_age = max(20, head_age - rng.randint(-2, 6) if head_male else head_age + rng.randint(-2, 6))
            spouse_surname = self._surname(village, avoid=head_surname)
            # Children carry the father's surname.
            line_surname = head_surname if head_male else spouse_surname
        else:
            spouse_age = None
            spouse_surname = ""
            line_surname = head_surname if head_male or rng.random() < 0.15 else self._surname(village)

        if couple:
            head_marital = "已婚"
        elif structure == "alone_adult":
            head_marital = _weighted(rng, [("未婚", 55), ("离婚", 30), ("丧偶", 15)] if head_age >= 40
                                     else [("未婚", 85), ("离婚", 15)])
        elif structure == "single_parent":
            head_marital = _weighted(rng, [("离婚", 60), ("丧偶", 40)])
        else:
            head_marital = _weighted(rng, [("丧偶", 85), ("离婚", 6), ("未婚", 9)]) if head_age >= 60 \
                else _weighted(rng, [("丧偶", 60), ("离婚", 40)])
        if structure == "alone_elder" and head_marital == "未婚":
            head_male = True  # in these villages, old bachelors (光棍) are men
        members.append(self._member(head_surname, head_male, head_age, "户主", head_marital, family))
        if couple:
            members.append(self._member(spouse_surname, not head_male, spouse_age, "配偶", "已婚", family,
                                        married_in=True))

        # The age the children are counted from: the mother's, or the head's when alone.
        base = min(head_age, spouse_age) if couple else head_age

        n_parents = spec.get("parents", 0)
        if n_parents:
            mother_age = min(99, head_age + rng.randint(21, 34))
            father_age = min(100, mother_age + rng.randint(-1, 5))
            if n_parents == 2:
                members.append(self._member(head_surname, True, father_age, "父亲", "已婚", family))
                members.append(self._member(self._surname(village, avoid=head_surname), False, mother_age, "母亲",
                                            "已婚", family, married_in=True))
            elif rng.random() < 0.3:
                members.append(self._member(head_surname, True, father_age, "父亲", "丧偶", family))
            else:
                members.append(self._member(self._surname(village, avoid=head_surname), False, mother_age, "母亲",
                                            "丧偶", family, married_in=True))

        oldest_child = None
        if spec.get("married_child"):
            need = 24 if spec.get("grandchildren") else 23
            child_age = rng.randint(max(need, base - 35), max(need, base - 21))
            oldest_child = child_age
            son = rng.random() < 0.8
            child_surname = line_surname
            members.append(self._member(child_surname, son, child_age, "子" if son else "女", "已婚", family))
            in_law_age = max(20, child_age + (-rng.randint(-2, 5) if son else rng.randint(-2, 5)))
            in_law_surname = self._surname(village, avoid=child_surname)
            members.append(self._member(in_law_surname, not son, in_law_age, "儿媳" if son else "女婿", "已婚",
                                        family, married_in=True))
            grand_surname = child_surname if son or rng.random() < 0.5 else in_law_surname
            parent_age = min(child_age, in_law_age)
            g_age = rng.randint(0, max(0, min(parent_age - 22, 18)))
            for _i in range(spec.get("grandchildren", 0)):
                male = rng.random() < 0.52
                relation = ("孙子" if male else "孙女") if son else ("外孙子" if male else "外孙女")
                members.append(self._member(grand_surname, male, g_age, relation, "未婚", family))
                g_age = max(0, g_age - rng.randint(1, 6))
        elif spec.get("grandchildren"):
            # Left-behind children (留守儿童): their parents work in the cities.
            g_age = rng.randint(2, max(2, min(16, head_age - 44)))
            for _i in range(spec["grandchildren"]):
                male = rng.random() < 0.52
                members.append(self._member(line_surname, male, g_age, "孙子" if male else "孙女", "未婚", family))
                g_age = max(0, g_age - rng.randint(1, 5))

        n_children = spec.get("children", 0)
        if n_children:
            if oldest_child is not None:
                child_age = max(0, oldest_child - rng.randint(1, 8))
            elif structure == "parent_child":
                child_age = rng.randint(max(18, base - 38), max(18, base - 21))
            else:
                child_age = max(0, rng.randint(base - 35, base - 21))
            for _i in range(n_children):
                male = rng.random() < 0.52
                marital = "未婚" if child_age < 30 or rng.random() < 0.7 else "离婚"
                members.append(self._member(line_surname, male, child_age, "子" if male else "女", marital, family))
                child_age = max(0, child_age - rng.randint(1, 6))

        self._household_flags(family)
        family.houses = self._houses(family)
        village.managers.extend((m.name, m.phone) for m in members if 28 <= m.age <= 70 and m.phone)
        return family

    def _surname(self, village: _Village, avoid: str = "") -> str:
        """A surname for someone who married in: brides and grooms come mostly from other villages."""
        name = avoid
        for _i in range(5):
            name = self.rng.choice(village.clans) if self.rng.random() < 0.15 else self.fake.last_name()
            if name != avoid:
                break
        return name

    def _given_name(self, male: bool, year: int) -> str:
        if year < 1965 and self.rng.random() < 0.6:
            return self.rng.choice(OLD_MALE_NAMES if male else OLD_FEMALE_NAMES)
        if year >= 1995 and self.rng.random() < 0.6:
            return self.rng.choice(YOUNG_MALE_NAMES if male else YOUNG_FEMALE_NAMES)
        return self.fake.first_name_male() if male else self.fake.first_name_female()

    def _member(self, surname: str, male: bool, age: int, relation: str, marital: str, family: _Family,
                *, married_in: bool = False) -> _Member:
        rng = self.rng
        age = max(0, age)
        birth = AS_OF - datetime.timedelta(days=int((age + rng.random()) * 365.2425) + 1)
        age = _age(birth)
        taken = {m.name for m in family.members}
        for _i in range(10):
            name = surname + self._given_name(male, birth.year)
            if name not in taken:
                break
        member = _Member(name=name, male=male, age=age, birth=birth, relation=relation, marital=marital)
        member.id_number = self._id_number(birth, male)
        member.phone = self._phone(age)
        member.attributes = self._attributes(member, family, married_in=married_in)
        return member

    def _id_number(self, birth: datetime.date, male: bool) -> str:
        while True:
            number = make_id_number(region=REGION, birth_date=birth, sequence=self.rng.randrange(500), male=male)
            if number not in self.ids:
                self.ids.add(number)
                return number

    def _phone(self, age: int) -> str:
        rng = self.rng
        if age < 14:
            return ""
        empty = 0.5 if age < 18 else 0.55 if age >= 80 else 0.25 if age >= 65 else 0.08
        if rng.random() < empty:
            return ""
        return self._mobile()

    def _mobile(self) -> str:
        rng = self.rng
        while True:
            phone = rng.choice(PHONE_PREFIXES) + f"{rng.randrange(10**8):08d}"
            if phone not in self.phones:
                self.phones.add(phone)
                return phone

    # --- Person attributes --------------------------------------------------------------------
    def _attributes(self, m: _Member, family: _Family, *, married_in: bool) -> dict:
        rng = self.rng
        age = m.age
        township = family.village.township
        home = family.village.address(family.group, family.door)
        attrs: dict[str, str] = {}
        attrs["person.ethnicity"] = rng.choice(MINORITIES) if married_in and rng.random() < 0.04 else "汉族"

        if age < 14:
            political = "群众"
        elif age <= 28 and rng.random() < 0.4:
            political = "共青团员"
        elif age >= 18 and rng.random() < (0.11 if m.male else 0.04):
            political = "中共党员"
        elif 20 <= age <= 40 and rng.random() < 0.01:
            political = "中共预备党员"
        else:
            political = "群众"
        attrs["person.political_status"] = political

        education = _education(rng, m)
        if education:
            attrs["person.education"] = education
        attrs["person.marital_status"] = m.marital

        # Work decides the employer, the insurances and whether the person lives elsewhere.
        work, employer = self._work(m, township, education)
        if employer:
            attrs["person.employer"] = employer
        if work == "away":
            place, firm = rng.choice(AWAY_PLACES)
            attrs["person.employer"] = firm
            attrs["person.current_address"] = f"{place}{self.fake.street_name()}{rng.randint(1, 400)}号"
        else:
            attrs["person.current_address"] = home

        attrs["person.low_income"] = NO
        attrs["person.extreme_poverty"] = NO
        disabled = rng.random() < (0.01 if age < 18 else 0.03 if age < 60 else 0.07 if age < 80 else 0.12)
        if disabled:
            categories = DISABILITY_CATEGORIES if age >= 18 else [
                c if c[0] != "智力残疾" else (c[0], c[1], 40) for c in DISABILITY_CATEGORIES
            ]
            category, category_code, _w = _row(rng, categories)
            level, level_code, _w = _row(rng, DISABILITY_LEVELS)
            attrs["person.disability_category"] = category
            attrs["person.disability_level"] = level
            attrs["person.disability_cert_no"] = m.id_number + category_code + level_code if m.id_number else ""
        veteran = self._service(m)
        attrs["person.veteran"] = YES if veteran else NO
        if veteran:
            attrs["person.enlist_date"], attrs["person.discharge_date"] = veteran
        attrs["person.elderly"] = YES if age >= 80 else NO
        attrs["person.living_alone"] = YES if family.structure.startswith("alone") and age >= 60 else NO

        if work in ("company", "public", "away") or (age >= 60 and rng.random() < 0.06):
            medical = "城镇职工基本医疗保险"
        elif rng.random() < 0.015:
            medical = "未参保"
        else:
            medical = "城乡居民基本医疗保险"
        attrs["person.medical_insurance"] = medical
        if work == "public":
            attrs["person.pension_insurance"] = "机关事业单位养老保险"
        elif work in ("company", "away"):
            attrs["person.pension_insurance"] = "城镇职工基本养老保险"
        elif age >= 16 and work != "student":
            attrs["person.pension_insurance"] = _weighted(
                rng, [("城乡居民基本养老保险", 90), ("未参保", 5), ("城镇职工基本养老保险", 5)] if age >= 60
                else [("城乡居民基本养老保险", 78), ("未参保", 22)]
            )
        participate = 0.18 if 45 <= age <= 80 else 0.05 if age >= 8 else 0
        attrs["person.cultural_participant"] = YES if rng.random() < participate else NO
        return attrs

    def _work(self, m: _Member, township: str, education: str) -> tuple[str, str]:
        """What the person does: (kind, 工作单位), kind in child/student/farm/self/flex/company/public/away/none."""
        rng = self.rng
        age = m.age
        if age < 6:
            return "child", ""
        if age < 12:
            return "student", f"浦江县{township}中心小学"
        if age < 15:
            return "student", f"浦江县{township}初级中学"
        if age < 18:
            return "student", rng.choice(HIGH_SCHOOLS)
        if age < 23 and education in ("大学专科", "大学本科") and rng.random() < 0.7:
            return "student", rng.choice(COLLEGES)
        if age >= 80:
            return "none", "无"
        if age >= 65:
            return ("farm", "务农") if rng.random() < 0.35 else ("none", "无")
        if age <= 50 and rng.random() < 0.12:
            return "away", ""
        kind = _weighted(rng, [("farm", 30 if age >= 40 else 10), ("self", 15), ("flex", 12),
                               ("company", 33), ("public", 3), ("none", 7)])
        if kind == "farm":
            return kind, "务农"
        if kind == "self":
            return kind, "个体经营"
        if kind == "flex":
            return kind, "灵活就业"
        if kind == "company":
            return kind, rng.choice(LOCAL_COMPANIES)
        if kind == "public":
            return kind, rng.choice([f"浦江县{township}人民政府", f"浦江县{township}中心小学", f"浦江县{township}卫生院"])
        return kind, "无"

    def _service(self, m: _Member) -> tuple[str, str] | None:
        """(入伍, 退役) dates for a veteran, or ``None``."""
        rng = self.rng
        if not 23 <= m.age <= 88 or rng.random() >= (0.045 if m.male else 0.002):
            return None
        year = m.birth.year + rng.randint(18, 20)
        month = rng.choice((3, 12) if year < 1990 else (3, 9, 12))
        enlist = datetime.date(year, month, rng.choice((1, 5, 10, 15, 20)))
        if enlist < _add_years(m.birth, 18):
            enlist = _add_years(enlist, 1)
        years = _weighted(rng, [(2, 50), (3, 20), (4, 10), (5, 8), (8, 6), (12, 4), (16, 2)])
        discharge = datetime.date(enlist.year + years, rng.choice((3, 9, 12)), rng.choice((1, 10, 20)))
        if discharge >= AS_OF:
            return None
        return enlist.isoformat(), discharge.isoformat()

    def _household_flags(self, family: _Family) -> None:
        """低保 is granted to a household, 特困 to a person with nobody to support them."""
        rng = self.rng
        members = family.members
        if family.structure == "alone_elder" and members[0].age >= 70 and rng.random() < 0.06:
            members[0].attributes["person.extreme_poverty"] = YES
            return
        chance = 0.025
        if family.structure.startswith("alone"):
            chance = 0.10
        elif family.structure == "single_parent":
            chance = 0.10
        if any("person.disability_category" in m.attributes for m in members):
            chance += 0.08
        if rng.random() < chance:
            for m in members:
                m.attributes["person.low_income"] = YES

    # --- Houses and places ----------------------------------------------------------------------
    def _houses(self, family: _Family) -> list[dict]:
        rng = self.rng
        houses = [self._house(family.group, family.door, main=True)]
        if rng.random() < 0.15:
            group = family.group if rng.random() < 0.6 else rng.randint(1, len(family.village.groups))
            houses.append(self._house(group, family.village.next_door(group), main=False))
        return houses

    def _house(self, group: int, door: int, *, main: bool) -> dict:
        rng = self.rng
        if main:
            built = _weighted(rng, [((1955, 1974), 5), ((1975, 1995), 30), ((1996, 2010), 45), ((2011, 2024), 20)])
        else:
            built = _weighted(rng, [((1940, 1979), 50), ((1980, 1999), 35), ((2000, 2020), 15)])
        year = rng.randint(*built)
        if year < 1980:
            structure = _weighted(rng, [("土木", 45), ("砖木", 45), ("砖混", 10)])
        elif year < 2000:
            structure = _weighted(rng, [("砖木", 20), ("砖混", 70), ("钢混", 5), ("其他", 5)])
        else:
            structure = _weighted(rng, [("砖混", 55), ("钢混", 43), ("其他", 2)])
        floors = {"土木": (1, 2), "砖木": (1, 3), "砖混": (2, 4), "钢混": (3, 5), "其他": (1, 2)}[structure]
        floors = rng.randint(*floors)
        if year >= 2005:
            levels = [("A级", 70), ("B级", 28), ("C级", 2)]
        elif year >= 1990:
            levels = [("A级", 30), ("B级", 60), ("C级", 9), ("D级", 1)]
        else:
            levels = [("A级", 5), ("B级", 45), ("C级", 38), ("D级", 12)]
        if structure == "土木":
            levels = [("B级", 35), ("C级", 45), ("D级", 20)]
        safety = _weighted(rng, levels)
        if main:
            usage = _weighted(rng, [("自住", 85), ("自住兼经营", 6), ("出租", 4), ("闲置", 3), ("生产", 1.5), ("其他", 0.5)])
        else:
            usage = _weighted(rng, [("闲置", 40), ("出租", 25), ("生产", 15), ("自住", 10), ("其他", 10)])
        rented = usage == "出租" or (usage == "自住" and rng.random() < 0.05)
        attrs = {
            "group": group, "door": door, "structure": structure, "floors": floors,
            "house.built_year": year,
            "house.floor_area": round(floors * rng.uniform(60, 120), 2),
            "house.usage": usage,
            "house.safety_level": safety,
            "house.is_dangerous": YES if safety in ("C级", "D级") else NO,
            "house.is_rented": YES if rented else NO,
        }
        if rented:
            attrs["house.tenant_count"] = rng.randint(1, 8)
        return attrs

    def _places(self, villages: list[_Village]) -> None:
        """The villages' public places, into ``self.places``."""
        rng = self.rng
        places = []
        for village in villages:
            short = village.name.removesuffix("村")
            office = f"{ADDRESS_PREFIX}{village.township}{village.name}村部"
            rows = [
                ("文化礼堂", f"{village.name}文化礼堂", None),
                ("村委会办公场所", f"{village.name}村民委员会", None),
                ("卫生室", f"{village.name}卫生室", 1),
                ("养老服务场所", f"{village.name}居家养老服务照料中心", 1),
            ]
            optional = [
                ("商店超市", f"{village.name}小卖部"), ("商店超市", f"{short}便民超市"),
                ("商店超市", f"{village.name}百货店"), ("商店超市", f"{short}副食品店"),
                ("餐饮店", f"{rng.choice(PLACE_BRANDS)}小吃店"), ("餐饮店", f"{rng.choice(PLACE_BRANDS)}农家菜馆"),
                ("加工作坊", f"浦江县{rng.choice(PLACE_BRANDS)}水晶加工厂"),
                ("加工作坊", f"浦江县{rng.choice(PLACE_BRANDS)}挂锁配件加工点"),
                ("加工作坊", f"浦江县{rng.choice(PLACE_BRANDS)}绗缝加工点"),
                ("民宿农家乐", f"{short}溪畔农家乐"), ("民宿农家乐", f"{short}小院民宿"),
                ("宗教活动场所", f"{short}土地庙"), ("仓库", f"{short}粮食仓库"), ("幼儿园", f"{village.name}幼儿园"),
            ]
            for place_type, name in rng.sample(optional, rng.randint(1, 6)):
                rows.append((place_type, name, 1))
            for seq, (place_type, name, in_group) in enumerate(rows, start=1):
                if in_group:
                    group = rng.randint(1, len(village.groups))
                    address, area_code = village.address(group, village.next_door(group)), village.groups[group - 1]
                else:
                    address, area_code = office, village.code
                # A tiny run may leave a village without adults; the manager then lives elsewhere.
                manager, phone = rng.choice(village.managers) if village.managers else (self.fake.name(), "")
                places.append({
                    "code": f"CS{village.code[6:]}{seq:03d}", "name": name, "place_type": place_type,
                    "address": address, "manager_name": manager, "manager_phone": phone or self._mobile(),
                    "area_code": area_code, "village": village.name,
                })
        self.places = places


def _age(birth: datetime.date) -> int:
    return AS_OF.year - birth.year - ((AS_OF.month, AS_OF.day) < (birth.month, birth.day))


def _add_years(day: datetime.date, years: int) -> datetime.date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


def _education(rng: random.Random, m: _Member) -> str:
    """文化程度: the school level for pupils, the finished level by birth cohort for adults."""
    age = m.age
    if age < 6:
        return ""
    if age < 12:
        return "小学"
    if age < 15:
        return "初中"
    if age < 18:
        return _weighted(rng, [("高中", 70), ("中等专科", 20), ("初中", 10)])
    year = m.birth.year
    if year >= 1985:
        levels = [("初中", 20), ("高中", 20), ("中等专科", 18), ("大学专科", 20), ("大学本科", 18), ("研究生", 4)]
    elif year >= 1970:
        levels = [("小学", 10), ("初中", 45), ("高中", 22), ("中等专科", 10), ("大学专科", 8), ("大学本科", 5)]
    elif year >= 1955:
        levels = [("文盲或半文盲", 5), ("小学", 35), ("初中", 40), ("高中", 15), ("中等专科", 3), ("大学专科", 2)]
    else:
        levels = [("文盲或半文盲", 25 if m.male else 50), ("小学", 45), ("初中", 15), ("高中", 5)]
    return _weighted(rng, levels)
