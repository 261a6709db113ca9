"""The one mapping engine: which catalog data element does a column header mean?

Legacy import, template fill and a line system's field mapping all call ``map_columns``. For each
column it weighs, in this order of strength:

1. a remembered confirmation (``HeaderMapping``) for the header wording in this context, or the
   global one: it wins outright, including "confirmed: not a registry field";
2. the header is an element code (``person.id_number``), standard name or synonym, compared after
   normalising (full-width → half-width, spaces, bracketed units and notes like (元) (男/女) (18位),
   号码/号, and a small thesaurus of interchangeable form words: 时间/日期/年月日, 联系方式/电话/手机号,
   地址/住址/居住地, 类型/类别, 程度/等级, 情况/状况 …);
3. fuzzy similarity: containment (成员姓名 ⊃ 姓名, 电话 ⊂ 联系电话), edit similarity for typos and
   same-pinyin homophones (身分证号);
4. context: who the column is about. A role word in the header or its group header (户主, 产权人/房主/
   房东/业主/出租人, 负责人, or someone else: 监护人, 联系人 …) moves a name/ID/phone column to that
   role's element (``household.head_id_number``, ``house.owner_phone``, ``place.manager_name``) or
   to nothing; the file's entity (given, or inferred from its unambiguous columns) prefers its own
   elements, and in a house or place file a bare 身份证号/联系电话 is its owner's/manager's;
5. value patterns in the samples: 18-digit IDs, mobile numbers, dates, code-list labels (男/女, 汉族 …)
   confirm or contradict a candidate, and name the element when the header says nothing.

Each element goes to at most one column (highest confidence first; a loser takes its next
candidate). Below ``MIN_CONFIDENCE`` a column maps to nothing, which keeps 备注, 签字, 走访情况 and the
like out of the registry; between that and ``CONFIRM_BELOW`` the guess is kept but should be shown
for confirmation, with its candidates. ``mapping_confirm`` stores a person's answer.

Role and entity rules rely on the catalog's code conventions: ``<entity>.owner_*`` (house owner),
``*.head_*``/``person.household_head_*`` (household head), ``place.manager_*``, each pairing with
the ``person.*`` element of the same tail (``owner_phone`` ↔ ``person.phone``).
"""

import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from rapidfuzz import fuzz

from yici.audit.models import AuditAction
from yici.audit.services import audit_write
from yici.catalog.models import DataElement, HeaderMapping

# Below this a column is left unmapped (its candidates are still reported).
MIN_CONFIDENCE = 0.6
# Below this a mapped column is a guess that a person should confirm.
CONFIRM_BELOW = 0.8

# How much an element of another entity than the file's is worth. Person elements describe people
# in every kind of file (a house file's owner), so they lose less.
CROSS_ENTITY_PERSON = 0.9
CROSS_ENTITY_OTHER = 0.75

# Interchangeable words of Chinese form headers, replaced by one canonical word on both sides of a
# comparison. Generic vocabulary, not any one department's headers.
_THESAURUS = {
    "日期": ("年月日", "时间", "年月", "年份", "年代", "日期"),
    "电话": ("联系方式", "联系电话", "手机号码", "电话号码", "手机号", "移动电话", "联系手机", "手机", "电话"),
    "身份证号": ("公民身份证号码", "公民身份号码", "公民身份证号", "身份证件号码", "身份证号码", "身份证件号",
                 "身份号码", "证件号码", "身份证号", "身份证"),
    "号": ("编号", "编码", "号码"),
    "户籍": ("户口", "户籍"),
    "地址": ("详细地址", "居住地址", "居住地", "住址", "住所", "所在地", "详址", "位置", "坐落", "地点", "地址"),
    "类别": ("类型", "种类", "类别"),
    "等级": ("程度", "级别", "等级"),
    "状况": ("状态", "情况", "状况"),
    "姓名": ("名字", "姓名"),
    "医保": ("医疗保险", "医保"),
    "村": ("村(社区)", "行政村", "所在村", "所属村", "村名", "村别", "村"),
}
_CANON = {variant: canon for canon, variants in _THESAURUS.items() for variant in variants}
_CANON_RE = re.compile("|".join(re.escape(v) for v in sorted(_CANON, key=len, reverse=True)))

