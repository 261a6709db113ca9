"""Generate synthetic legacy department exports for linkage benchmarks, with a truth file.

    .venv/bin/python bench/legacy_gen.py --out /tmp/legacy_1m [--rows 1000000] [--seed 1]

Writes five CSV files like the data kit's exports (公安 户籍, 民政 救助, 卫健 老年人 in GBK, 住建 自建房,
文旅 礼堂签到), ``columns.json`` (file → encoding and header → element code) and ``truth.csv``
(``system,file,row_number,person_id``). The same seed gives byte-identical files.

The people live in households in villages of several counties. Each file carries the kit's kinds
of mess: date formats (``19850302``, ``1985年3月2日``, ``1985.3.2``, ``1985/03/02``), gender as 1/2,
lower-case ``x``, spaces and full-width digits in IDs, old 15-digit IDs, transposed digits, a
household member's ID on the wrong row, ``+86``/``86``/dashes in phones and stale phones, homophone
and wrong-character name typos, padded names, short address forms (``三组``, ``第3村民小组``,
``3-27``), missing values, and the same person more than once in one file and across files. Namesakes
come naturally from a realistic name distribution.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import json
import random
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from pypinyin import lazy_pinyin  # noqa: E402

from yici.registry.idnumbers import check_digit  # noqa: E402

AS_OF = datetime.date(2025, 6, 30)
ROWS_PER_PERSON = 1.62  # the kit: 4,873 rows for 2,991 people

COUNTIES = [  # 金华市 counties: (region code, name)
    ("330726", "浦江县"), ("330781", "兰溪市"), ("330782", "义乌市"), ("330783", "东阳市"),
    ("330784", "永康市"), ("330723", "武义县"), ("330727", "磐安县"), ("330702", "婺城区"),
]
OTHER_REGIONS = ["452122", "522422", "330825", "362330", "433127", "511321", "330702", "330727"]
TOWN_WORDS = "梅岭白马郑宅黄宅岩头杭坪檀溪虞宅大畈中余前吴花桥潘周横溪仙华浦南浦阳"
VILLAGE_A = "樟石前后上下东西南北新老大小金银马龙凤花桃李杏竹松柏梅兰柳溪塘桥山岭坑源湖坞田"
VILLAGE_B = "树门陈塘桥头岭口湾坞坑畈山村园庄店垄溪源里殿宅家洋岗"
SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚"
    "卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
    "施倪应盛柳洪"
)
GIVEN_M = "伟强磊军勇杰涛明超刚平辉鹏华飞鑫波斌宇浩凯健俊帆帅旭宁龙林阳建国志文博海峰永春长福根德荣兴财宝俊熙子轩皓泽睿诚晨"
GIVEN_F = "芳娜敏静丽艳娟霞秀英华慧巧美淑惠珠翠雅芝玉萍红娥玲芬燕彩春菊兰凤洁梅琳素云莲真环雪荣爱妹霞香月莺媛瑶怡萱涵欣悦婷"
# Extra characters that only serve as homophone or wrong-character typos.
TYPO_POOL = (
    "卫维炜薇蔚玮巍纬微威力立莉利丽励俐莅李理礼里娟鹃捐隽军君均钧峻俊骏郡竣浚明鸣铭茗名冥敏闵悯皿民珉芳方坊"
    "舫枋钫昉静晶菁京景敬靖镜径竞净丽莉俐栎琍华桦骅铧画话桂贵瑰柜跪国果郭锅峰锋丰风枫蜂封疯逢冯凤奉俸琴芹"
    "勤秦禽擒檎玲琳林霖淋临邻磷麟凌灵陵龄苓铃菱伶春纯淳唇醇莼鹑长常昌尝嫦肠畅唱倡梅玫枚眉媚湄煤霉楣美妹"
    "珍真贞祯桢针侦甄斌彬宾滨缤鑫欣新馨心芯昕忻辛星东冬栋洞董懂动侗峒恫菊桔局橘聚举矩巨拒炬句远元园原源"
    "袁圆缘援苑院愿怨媛辉晖挥徽灰恢回慧惠会汇绘蕙卉荟晓小肖孝效校笑啸筱"
)
EDUCATION = ("小学", "初中", "高中", "大专", "本科", "文盲")
ACTIVITIES = ("文艺晚会", "书法培训", "健康讲座", "广场舞比赛", "电影放映", "读书会")
FULL_DIGITS = str.maketrans("0123456789", "０１２３４５６７８９")
CN_NUM = "零一二三四五六七八九十"

SYSTEMS = {  # system → (file, encoding, [(header, element code)])
    "gongan_huji": ("公安_常住人口信息导出.csv", "utf-8", [
        ("户号", "person.household_no"), ("与户主关系", "person.relation_to_head"), ("姓名", "person.name"),
        ("性别", "person.gender"), ("民族", "person.ethnicity"), ("出生日期", "person.birth_date"),
        ("公民身份号码", "person.id_number"), ("文化程度", "person.education"),
        ("户籍地址", "person.registered_address"),
    ]),
    "minzheng_jiuzhu": ("民政_低保特困救助对象花名册.csv", "utf-8", [
        ("所在村", "person.village"), ("户主姓名", "person.household_head_name"), ("成员姓名", "person.name"),
        ("与户主关系", "person.relation_to_head"), ("性别代码", "person.gender"), ("身份证号码", "person.id_number"),
        ("出生年月日", "person.birth_date"), ("联系方式", "person.phone"), ("家庭住址", "person.current_address"),
    ]),
    "weijian_laonian": ("卫健_65岁及以上老年人健康管理名单.csv", "gbk", [
        ("姓名", "person.name"), ("性　别", "person.gender"), ("出生日期", "person.birth_date"),
        ("身份证号", "person.id_number"), ("联系电话", "person.phone"), ("村（社区）", "person.village"),
        ("现住址", "person.current_address"),
    ]),
    "zhujian_zijianfang": ("住建_农村自建房安全隐患排查台账.csv", "utf-8", [
        ("村名", "person.village"), ("房屋编号", "house.code"), ("户主姓名", "house.owner_name"),
        ("身份证号码", "house.owner_id_number"), ("联系电话", "house.owner_phone"), ("房屋地址", "house.address"),
    ]),
    "wenlv_litang": ("文旅_文化礼堂活动参与人员汇总.csv", "utf-8", [
        ("活动名称", None), ("姓名", "person.name"), ("性别", "person.gender"), ("年龄", "person.age"),
        ("手机号码", "person.phone"), ("身份证号", "person.id_number"), ("所在村", "person.village"),
        ("出生年月日", "person.birth_date"),
    ]),
}


def _homophones() -> dict[str, list[str]]:
    by_sound: dict[str, list[str]] = defaultdict(list)
    for ch in dict.fromkeys(GIVEN_M + GIVEN_F + TYPO_POOL + SURNAMES):
        by_sound[lazy_pinyin(ch)[0]].append(ch)
    return {ch: [o for o in group if o != ch] for group in by_sound.values() for ch in group if len(group) > 1}


class Person:
    __slots__ = ("pid", "name", "male", "born", "id_number", "phone", "household", "relation", "region")

    def __init__(self, pid, name, male, born, id_number, phone, household, relation, region):
        self.pid, self.name, self.male, self.born = pid, name, male, born
        self.id_number, self.phone, self.household, self.relation = id_number, phone, household, relation
        self.region = region


class Household:
    __slots__ = ("no", "county", "town", "village", "group", "number", "members", "house_code", "phone")

    def __init__(self, no, county, town, village, group, number, house_code):
        self.no, self.county, self.town, self.village = no, county, town, village
        self.group, self.number, self.house_code = group, number, house_code
        self.members: list[Person] = []
        self.phone = ""


class World:
    def __init__(self, persons_wanted: int, rng: random.Random):
        self.rng = rng
        self.homophones = _homophones()
        self.persons: list[Person] = []
        self.households: list[Household] = []
        self._used_ids: set[str] = set()
        self._surname_weights = [1.0 / (i + 1) ** 0.9 for i in range(len(SURNAMES))]
        villages = self._villages(max(3, persons_wanted // 900))
        while len(self.persons) < persons_wanted:
            self._household(rng.choice(villages))

    def _villages(self, n: int) -> list[tuple]:
        rng = self.rng
        names = [a + b + "村" for a in VILLAGE_A for b in VILLAGE_B]
        rng.shuffle(names)
        out = []
        for i in range(n):
            county = COUNTIES[i // 100 % len(COUNTIES)]
            town_index = i // 10
            town = TOWN_WORDS[(2 * town_index) % len(TOWN_WORDS)] + TOWN_WORDS[(2 * town_index + 1) % len(TOWN_WORDS)]
            town += "镇" if town_index % 3 else "乡"
            out.append((county, town, names[i % len(names)], i))
        return out

    def _id(self, region: str, born: datetime.date, male: bool) -> str:
        rng = self.rng
        while True:
            seq = rng.randrange(0, 500) * 2 + (1 if male else 0)
            body = f"{region}{born:%Y%m%d}{seq:03d}"
            if body not in self._used_ids:
                self._used_ids.add(body)
                return body + check_digit(body)

    def _phone(self) -> str:
        rng = self.rng
        return f"1{rng.choice('3456789')}{rng.randrange(10**9):09d}"

    def _name(self, surname: str | None, male: bool) -> str:
        rng = self.rng
        if surname is None:
            surname = rng.choices(SURNAMES, self._surname_weights)[0]
        pool = GIVEN_M if male else GIVEN_F
        given = rng.choice(pool) + (rng.choice(pool) if rng.random() < 0.7 else "")
        return surname + given

    def _birth(self, lo: int, hi: int) -> datetime.date:
        lo, hi = max(lo, 1925), min(hi, 2025)
        start = datetime.date(lo, 1, 1).toordinal()
        end = min(datetime.date(hi, 12, 31), AS_OF).toordinal()
        return datetime.date.fromordinal(self.rng.randint(start, max(start, end)))

    def _household(self, village: tuple) -> None:
        rng = self.rng
        (region, _county_name), town, village_name, vindex = village
        hh = Household(
            no=f"{vindex:06d}{len(self.households) % 10000:04d}",
            county=village[0], town=town, village=village_name, group=rng.randint(1, 12),
            number=rng.randint(1, 150), house_code=f"{vindex:012d}{len(self.households) % 10000:04d}",
        )
        self.households.append(hh)
        head_male = rng.random() < 0.8
        head_born = self._birth(1935, 1995)
        surname = rng.choices(SURNAMES, self._surname_weights)[0]
        plan = [("户主", head_male, head_born, surname)]
        if rng.random() < 0.8:
            spouse_born = self._birth(head_born.year - 5, head_born.year + 5)
            plan.append(("妻" if head_male else "夫", not head_male, spouse_born, None))
        for _ in range(rng.choice((0, 1, 1, 2, 2, 3))):
            male = rng.random() < 0.5
            plan.append(("子" if male else "女", male, self._birth(head_born.year + 20, head_born.year + 35), surname))
        if head_born.year < 1965 and rng.random() < 0.3:
            male = rng.random() < 0.5
            plan.append(("孙子" if male else "孙女", male, self._birth(head_born.year + 45, head_born.year + 60), surname))
        if head_born.year > 1975 and rng.random() < 0.25:
            plan.append(("母", False, self._birth(head_born.year - 32, head_born.year - 22), None))
        hh.phone = self._phone()
        for relation, male, born, sname in plan:
            home = region if rng.random() < 0.93 else rng.choice(OTHER_REGIONS)
            age = (AS_OF - born).days // 365
            phone = "" if age < 16 else (hh.phone if relation == "户主" or rng.random() < 0.15 else self._phone())
            person = Person(
                pid=f"P{len(self.persons) + 1:07d}", name=self._name(sname, male), male=male, born=born,
                id_number=self._id(home, born, male), phone=phone, household=hh, relation=relation, region=home,
            )
            hh.members.append(person)
            self.persons.append(person)


class Mess:
    """Per-value corruptions with the kit's kinds of mess."""

    def __init__(self, rng: random.Random, homophones: dict[str, list[str]]):
        self.rng = rng
        self.homophones = homophones

    def name(self, name: str) -> str:
        rng = self.rng
        roll = rng.random()
        if roll < 0.012:
            spots = [i for i, ch in enumerate(name) if i > 0 and ch in self.homophones]
            if spots:
                i = rng.choice(spots)
                name = name[:i] + rng.choice(self.homophones[name[i]]) + name[i + 1:]
        elif roll < 0.017:
            i = rng.randrange(1, len(name))
            name = name[:i] + rng.choice(TYPO_POOL) + name[i + 1:]
        roll = rng.random()
        if roll < 0.02:
            name = name + "\u3000"
        elif roll < 0.04:
            name = name[0] + " " + name[1:]
        return name

    def id_number(self, person: Person, missing: float) -> str:
        rng = self.rng
        if rng.random() < missing:
            return ""
        value = person.id_number
        roll = rng.random()
        if roll < 0.006:  # a household member's ID on this row
            others = [m for m in person.household.members if m is not person]
            if others:
                value = rng.choice(others).id_number
        elif roll < 0.014:  # two adjacent digits transposed
            i = rng.randrange(0, 16)
            if value[i] != value[i + 1]:
                value = value[:i] + value[i + 1] + value[i] + value[i + 2:]
        roll = rng.random()
        if roll < 0.05 and person.born.year < 2000 and value == person.id_number:
            value = value[:6] + value[8:17]  # old 15-digit form
        elif roll < 0.08:
            value = value.lower()
        elif roll < 0.10:
            value = value[:6] + " " + value[6:14] + " " + value[14:]
        elif roll < 0.12:
            value = value.translate(FULL_DIGITS)
        return value

    def date(self, born: datetime.date) -> str:
        rng = self.rng
        if rng.random() < 0.003:  # a mistyped day
            try:
                born = born.replace(day=born.day % 28 + 1)
            except ValueError:
                pass
        fmt = rng.randrange(5)
        if fmt == 0:
            return f"{born:%Y%m%d}"
        if fmt == 1:
            return f"{born.year}年{born.month}月{born.day}日"
        if fmt == 2:
            return f"{born.year}.{born.month}.{born.day}"
        if fmt == 3:
            return f"{born:%Y/%m/%d}"
        return born.isoformat()

    def gender(self, male: bool, codes: bool = False) -> str:
        if codes or self.rng.random() < 0.2:
            return "1" if male else "2"
        return "男" if male else "女"

    def phone(self, phone: str, world: World) -> str:
        rng = self.rng
        if not phone:
            return ""
        if rng.random() < 0.08:  # stale: a number the person no longer uses
            phone = world._phone()
        roll = rng.random()
        if roll < 0.1:
            return "+86 " + phone
        if roll < 0.15:
            return "86" + phone
        if roll < 0.3:
            return f"{phone[:3]}-{phone[3:7]}-{phone[7:]}"
        if roll < 0.35:
            return f"{phone[:3]} {phone[3:7]} {phone[7:]}"
        if roll < 0.38:
            return phone.translate(FULL_DIGITS)
        return phone

    def address(self, hh: Household, full_prefix: bool) -> str:
        rng = self.rng
        county = hh.county[1]
        group = hh.group
        roll = rng.random()
        if full_prefix or roll < 0.3:
            return f"浙江省金华市{county}{hh.town}{hh.village}{group}组{hh.number}号"
        if roll < 0.5:
            return f"{hh.town}{hh.village}{group}组{hh.number}号"
        if roll < 0.7:
            return f"{hh.village}{group}组{hh.number}号"
        if roll < 0.8:
            return f"{hh.village}{group}-{hh.number}"
        if roll < 0.9:
            return f"{hh.village}第{group}村民小组{hh.number}号"
        cn = CN_NUM[group] if group <= 10 else "十" + CN_NUM[group - 10]
        return f"{hh.village}{cn}组{hh.number}号"

    def village(self, village: str) -> str:
        return village[:-1] if self.rng.random() < 0.3 else village


