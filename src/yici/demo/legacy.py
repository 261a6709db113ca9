"""The demo county's legacy department exports, rendered from the generated world.

A real county's registry starts from what its departments can export: 公安's resident list, 民政's
relief roster, 卫健's elderly health list, 住建's house survey, and so on. The demo writes the same
kinds of files, each in its department's own wording and layout, and then imports them through the
ordinary pipeline (``exchange.imports`` → ``registry.reconcile``).

公安's export is clean and complete: every resident is in it. The other files carry modest,
realistic mess, chosen by their own ``random.Random`` so the world itself does not change with it:
dates as ``19850302`` or ``1985年3月2日``, gender as 1/2, a lower-case x, phones with +86 or dashes,
short code-list labels (肢体, 居民医保, 砖混结构), a homophone typo in a few names, two ID digits
swapped in a few rows, and the same person in several files. A few elderly persons are listed a
second time without their ID number, phone or address, the name by its sound and the birthday a
day off: linkage keeps those apart as their own persons, and asks about most of them in the
review queue.
"""

from __future__ import annotations

import csv
import datetime
import io
import random
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font

if TYPE_CHECKING:
    from yici.demo.services import _Family

# A year-end export: the date the departments pulled their data.
EXPORTED_ON = datetime.date(2025, 12, 20)


@dataclass(frozen=True)
class ExportFile:
    """One department file to import: which line system it comes from and how to read it."""

    system: str  # LineSystem code
    filename: str
    entity: str  # what its rows describe
    sheet: str | None = None  # None: the first sheet with a table
    columns: tuple[tuple[str, str | None], ...] = ()  # (header, intended element code or None)
    # Mappings a person confirmed once (``yici import --mapping``): where the engine guesses otherwise.
    overrides: tuple[tuple[str, str], ...] = ()

    def path(self, folder: Path) -> Path:
        return folder / self.filename


# Line systems: code → (Chinese name, department code).
LINE_SYSTEMS = {
    "gongan_huji": ("公安人口信息管理系统", "gongan"),
    "minzheng_jiuzhu": ("民政社会救助信息系统", "minzheng"),
    "weijian_laonian": ("卫健基本公共卫生服务系统", "weijian"),
    "zhujian_zijianfang": ("住建农村自建房安全排查系统", "zhujian"),
    "tuiyijunren_youfu": ("退役军人信息采集系统", "tuiyijunren"),
    "canlian_canji": ("残疾人证管理系统", "canlian"),
    "yingji_changsuo": ("应急管理场所安全台账", "yingji"),
}