# Words before a name that still describe the row's own subject (成员姓名, 现年龄, 家庭住址).
_SELF_PREFIXES = ("成员", "居民", "人员", "本人", "个人", "村民", "老人", "对象", "群众", "患者", "学生", "儿童",
                  "妇女", "残疾人", "军人", "申请人", "参保人", "家庭", "现", "实际", "当前", "目前", "常住", "所在")
# Words after a name that only say how the value is written (性别代码).
_SELF_SUFFIXES = ("代码", "码", "值", "名称")
# Generic head words (canonical forms): two headers ending in the same one are alike only as far as
# their modifiers are, and a modifier reads left to right (建房/建成 are alike, 保障/参保 are not).
_HEADS = ("日期", "类别", "等级", "状况", "号", "姓名", "地址", "电话", "人数", "数", "用途", "面积", "标准", "金额", "名称")
# A trailing facet word: 残疾情况 is about 残疾.
_FACETS = ("状况", "信息", "结论", "结果", "情形")
# A 序号 column numbers the rows; it is never a registry field.
_SEQ_HEADERS = frozenset({"序号", "序", "序列", "no", "no.", "#"})

# Role words: whose name, ID or phone a column holds when it is not the row's own subject.
ROLE_WORDS = {
    "head": ("户主",),
    "owner": ("产权人", "房主", "业主", "房东", "出租人", "屋主", "所有权人", "产权所有人", "房屋所有人"),
    "manager": ("场所负责人", "负责人", "管理人", "经营者", "经营人", "店主"),
    "other": ("紧急联系人", "联系人", "监护人", "代理人", "委托人", "承租人", "租户", "租客", "配偶", "父亲", "母亲",
              "子女", "法定代表人", "法人代表", "法人", "经办人", "担保人"),
}
_ROLE_OF_WORD = {w: role for role, words in ROLE_WORDS.items() for w in words}
_ROLE_WORDS_BY_LENGTH = sorted(_ROLE_OF_WORD, key=len, reverse=True)
# The person a row of this entity is about, besides the entity itself.
PERSON_ROLE = {"house": "owner", "place": "manager", "household": "head"}
# In a house file the 户主 is the owner.
_ROLE_IN_ENTITY = {"house": {"head": "owner"}}

_BRACKETS = re.compile(r"[(\[{<《【〔][^()\[\]{}<>《》【】〔〕]*[)\]}>》】〕]")
_UNITS = re.compile(r"(m2|m²|平方米|平米|元/月|万元|元)$")

_ID_RE = re.compile(r"^(\d{17}[\dx]|\d{15})$")
_PHONE_RE = re.compile(r"^(?:\+?86)?(1[3-9]\d{9}|0[1-9]\d{1,2}\d{7,8})$")  # area codes never start 00
_DATE_RES = (
    re.compile(r"^(19|20)\d{2}[-/.年](0?[1-9]|1[0-2])([-/.月](0?[1-9]|[12]\d|3[01])日?)?(\s.*)?$"),
    re.compile(r"^(19|20)\d{2}(0[1-9]|1[0-2])(0[1-9]|[12]\d|3[01])$"),
)
_INT_RE = re.compile(r"^-?\d+(\.0+)?\s*[年层个人岁户间]?$")
_NUM_RE = re.compile(r"^-?\d+(\.\d+)?\s*(m2|㎡|平方米|元)?$")


class MappingError(Exception):
    """A confirmation cannot be stored; the message is one line."""


@dataclass(frozen=True)
class ColumnInput:
    header_path: tuple[str, ...]  # group header(s) down to the leaf
    samples: Sequence[Any] = ()  # some values of the column (empty for a template)


@dataclass
class ColumnMapping:
    element_code: str | None
    confidence: float
    method: str  # exact | synonym | fuzzy | context | pattern | remembered | none
    candidates: list[tuple[str, float]] = field(default_factory=list)
    header_key: str = ""

    @property
    def needs_confirmation(self) -> bool:
        if self.method == "remembered":
            return False
        if self.element_code is None:
            return bool(self.candidates) and self.candidates[0][1] >= 0.4
        return self.confidence < CONFIRM_BELOW


# --- text ----------------------------------------------------------------------------------------