def generate(rows: int, seed: int) -> dict[str, list[tuple[list[str], str]]]:
    """system → [(row values in header order, person id)]."""
    rng = random.Random(seed)
    world = World(max(10, int(rows / ROWS_PER_PERSON)), rng)
    mess = Mess(rng, world.homophones)
    out: dict[str, list[tuple[list[str], str]]] = {s: [] for s in SYSTEMS}

    def age(p: Person) -> int:
        return AS_OF.year - p.born.year - ((AS_OF.month, AS_OF.day) < (p.born.month, p.born.day))

    # 公安: everyone, a few twice.
    for p in world.persons:
        hh = p.household
        row = [hh.no, p.relation, mess.name(p.name), mess.gender(p.male), rng.choice(("汉", "汉族")),
               mess.date(p.born), mess.id_number(p, 0.0), rng.choice(EDUCATION), mess.address(hh, True)]
        out["gongan_huji"].append((row, p.pid))
        if rng.random() < 0.01:
            out["gongan_huji"].append((row, p.pid))
    # 民政: every member of about 4% of households.
    for hh in world.households:
        if rng.random() < 0.04:
            head = hh.members[0]
            for p in hh.members:
                row = [mess.village(hh.village), head.name, mess.name(p.name), p.relation, mess.gender(p.male, True),
                       mess.id_number(p, 0.04), mess.date(p.born), mess.phone(p.phone or hh.phone, world),
                       mess.address(hh, False)]
                out["minzheng_jiuzhu"].append((row, p.pid))
    # 卫健: most people aged 65 and over.
    for p in world.persons:
        if age(p) >= 65 and rng.random() < 0.8:
            hh = p.household
            row = [mess.name(p.name), mess.gender(p.male), mess.date(p.born), mess.id_number(p, 0.03),
                   mess.phone(p.phone if rng.random() < 0.75 else "", world), mess.village(hh.village),
                   mess.address(hh, False)]
            out["weijian_laonian"].append((row, p.pid))
    # 住建: one row per house; the owner is the head; some own two houses.
    for hh in world.households:
        if rng.random() < 0.9:
            head = hh.members[0]
            for k in range(1 if rng.random() < 0.93 else 2):
                code = hh.house_code if k == 0 else hh.house_code[:-4] + f"{(int(hh.house_code[-4:]) + 5000) % 10000:04d}"
                row = [mess.village(hh.village), code, mess.name(head.name), mess.id_number(head, 0.07),
                       mess.phone(head.phone if rng.random() < 0.85 else "", world), mess.address(hh, False)]
                out["zhujian_zijianfang"].append((row, head.pid))
    # 文旅: activity participants, some at several activities; the rest of the row budget.
    budget = rows - sum(len(v) for v in out.values())
    adults = [p for p in world.persons if 16 <= age(p) <= 85]
    while budget > 0 and adults:
        p = rng.choice(adults)
        for _ in range(min(budget, rng.choice((1, 1, 1, 2, 2, 3)))):
            hh = p.household
            activity_age = age(p) - rng.choice((0, 0, 1))
            row = [rng.choice(ACTIVITIES), mess.name(p.name), mess.gender(p.male) if rng.random() < 0.9 else "",
                   str(activity_age) if rng.random() < 0.9 else "", mess.phone(p.phone, world),
                   mess.id_number(p, 0.5), mess.village(hh.village),
                   mess.date(p.born) if rng.random() < 0.4 else ""]
            out["wenlv_litang"].append((row, p.pid))
            budget -= 1
    # Within each file, rows come in a shuffled order (exports are not sorted by person).
    for system in out:
        rng.shuffle(out[system])
    return out