# Headers as each department writes them, with the element each must map to (None: not a registry
# field). ``test_demo`` checks that the mapping engine maps every one of them this way.
GONGAN_PERSONS = (
    ("户号", "person.household_no"), ("与户主关系", "person.relation_to_head"), ("姓名", "person.name"),
    ("性别", "person.gender"), ("民族", "person.ethnicity"), ("出生日期", "person.birth_date"),
    ("公民身份号码", "person.id_number"), ("文化程度", "person.education"), ("婚姻状况", "person.marital_status"),
    ("政治面貌", "person.political_status"), ("工作单位", "person.employer"),
    ("户籍地址", "person.registered_address"), ("所属村", "person.village"), ("村民小组", "person.grid"),
    ("联系电话", "person.phone"),
)
GONGAN_HOUSEHOLDS = (
    ("户号", "household.household_no"), ("户别", "household.type"), ("户主姓名", "household.head_name"),
    ("户主公民身份号码", "household.head_id_number"), ("家庭人口数", "household.member_count"),
    ("家庭住址", "household.address"), ("联系电话", "household.phone"),
)
MINZHENG = (
    ("序号", None), ("所在村", "person.village"), ("救助类型", None), ("户主姓名", "person.household_head_name"),
    ("成员姓名", "person.name"), ("与户主关系", "person.relation_to_head"), ("性别代码", "person.gender"),
    ("身份证号码", "person.id_number"), ("出生年月日", "person.birth_date"), ("是否低保", "person.low_income"),
    ("是否特困", "person.extreme_poverty"), ("残疾类别", "person.disability_category"),
    ("残疾等级", "person.disability_level"), ("联系方式", "person.phone"), ("家庭住址", "person.current_address"),
    ("保障人数", None), ("月保障金(元)", None),
)
WEIJIAN = (
    ("档案编号", None), ("姓名", "person.name"), ("性　别", "person.gender"), ("出生日期", "person.birth_date"),
    ("身份证号", "person.id_number"), ("联系电话", "person.phone"), ("村（社区）", "person.village"),
    ("现住址", "person.current_address"), ("参保类型", "person.medical_insurance"),
    ("是否独居", "person.living_alone"), ("责任医生", None), ("慢病情况", None),
)
ZHUJIAN_GROUPS = (("基本情况", 6), ("房屋信息", 8))  # group header over that many leaf columns, after 序号
ZHUJIAN = (
    ("序号", None),
    ("所属村", "house.village"), ("房屋编号", "house.code"), ("产权人姓名", "house.owner_name"),
    ("产权人身份证号", "house.owner_id_number"), ("联系电话", "house.owner_phone"), ("房屋地址", "house.address"),
    ("建成年份", "house.built_year"),
    ("结构类型", "house.structure"), ("层数", "house.floors"), ("建筑面积(㎡)", "house.floor_area"),
    ("房屋用途", "house.usage"), ("安全鉴定等级", "house.safety_level"), ("是否出租", "house.is_rented"),
    ("承租人数", "house.tenant_count"), ("排查人员", None),
)
TUIYI = (
    ("序号", None), ("姓名", "person.name"), ("性别", "person.gender"), ("民族", "person.ethnicity"),
    ("公民身份号码", "person.id_number"), ("出生日期", "person.birth_date"), ("是否退役军人", "person.veteran"),
    ("入伍时间", "person.enlist_date"), ("退役时间", "person.discharge_date"), ("联系电话", "person.phone"),
    ("所在村", "person.village"), ("户籍地址", "person.registered_address"), ("优抚类别", None),
)
CANLIAN = (
    ("序号", None), ("姓名", "person.name"), ("性别", "person.gender"), ("身份证号", "person.id_number"),
    ("残疾类别", "person.disability_category"), ("残疾等级", "person.disability_level"),
    ("残疾人证号", "person.disability_cert_no"), ("联系电话", "person.phone"), ("所在村", "person.village"),
    ("现住址", "person.current_address"), ("发证日期", None),
)
CHANGSUO = (
    ("序号", None), ("场所编号", "place.code"), ("场所名称", "place.name"), ("场所类型", "place.type"),
    ("负责人", "place.manager_name"), ("负责人联系电话", "place.manager_phone"), ("场所地址", "place.address"),
    ("所属村", "person.village"), ("检查情况", None),
)

# Import order matters for survivorship: among non-authoritative values and areas the newest
# observation wins, and a house owner's or place manager's record carries the house's or place's
# area. 公安's export is the freshest (it is pulled last), so residents keep their home area.
EXPORTS = (
    ExportFile("minzheng_jiuzhu", "民政_低保特困救助对象花名册.xlsx", "person", None, MINZHENG),
    ExportFile("weijian_laonian", "卫健_65岁及以上老年人健康管理名单.csv", "person", None, WEIJIAN),
    ExportFile("zhujian_zijianfang", "住建_农村自建房安全隐患排查台账.xlsx", "house", None, ZHUJIAN),
    ExportFile("tuiyijunren_youfu", "退役军人_退役军人信息采集汇总表.xlsx", "person", None, TUIYI),
    ExportFile("canlian_canji", "残联_持证残疾人名单.xlsx", "person", None, CANLIAN),
    ExportFile("yingji_changsuo", "应急_村级场所安全检查台账.xlsx", "place", None, CHANGSUO),
    ExportFile("gongan_huji", "公安_常住人口信息导出.xlsx", "person", "常住人口", GONGAN_PERSONS),
    # In a household file the engine reads 户主姓名 as the person element of the same name and leaves
    # 家庭人口数 unmapped, so the demo confirms those two, as a person would on the import page.
    ExportFile("gongan_huji", "公安_常住人口信息导出.xlsx", "household", "户信息", GONGAN_HOUSEHOLDS,
               (("户主姓名", "household.head_name"), ("家庭人口数", "household.member_count"))),
)
WRITERS = {
    "gongan_huji": "gongan", "minzheng_jiuzhu": "minzheng", "weijian_laonian": "weijian",
    "zhujian_zijianfang": "zhujian", "tuiyijunren_youfu": "tuiyi", "canlian_canji": "canlian",
    "yingji_changsuo": "changsuo",
}