def normalize_header(text: str) -> str:
    """Full-width → half-width, no whitespace, lower case: the wording a person wrote, made comparable."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", str(text))).lower()


def header_key(header_path: Sequence[str]) -> str:
    """The key a confirmation is remembered under: the normalised header path."""
    return "|".join(normalize_header(p) for p in header_path if normalize_header(p))[:500]


@lru_cache(maxsize=4096)
def _strip(text: str) -> str:
    """The header's words: bracketed notes, units, required-field stars and colons removed."""
    t = normalize_header(text).strip("*:：")
    bare = _BRACKETS.sub("", t)
    bare = re.sub(r"[*:：]", "", bare) or t
    if len(bare) > 2:
        bare = _UNITS.sub("", bare) or bare
    return bare


@lru_cache(maxsize=4096)
def _canonical(text: str) -> str:
    return _CANON_RE.sub(lambda m: _CANON[m.group(0)], text)


@lru_cache(maxsize=4096)
def _pinyin(text: str) -> str:
    from pypinyin import lazy_pinyin  # its dictionaries are large: load them on first use

    return " ".join(lazy_pinyin(text))


def _forms(text: str) -> tuple[str, ...]:
    bare = _strip(text)
    canon = _canonical(bare)
    return (bare,) if canon == bare else (bare, canon)


def _is_self_extra(extra: str, *, prefix: bool) -> bool:
    if prefix:
        return any(extra.endswith(w) or extra == w for w in _SELF_PREFIXES)
    return extra in _SELF_SUFFIXES


def _has_role_word(text: str) -> bool:
    return any(w in text for w in _ROLE_OF_WORD) or bool(re.search(r"..人$", text))


def _modifier_similarity(a: str, b: str) -> float:
    """Similarity of two modifiers of the same head word: only modifiers that start or end alike count."""
    if a[0] != b[0] and a[-1] != b[-1]:
        return 0.0
    return fuzz.ratio(a, b) / 100


@lru_cache(maxsize=65536)
def _similarity(h: str, n: str) -> tuple[float, str]:
    """How well header form ``h`` says element name form ``n``: (score, kind)."""
    if not h or not n:
        return 0.0, ""
    if h == n:
        return 1.0, "equal"
    if len(n) >= 2 and n in h:
        i = h.index(n)
        prefix, suffix = h[:i], h[i + len(n):]
        if (not prefix or _is_self_extra(prefix, prefix=True)) and (not suffix or _is_self_extra(suffix, prefix=False)):
            return 0.92, "partial"
        if _has_role_word(prefix + suffix) or (suffix and suffix in _HEADS):
            return 0.35, "partial"  # 户主电话 is not 电话; 高龄老人姓名 is not 高龄老人
        return 0.35 + 0.3 * len(n) / len(h), "partial"  # an unknown modifier: 单位地址, 活动名称, 年龄段
    if len(h) >= 2 and h in n:
        return 0.5 + 0.4 * len(h) / len(n), "partial"
    best = 0.0
    for facet in _FACETS:
        core = h.removesuffix(facet)
        if core != h and len(core) >= 2 and core in n:
            best = 0.5 + 0.4 * len(core) / len(n)
    if len(h) >= 2 and len(n) >= 2:
        head = next((w for w in _HEADS if h.endswith(w) and n.endswith(w)), None)
        if head and len(h) > len(head) and len(n) > len(head):
            fuzzy = 0.4 + 0.45 * _modifier_similarity(h[: -len(head)], n[: -len(head)])
        else:
            fuzzy = fuzz.ratio(h, n) / 100
        best = max(best, fuzzy)
        if best < 0.9 and _pinyin(h) == _pinyin(n):
            best = 0.9  # a homophone typo: 身分证号
    return best, "partial"


# --- elements ------------------------------------------------------------------------------------


@dataclass
class _Element:
    code: str
    name: str
    entity: str
    type: str
    order: int
    names: list[tuple[str, str]]  # (form, kind) kind: name | synonym
    role: str | None
    slot: str | None
    values: list[tuple[str, str, list[str]]]  # code list: (code, label, aliases)
    role_words: frozenset[str]
    label_forms: frozenset[str] = frozenset()
    code_forms: frozenset[str] = frozenset()