def write(out_dir: Path, generated: dict) -> int:
    out_dir.mkdir(parents=True, exist_ok=True)
    columns = {}
    total = 0
    with open(out_dir / "truth.csv", "w", encoding="utf-8", newline="") as tf:
        truth = csv.writer(tf, lineterminator="\n")
        truth.writerow(["system", "file", "row_number", "person_id"])
        for system, (file, encoding, cols) in SYSTEMS.items():
            columns[file] = {"system": system, "encoding": encoding, "columns": dict(cols)}
            terminator = "\r\n" if encoding == "gbk" else "\n"
            with open(out_dir / file, "w", encoding=encoding, newline="") as f:
                writer = csv.writer(f, lineterminator=terminator)
                writer.writerow([h for h, _ in cols])
                for n, (row, pid) in enumerate(generated[system], start=1):
                    writer.writerow(row)
                    truth.writerow([system, file, n, pid])
                total += len(generated[system])
    with open(out_dir / "columns.json", "w", encoding="utf-8") as f:
        json.dump(columns, f, ensure_ascii=False, indent=1)
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    started = time.perf_counter()
    generated = generate(args.rows, args.seed)
    total = write(args.out, generated)
    counts = ", ".join(f"{s}={len(v)}" for s, v in generated.items())
    print(f"{total} rows ({counts}) in {time.perf_counter() - started:.1f} s → {args.out}")


if __name__ == "__main__":
    main()