# Elderly persons 卫健's file lists a second time, typed from memory (see ``weijian``): the
# demo's review queue.
RECALLED = 4

# Same-sound characters for the few typo'd names (同音字).
HOMOPHONES = {
    "华": "化", "明": "鸣", "英": "瑛", "金": "今", "根": "跟", "国": "郭", "林": "琳", "芳": "方", "美": "媚",
    "秀": "绣", "建": "健", "永": "勇", "荣": "蓉", "春": "纯", "德": "得", "志": "智", "海": "亥", "军": "君",
    "平": "萍", "玉": "钰", "兰": "蓝", "红": "虹", "丽": "莉", "伟": "玮", "强": "墙", "文": "雯", "忠": "中",
    "福": "富", "娟": "鹃", "凤": "风", "珍": "真", "菊": "桔", "花": "华", "云": "芸", "霞": "侠", "杰": "洁",
    "涛": "滔", "浩": "皓", "雨": "语", "欣": "新", "梅": "玫", "桂": "贵", "仙": "先", "法": "发", "土": "吐",
}
DOCTORS = ["吴建平", "张晓燕", "楼国庆", "陈丽君", "黄志强", "郑慧芳", "傅永明", "何春燕"]
INSPECTORS = ["王立新", "石建军", "楼晓东", "郑卫国", "朱海峰", "钟丽华"]
MEDICAL_SHORT = {"城镇职工基本医疗保险": "职工医保", "城乡居民基本医疗保险": "居民医保", "未参保": "未参保"}
CHRONIC = ["高血压", "糖尿病", "高血压、糖尿病", "慢阻肺", "冠心病", "", "", "", "", ""]


def write_exports(
    *, folder: Path, families: list[_Family], places: list[dict], seed: int,
    progress: Callable[[int, int], None] | None = None,
) -> list[ExportFile]:
    """Write every department's export into ``folder`` (emptied first); return the files to import, in order.

    The same world and seed always give the same rows (workbooks also carry their save time).
    """
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    writer = _Writer(families=families, places=places, rng=random.Random(f"yici-demo-legacy-{seed}"))
    files = list(dict.fromkeys((e.filename, e.system) for e in EXPORTS))
    for n, (filename, system) in enumerate(files, start=1):
        getattr(writer, WRITERS[system])(folder / filename)
        if progress:
            progress(n, len(files))
    return list(EXPORTS)


def _age(birth: datetime.date) -> int:
    day = EXPORTED_ON
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


def _group_name(family: _Family) -> str:
    return f"{family.group}组"