class ElementIndex:
    """Catalog elements prepared for mapping; build once (``element_index()``) and reuse."""

    def __init__(self, elements: Iterable[Any]):
        self.elements: list[_Element] = []
        for position, raw in enumerate(elements):
            self.elements.append(_prepare(raw, position))
        self.by_code = {e.code: e for e in self.elements}
        self.self_by_slot = {e.code.split(".", 1)[1]: e for e in self.elements if e.entity == "person" and not e.role}
        self.by_role_slot: dict[tuple[str, str], list[_Element]] = defaultdict(list)
        for e in self.elements:
            if e.role and e.slot:
                self.by_role_slot[(e.role, e.slot)].append(e)


def _role_and_slot(code: str) -> tuple[str | None, str | None]:
    tail = code.split(".", 1)[1]
    for prefix, role in (("owner_", "owner"), ("household_head_", "head"), ("head_", "head"), ("manager_", "manager")):
        if tail.startswith(prefix):
            return role, tail[len(prefix):]
    return None, None


def _prepare(raw: Any, position: int) -> _Element:
    if hasattr(raw, "code_values"):  # a DataElement with its code list prefetched
        values = [(v.code, v.label, list(v.aliases or [])) for v in raw.code_values.all()]
    else:  # catalog.services.ElementSpec
        values = [(v.code, v.label, list(v.aliases)) for v in getattr(raw, "values", [])]
    names: list[tuple[str, str]] = []
    seen: set[str] = set()
    for text, kind in [(raw.name_zh, "name"), *((s, "synonym") for s in raw.synonyms or [])]:
        for form in _forms(text):
            if form not in seen:
                seen.add(form)
                names.append((form, kind))
    role, slot = _role_and_slot(raw.code)
    words = frozenset(w for w in _ROLE_OF_WORD for f, _k in names if w in f)
    labels = frozenset(_strip(t) for _code, label, aliases in values for t in (label, *aliases))
    codes = frozenset(_strip(code) for code, _label, _aliases in values)
    return _Element(code=raw.code, name=raw.name_zh, entity=raw.entity, type=raw.type,
                    order=getattr(raw, "order", position) or position, names=names, role=role, slot=slot,
                    values=values, role_words=words, label_forms=labels, code_forms=codes)


def element_index(elements: Iterable[Any] | None = None) -> ElementIndex:
    """An index of ``elements`` (``DataElement``s with ``code_values`` prefetched, or parsed
    ``ElementSpec``s); by default the stored catalog, read in two queries."""
    if elements is None:
        elements = DataElement.objects.prefetch_related("code_values").order_by("order", "code")
    return ElementIndex(elements)


# --- values --------------------------------------------------------------------------------------


@dataclass
class _Profile:
    n: int = 0
    id: float = 0.0
    phone: float = 0.0
    date: float = 0.0
    int: float = 0.0
    num: float = 0.0
    texts: list[str] = field(default_factory=list)

    def label_fit(self, e: _Element, *, codes: bool = True) -> float:
        """Share of the samples that are labels or aliases of ``e``'s code list (or codes, if allowed)."""
        if not self.texts or not e.label_forms:
            return 0.0
        hits = 0
        for t in self.texts:
            if t in e.label_forms or (codes and t in e.code_forms):
                hits += 1
            elif not any(ch.isdigit() for ch in t) and any(
                (lab.startswith(t) or t.startswith(lab)) and abs(len(lab) - len(t)) <= 2 and len(lab) > 1
                for lab in e.label_forms
            ):
                hits += 1  # 汉 for 汉族, 砖混结构 for 砖混
        return hits / len(self.texts)


def _profile(samples: Sequence[Any]) -> _Profile:
    values = [v for v in samples if v is not None and not (isinstance(v, str) and not v.strip())][:60]
    p = _Profile(n=len(values))
    if not values:
        return p
    counts: Counter = Counter()
    for v in values:
        if isinstance(v, datetime | date):
            counts["date"] += 1
            continue
        if isinstance(v, bool):
            p.texts.append(str(v))
            continue
        if isinstance(v, float) and v >= 1e14:  # an ID that Excel turned into a number
            counts["id"] += 1
            continue
        t = re.sub(r"[\s\-]", "", unicodedata.normalize("NFKC", str(v))).lower()
        if isinstance(v, int | float):
            counts["num"] += 1
            counts["int"] += float(v).is_integer()
        if _ID_RE.match(t):
            counts["id"] += 1
        if _PHONE_RE.match(t):
            counts["phone"] += 1
        raw = unicodedata.normalize("NFKC", str(v)).strip()
        if any(r.match(raw) for r in _DATE_RES):
            counts["date"] += 1
        if isinstance(v, str):
            if _INT_RE.match(raw):
                counts["int"] += 1
            if _NUM_RE.match(raw):
                counts["num"] += 1
        p.texts.append(_strip(raw))
    for key in ("id", "phone", "date", "int", "num"):
        setattr(p, key, counts[key] / p.n)
    return p


def _value_fit(e: _Element, p: _Profile) -> float | None:
    """How well the samples fit the element's type, 0..1; None when the type says nothing."""
    if p.n < 3:
        return None
    if e.type == "id_number":
        return p.id
    if e.type == "phone":
        return p.phone
    if e.type in ("date", "datetime"):
        return p.date
    if e.type == "int":
        return max(p.int, p.num * 0.8)
    if e.type == "decimal":
        return p.num
    if e.type in ("code", "bool"):
        return p.label_fit(e)
    if max(p.id, p.phone, p.date) >= 0.8:
        return 0.0  # a text element whose values are all IDs, phones or dates
    return None


# --- mapping -------------------------------------------------------------------------------------


def _detect_role(form: str) -> tuple[str | None, str, str]:
    """(role, role word, rest) of one header form: 户主姓名 → head; 所在户户主 → head; 监护人电话 → other."""
    for word in _ROLE_WORDS_BY_LENGTH:
        if form.startswith(word):
            return _ROLE_OF_WORD[word], word, form[len(word):]
    for word in _ROLE_WORDS_BY_LENGTH:
        if form.endswith(word) and len(form) > len(word):
            return _ROLE_OF_WORD[word], word, ""
    m = re.match(r"^(.{1,3}人)(.+)$", form)
    if m and not _is_self_extra(m.group(1), prefix=True):
        return "other", m.group(1), m.group(2)
    return None, "", form


@dataclass
class _Column:
    leaf: str
    forms: tuple[str, ...]
    role: str | None
    role_word: str
    rest: tuple[str, ...]  # the leaf without its role word, matched against the role's person slot
    profile: _Profile


def _column(col: ColumnInput) -> _Column:
    path = [p for p in col.header_path if p and str(p).strip()]
    leaf = path[-1] if path else ""
    forms = _forms(leaf) if leaf else ()
    role, word, rest = (None, "", "")
    for f in forms:
        role, word, rest = _detect_role(f)
        if role:
            break
    rest_forms: tuple[str, ...] = (rest,) if role else forms
    if role is None:
        # A role in a group header (户主信息, 房东信息) applies to the columns beneath it.
        for group in reversed(path[:-1]):
            g = _strip(group)
            for w in _ROLE_WORDS_BY_LENGTH:
                if w in g:
                    role, word = _ROLE_OF_WORD[w], w
                    break
            if role:
                break
    if role is not None and rest_forms == ("",):
        rest_forms = ("姓名",)  # 户主, 出租人, 负责人 alone name the person
    elif role is not None and rest_forms != forms:
        rest_forms = tuple(dict.fromkeys((rest_forms[0], _canonical(rest_forms[0]))))
    return _Column(leaf=leaf, forms=forms, role=role, role_word=word, rest=rest_forms,
                   profile=_profile(col.samples))


def _text_score(forms: Sequence[str], e: _Element) -> tuple[float, str]:
    best, kind = 0.0, ""
    for h in forms:
        for n, name_kind in e.names:
            score, how = _similarity(h, n)
            if score > best:
                best, kind = score, (name_kind if how == "equal" else "fuzzy")
    if kind == "name" and best == 1.0 and not any(n == forms[0] for n, k in e.names if k == "name"):
        kind = "synonym"  # equal only after the thesaurus
    return best, kind