class _Writer:
    def __init__(self, *, families: list[_Family], places: list[dict], rng: random.Random):
        self.rng = rng
        # Departments list their people village by village, in registration order.
        self.families = sorted(families, key=lambda f: f.household_no)
        self.places = places

    # --- The mess ----------------------------------------------------------------------------
    def _few(self, rows: list, per: int, eligible=lambda row: True) -> set[int]:
        """Indices of about one row in ``per`` (at least one when a row is eligible), chosen at random."""
        candidates = [i for i, row in enumerate(rows) if eligible(row)]
        if not candidates:
            return set()
        return set(self.rng.sample(candidates, min(len(candidates), max(1, len(rows) // per))))

    def _typos(self, people: list, per: int) -> set[int]:
        """Rows whose name gets a homophone typo: about one in ``per`` of the names that have one."""
        return self._few(people, per, lambda fm: self._typo(fm[1].name) != fm[1].name)

    def _phone(self, phone: str, *, messy: float) -> str:
        if not phone or self.rng.random() >= messy:
            return phone
        return self.rng.choice((f"+86 {phone}", f"{phone[:3]}-{phone[3:7]}-{phone[7:]}", f"86-{phone}"))

    def _id(self, number: str) -> str:
        """Half of the IDs ending in X are typed with a lower-case x."""
        return number.lower() if number.endswith("X") and self.rng.random() < 0.5 else number

    def _typo(self, name: str) -> str:
        """The name with one character of the given name replaced by a homophone (if it has one)."""
        for i in range(len(name) - 1, 0, -1):
            if name[i] in HOMOPHONES:
                return name[:i] + HOMOPHONES[name[i]] + name[i + 1:]
        return name

    @staticmethod
    def _transposed(number: str) -> str:
        """Two adjacent, different digits of the sequence or birth day swapped (fails the check digit)."""
        for i in (15, 14, 12, 11):
            if number[i] != number[i + 1]:
                return number[:i] + number[i + 1] + number[i] + number[i + 2:]
        return number

    # --- 公安 ----------------------------------------------------------------------------------
    def gongan(self, path: Path) -> None:
        """公安 常住人口信息导出: one row per resident, clean and complete; a second sheet lists households."""
        persons, households = [], []
        for family in self.families:
            village = family.village
            address = village.address(family.group, family.door)
            for m in family.members:
                a = m.attributes
                persons.append([
                    family.household_no, m.relation, m.name, "男" if m.male else "女", a["person.ethnicity"], m.birth,
                    m.id_number, a.get("person.education", ""), m.marital, a["person.political_status"],
                    a.get("person.employer", ""), address, village.name, _group_name(family), m.phone,
                ])
            head = family.members[0]
            phone = head.phone or next((m.phone for m in family.members if m.phone), "")
            households.append([family.household_no, "家庭户", head.name, head.id_number, len(family.members),
                               address, phone])
        book = Workbook()
        sheet = book.active
        sheet.title = "常住人口"
        _table(sheet, [h for h, _e in GONGAN_PERSONS], persons, text_columns={0, 6, 14}, date_columns={5})
        _table(book.create_sheet("户信息"), [h for h, _e in GONGAN_HOUSEHOLDS], households, text_columns={0, 3, 6})
        book.save(path)

    # --- 民政 ----------------------------------------------------------------------------------
    def minzheng(self, path: Path) -> None:
        """民政 低保特困救助对象花名册: title row, footer note, gender as 1/2, dates as 19850302."""
        rows = []
        for family in self.families:
            head = family.members[0]
            in_roster = [m for m in family.members
                         if m.attributes["person.low_income"] == "是" or m.attributes["person.extreme_poverty"] == "是"]
            if not in_roster:
                continue
            extreme = any(m.attributes["person.extreme_poverty"] == "是" for m in in_roster)
            for m in in_roster:
                a = m.attributes
                rows.append([
                    None, family.village.name, "特困供养" if extreme else "最低生活保障", head.name, m.name, m.relation,
                    "1" if m.male else "2", m.id_number, f"{m.birth:%Y%m%d}", a["person.low_income"],
                    a["person.extreme_poverty"], a.get("person.disability_category", "").removesuffix("残疾"),
                    a.get("person.disability_level", ""), self._phone(m.phone, messy=0.4),
                    family.village.address(family.group, family.door), len(in_roster),
                    ((1080 if extreme else 1020) * len(in_roster)),
                ])
        for i, row in enumerate(rows, start=1):
            row[0] = i
        book = Workbook()
        sheet = book.active
        sheet.title = "花名册"
        headers = [h for h, _e in MINZHENG]
        _title(sheet, "浦江县2025年度最低生活保障和特困供养对象花名册", len(headers))
        _table(sheet, headers, rows, start_row=2, text_columns={7, 8, 13})
        footer = len(rows) + 3
        sheet.cell(footer, 1, "注：1.本表由乡镇（街道）社会事务办填报；2.身份证号码须为18位；3.保障金单位为元/月。")
        sheet.merge_cells(start_row=footer, start_column=1, end_row=footer, end_column=len(headers))
        notes = book.create_sheet("填表说明")
        notes["A1"] = "救助类型填写：最低生活保障、特困供养。性别代码：1男 2女。"
        book.save(path)

    # --- 卫健 ----------------------------------------------------------------------------------
    def weijian(self, path: Path) -> None:
        """卫健 65岁及以上老年人健康管理名单: GBK CSV with CRLF, dates as 1985年3月2日, a few typos."""
        people = [(f, m) for f in self.families for m in f.members if _age(m.birth) >= 65]
        typos = self._typos(people, 150)
        twice = self._few(people, 250)  # registered twice (two health stations)
        # Its own generator: the rest of the mess stays as it was.
        typeable = [n for n, (_f, m) in enumerate(people) if self._typo(m.name) != m.name]
        recalled = set(random.Random(len(people)).sample(typeable, k=min(RECALLED, len(typeable))))
        rows = []
        for n, (family, m) in enumerate(people):
            a = m.attributes
            row = [
                f"{family.village.code[6:]}{n + 1:05d}", self._typo(m.name) if n in typos else m.name,
                "男" if m.male else "女", f"{m.birth.year}年{m.birth.month}月{m.birth.day}日", self._id(m.id_number),
                self._phone(m.phone, messy=0.3), family.village.name, family.village.address(family.group, family.door),
                MEDICAL_SHORT[a["person.medical_insurance"]] if self.rng.random() < 0.3 else a["person.medical_insurance"],
                a["person.living_alone"], self.rng.choice(DOCTORS), self.rng.choice(CHRONIC),
            ]
            rows.append(row)
            if n in twice:
                again = list(row)
                again[0] = f"{family.village.code[6:]}{len(people) + n + 1:05d}"
                again[5] = m.phone  # the other station wrote the phone plainly
                rows.append(again)
            if n in recalled:
                # Entered again from memory at a home visit: no ID card at hand, the name by its
                # sound, the birthday a day off, no phone, no address. Linkage cannot be sure: a
                # person decides (the review queue).
                day = m.birth + datetime.timedelta(days=1)
                rows.append([f"{family.village.code[6:]}{2 * len(people) + n + 1:05d}", self._typo(m.name),
                             row[2], f"{day.year}年{day.month}月{day.day}日", "", "", row[6], "", *row[8:]])
        out = io.StringIO(newline="")
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow([h for h, _e in WEIJIAN])
        writer.writerows(rows)
        # A character GBK lacks comes out as "?", as it does in the real exports.
        path.write_bytes(out.getvalue().encode("gbk", errors="replace"))

    # --- 住建 ----------------------------------------------------------------------------------
    def zhujian(self, path: Path) -> None:
        """住建 农村自建房安全隐患排查台账: one row per house, a two-level merged header, 房屋编号 as text."""
        rows = []
        for family in self.families:
            owner = family.members[0]
            for house in family.houses:
                a = house["attributes"]
                structure = house["structure"]
                year = a["house.built_year"]
                rows.append([
                    None, family.village.name, house["code"], owner.name, self._id(owner.id_number),
                    self._phone(owner.phone, messy=0.3), house["address"],
                    f"{year}年" if self.rng.random() < 0.2 else year,
                    f"{structure}结构" if structure != "其他" and self.rng.random() < 0.3 else structure,
                    house["floors"], a["house.floor_area"], a["house.usage"], a["house.safety_level"],
                    a["house.is_rented"], a.get("house.tenant_count"), self.rng.choice(INSPECTORS),
                ])
        for i, row in enumerate(rows, start=1):
            row[0] = i
        book = Workbook()
        sheet = book.active
        sheet.title = "排查台账"
        headers = [h for h, _e in ZHUJIAN]
        _title(sheet, "浦江县农村自建房安全隐患排查整治台账", len(headers))
        # Row 2: 序号 (merged down) and the group headers; row 3: the leaf headers.
        bold = Font(bold=True)
        sheet.cell(2, 1, headers[0]).font = bold
        sheet.merge_cells(start_row=2, start_column=1, end_row=3, end_column=1)
        column = 2
        for group, width in ZHUJIAN_GROUPS:
            sheet.cell(2, column, group).font = bold
            sheet.merge_cells(start_row=2, start_column=column, end_row=2, end_column=column + width - 1)
            column += width
        sheet.cell(2, column, headers[-1]).font = bold
        sheet.merge_cells(start_row=2, start_column=column, end_row=3, end_column=column)
        for i, header in enumerate(headers[1:-1], start=2):
            sheet.cell(3, i, header).font = bold
        _rows(sheet, rows, start_row=4, text_columns={2, 4, 5})
        book.save(path)

    # --- 退役军人 ------------------------------------------------------------------------------
    def tuiyi(self, path: Path) -> None:
        """退役军人信息采集汇总表: dates as 1985/03/02, two ID digits swapped in a few rows."""
        people = [(f, m) for f in self.families for m in f.members if m.attributes["person.veteran"] == "是"]
        swapped = self._few(people, 60)
        rows = []
        for n, (family, m) in enumerate(people, start=1):
            a = m.attributes
            enlist = datetime.date.fromisoformat(a["person.enlist_date"])
            discharge = datetime.date.fromisoformat(a["person.discharge_date"])
            rows.append([
                n, m.name, "男" if m.male else "女", a["person.ethnicity"].removesuffix("族"),
                self._transposed(m.id_number) if n - 1 in swapped else m.id_number, f"{m.birth:%Y/%m/%d}", "是",
                f"{enlist:%Y/%m/%d}", f"{discharge:%Y/%m/%d}", self._phone(m.phone, messy=0.2), family.village.name,
                family.village.address(family.group, family.door), "退役士兵",
            ])
        self._simple_book(path, "采集汇总", "浦江县退役军人信息采集汇总表", [h for h, _e in TUIYI], rows, {4, 9})

    # --- 残联 ----------------------------------------------------------------------------------
    def canlian(self, path: Path) -> None:
        """残联 持证残疾人名单: short category labels, levels as 2级, a typo'd name or two."""
        people = [(f, m) for f in self.families for m in f.members if "person.disability_category" in m.attributes]
        typos = self._typos(people, 80)
        rows = []
        for n, (family, m) in enumerate(people, start=1):
            a = m.attributes
            level = a["person.disability_level"]
            issued = EXPORTED_ON - datetime.timedelta(days=self.rng.randrange(30, 3650))
            rows.append([
                n, self._typo(m.name) if n - 1 in typos else m.name, "男" if m.male else "女", self._id(m.id_number),
                a["person.disability_category"].removesuffix("残疾") if self.rng.random() < 0.4
                else a["person.disability_category"],
                f"{'一二三四'.index(level[0]) + 1}级" if self.rng.random() < 0.4 else level,
                a["person.disability_cert_no"], self._phone(m.phone, messy=0.3), family.village.name,
                family.village.address(family.group, family.door), f"{issued:%Y-%m-%d}",
            ])
        self._simple_book(path, "持证人员", "浦江县持证残疾人基本情况表", [h for h, _e in CANLIAN], rows, {3, 6, 7})

    # --- 场所 ----------------------------------------------------------------------------------
    def changsuo(self, path: Path) -> None:
        """The 场所 ledger: every place with its manager."""
        rows = [
            [n, p["code"], p["name"], p["place_type"], p["manager_name"], self._phone(p["manager_phone"], messy=0.3),
             p["address"], p["village"], self.rng.choice(("正常", "正常", "正常", "已整改", "需整改"))]
            for n, p in enumerate(self.places, start=1)
        ]
        self._simple_book(path, "场所台账", "浦江县村级公共场所安全检查台账", [h for h, _e in CHANGSUO], rows, {1, 5})

    @staticmethod
    def _simple_book(path: Path, sheet_name: str, title: str, headers: list[str], rows: list[list],
                     text_columns: set[int]) -> None:
        book = Workbook()
        sheet = book.active
        sheet.title = sheet_name
        _title(sheet, title, len(headers))
        _table(sheet, headers, rows, start_row=2, text_columns=text_columns)
        book.save(path)


def _title(sheet, text: str, width: int) -> None:
    cell = sheet.cell(1, 1, text)
    cell.font = Font(bold=True, size=14)
    cell.alignment = Alignment(horizontal="center")
    sheet.merge_cells(start_row=1, start_column=1, end_row=1, end_column=width)


def _table(sheet, headers: list[str], rows: list[list], *, start_row: int = 1, text_columns=frozenset(),
           date_columns=frozenset()) -> None:
    bold = Font(bold=True)
    for i, header in enumerate(headers, start=1):
        sheet.cell(start_row, i, header).font = bold
    _rows(sheet, rows, start_row=start_row + 1, text_columns=text_columns, date_columns=date_columns)


def _rows(sheet, rows: list[list], *, start_row: int, text_columns=frozenset(), date_columns=frozenset()) -> None:
    for r, row in enumerate(rows, start=start_row):
        for c, value in enumerate(row):
            if value is None or value == "":
                continue
            cell = sheet.cell(r, c + 1, value)
            if c in text_columns:
                cell.number_format = "@"  # IDs, house codes and phones stay text
            elif c in date_columns:
                cell.number_format = "yyyy-mm-dd"