def _score(col: _Column, e: _Element, index: ElementIndex, entity: str | None) -> tuple[float, str]:
    direct, kind = _text_score(col.forms, e)
    role = col.role
    if role is not None and entity in _ROLE_IN_ENTITY:
        role = _ROLE_IN_ENTITY[entity].get(role, role)
    # Who is this column about, and is this element about the same person?
    # An element without a coded role whose names carry the column's role word: 户主电话, 承租人数.
    named = col.role is not None and e.role is None and col.role_word in e.role_words
    if role is None:
        compat = 1.0 if e.role is None or (entity and e.role == PERSON_ROLE.get(entity)) else 0.85
    elif role == "other":
        compat = 1.0 if named else 0.4
    elif e.role == role or named:
        compat = 1.0
    else:
        compat = 0.5
    score = direct * compat
    # The person slot (name, id_number, phone …) carried over to the role's element.
    target = role if role not in (None, "other") else (PERSON_ROLE.get(entity or "") if role is None else None)
    if e.role and e.slot and target and e.role == target:
        self_element = index.self_by_slot.get(e.slot)
        if self_element is not None:
            moved, _kind = _text_score(col.rest, self_element)
            if moved * 0.97 > score:
                score, kind = moved * 0.97, "context"
    # The file's entity; an explicit role reaches across (户主 → household, 产权人 → house).
    role_match = role in ("head", "owner", "manager") and (e.role == role or named)
    if entity and e.entity != entity and not role_match:
        score *= CROSS_ENTITY_PERSON if e.entity == "person" else CROSS_ENTITY_OTHER
    return score, kind


def _infer_entity(cols: list[_Column], index: ElementIndex) -> str | None:
    """The entity most unambiguous columns belong to."""
    votes: Counter = Counter()
    for col in cols:
        if not col.forms:
            continue
        scored = [(_score(col, e, index, None)[0], e) for e in index.elements]
        top = max((s for s, _e in scored), default=0.0)
        if top < 0.8:
            continue
        entities = {e.entity for s, e in scored if s >= top - 0.02}
        if len(entities) == 1:
            votes[entities.pop()] += top
    if not votes:
        return None
    (first, n1), *rest = votes.most_common()
    if rest and rest[0][1] == n1 and "person" in (first, rest[0][0]):
        return "person"
    return first


def _apply_values(score: float, e: _Element, p: _Profile) -> float:
    fit = _value_fit(e, p)
    if fit is None:
        return score
    if fit < 0.15 and e.type in ("id_number", "phone", "date", "datetime", "int", "decimal", "string", "text"):
        return score * 0.55  # the values contradict the header: leave it to a person
    if fit < 0.1:
        return score * 0.75
    if fit >= 0.6 and score >= MIN_CONFIDENCE:
        return score + (1 - score) * 0.3 * fit
    return score


def _pattern_candidates(col: _Column, index: ElementIndex, entity: str | None) -> list[tuple[str, float]]:
    """Elements named by the values alone, for a column whose header says nothing known."""
    p = col.profile
    if p.n < 3 or col.role == "other":
        return []
    wanted: list[_Element] = []
    if p.id >= 0.8:
        wanted = [e for e in index.elements if e.type == "id_number"]
    elif p.phone >= 0.8:
        wanted = [e for e in index.elements if e.type == "phone"]
    else:
        for e in index.elements:
            # Only long code lists are telling: 是/否 or 1/2 fit many elements.
            if e.type == "code" and len(e.values) >= 4 and p.label_fit(e, codes=False) >= 0.8:
                wanted.append(e)
    if not wanted:
        return []
    role = col.role or PERSON_ROLE.get(entity or "")
    preferred = [e for e in wanted if e.role == role] or [e for e in wanted if e.role is None] or wanted
    preferred.sort(key=lambda e: (e.entity != (entity or "person"), e.order))
    return [(preferred[0].code, 0.62)]


def map_columns(columns: Sequence[ColumnInput], *, entity: str | None = None, context: str = "",
                elements: ElementIndex | Iterable[Any] | None = None, use_remembered: bool = True) -> list[ColumnMapping]:
    """Map each column to a catalog element (or None), with a confidence and the runner-up candidates.

    ``entity`` is the kind of row the file holds (``person``, ``house`` …), inferred when not given.
    ``context`` is a department or line-system code whose remembered confirmations apply (the global
    ones apply everywhere). ``elements`` is an ``element_index()`` (or elements to build one from);
    by default the stored catalog is read, in two queries, plus one for the confirmations.
    """
    index = elements if isinstance(elements, ElementIndex) else element_index(elements)
    cols = [_column(c) for c in columns]
    keys = [header_key(c.header_path) for c in columns]
    if entity is None:
        entity = _infer_entity(cols, index)

    scored: list[list[tuple[float, str, str]]] = []  # per column: (score, code, method), best first
    for col in cols:
        found: list[tuple[float, str, str]] = []
        if col.leaf and normalize_header(col.leaf) not in _SEQ_HEADERS:
            exact = index.by_code.get(col.leaf.strip())
            if exact is not None:
                found.append((1.0, exact.code, "exact"))
            else:
                for e in index.elements:
                    score, kind = _score(col, e, index, entity)
                    if score >= 0.3:
                        score = _apply_values(score, e, col.profile)
                        method = "exact" if kind == "name" else kind if kind in ("synonym", "context") else "fuzzy"
                        found.append((round(min(score, 1.0), 4), e.code, method))
            if not any(s >= MIN_CONFIDENCE for s, _c, _m in found):
                found.extend((s, c, "pattern") for c, s in _pattern_candidates(col, index, entity))
        found.sort(key=lambda t: (-t[0], index.by_code[t[1]].order))
        scored.append(found)

    remembered = _remembered(keys, context) if use_remembered else {}
    results: dict[int, ColumnMapping] = {}
    taken: set[str] = set()
    for i, key in enumerate(keys):
        if key in remembered:
            code = remembered[key]
            if code is not None and code in taken:
                continue  # remembered for an earlier column of this file; map this one normally
            results[i] = ColumnMapping(code, 1.0, "remembered", _top(scored[i]), key)
            if code:
                taken.add(code)

    # One element per column and one column per element, best pairs first.
    pairs = sorted(
        ((s, i, rank, code, method) for i, found in enumerate(scored) if i not in results
         for rank, (s, code, method) in enumerate(found) if s >= MIN_CONFIDENCE),
        key=lambda t: (-t[0], t[2], t[1]),
    )
    for s, i, _rank, code, method in pairs:
        if i not in results and code not in taken:
            results[i] = ColumnMapping(code, s, method, _top(scored[i]), keys[i])
            taken.add(code)
    return [results.get(i) or ColumnMapping(None, 0.0, "none", _top(scored[i]), keys[i]) for i in range(len(cols))]


def _top(found: list[tuple[float, str, str]], n: int = 5) -> list[tuple[str, float]]:
    seen: dict[str, float] = {}
    for s, code, _m in found:
        if code not in seen and s >= 0.3:
            seen[code] = s
        if len(seen) >= n:
            break
    return list(seen.items())


# --- confirmations -------------------------------------------------------------------------------


def _remembered(keys: list[str], context: str) -> dict[str, str | None]:
    """Confirmed element code (or None) per header key: this context's, else the global one."""
    rows = HeaderMapping.objects.filter(header_key__in=set(keys), context__in={context, ""}).select_related("element")
    found: dict[str, str | None] = {}
    for row in sorted(rows, key=lambda r: r.context == context):  # the context's own last, so it wins
        found[row.header_key] = row.element.code if row.element_id else None
    return found


@transaction.atomic
def mapping_confirm(*, header_path: Sequence[str], context: str = "", element_code: str | None, actor):
    """Remember that ``header_path`` means ``element_code`` (None: not a registry field) in ``context``.

    ``context`` is a department or line-system code; blank stores the global confirmation used
    wherever a context has none of its own. Confirming again overwrites and counts another use.
    """
    key = header_key(header_path)
    if not key:
        raise MappingError(_("The header is empty."))
    if len(context) > 40:
        raise MappingError(_("The context code is longer than 40 characters."))
    element = None
    if element_code:
        element = DataElement.objects.filter(code=element_code).first()
        if element is None:
            raise MappingError(_("Unknown data element “%(code)s”.") % {"code": element_code})
    row = HeaderMapping.objects.select_for_update().filter(header_key=key, context=context).first()
    before = None if row is None else {"element": row.element.code if row.element_id else None}
    if row is None:
        row = HeaderMapping(header_key=key, context=context)
    row.element = element
    row.confirmed_by = actor if getattr(actor, "is_authenticated", False) else None
    row.confirmed_at = timezone.now()
    row.uses += 1
    row.save()
    audit_write(actor=actor, action=AuditAction.CREATE if before is None else AuditAction.UPDATE, obj=row,
                before=before, after={"element": element_code or None, "context": context, "header": key})
    return row
