"""Normalise messy legacy values to the registry's conventions, and validate them.

One entry point, :func:`normalize`, turns one raw cell (text, number, ``datetime`` or ``None``, as
openpyxl or csv hand it over) into a :class:`Normalized`: the registry form of the value, the
issues found, and the original text. The registry conventions (see the data kit README):

- code elements hold the code-list label (``男``, ``汉族``, ``户主``, ``是``, ``砖混``);
- dates are ``YYYY-MM-DD`` (``YYYY-MM`` for month-precision elements);
- ID numbers have 18 characters with an upper-case ``X``;
- phones are 11-digit mobiles, landlines ``0579-84123456``;
- the empty string means no value.

A value that fails validation is never dropped or altered silently: its ``value`` is ``''``, an
error says why, and ``original`` keeps the raw text so the caller can keep it aside and report it.

This runs over a million rows per import, so everything that can be is computed once: an
:class:`ElementSpec` carries its element's code-list lookup, and the per-value path does no
database access and no per-call setup.
"""

import datetime
import functools
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, NamedTuple

from django.utils.translation import gettext as _

from yici.registry.validation import (
    ERROR,
    WARNING,
    Issue,
    check_id_number,
    check_person_consistency,
    check_phone,
    check_uscc,
    error,
    id_number_mangled_issue,
    is_cn_mobile,
    quick_mobile,
    today,
    warning,
)

__all__ = [
    "ERROR",
    "WARNING",
    "ElementSpec",
    "Issue",
    "Normalized",
    "element_spec_from_dict",
    "element_specs_from_catalog",
    "normalize",
    "normalize_address",
    "normalize_name",
    "normalize_row",
    "normalize_text",
    "to_half_width",
]


class Normalized(NamedTuple):
    value: str  # the registry form; '' for no value and for a rejected value
    issues: tuple[Issue, ...]
    original: str  # the raw value as text, kept whatever happens to ``value``

    @property
    def ok(self) -> bool:
        """No error (warnings allowed)."""
        return not any(issue.level == ERROR for issue in self.issues)


EMPTY = Normalized("", (), "")


@dataclass(frozen=True, slots=True)
class ElementSpec:
    """What :func:`normalize` needs to know about one catalog element, precomputed.

    ``codes`` maps a lookup key (half-width, no spaces, upper case) of every label, code, alias and
    common variant to the label. ``precision`` applies to dates: ``day``, ``month`` or ``''`` (not
    stated: full dates stay full, a month-only value is accepted with a warning). ``kind`` refines
    ``string`` elements: ``name`` (spaces removed), ``address`` and ``grid`` (see
    :func:`normalize_address`) or ``''``.
    """

    code: str
    type: str
    precision: str = ""
    kind: str = ""
    labels: tuple[str, ...] = ()
    codes: Mapping[str, str] = field(default_factory=dict, compare=False, hash=False, repr=False)
    # Width of the code list's codes when they are all digits of one width (``01``…``56``), so a
    # code whose leading zero Excel dropped (``1``) is still found.
    code_width: int = 0
    yes_no: bool = False
    # Results for raw values already seen: code lists, dates, villages and addresses repeat a lot.
    # Only issue-free results are kept (issue messages depend on the active language).
    cache: dict = field(default_factory=dict, compare=False, hash=False, repr=False)
    # The type's normaliser, looked up once.
    handler: Callable[["ElementSpec", Any], "Normalized"] | None = field(
        default=None, compare=False, hash=False, repr=False
    )

    def __post_init__(self) -> None:
        if self.type not in _HANDLERS:
            raise ValueError(f"unknown element type {self.type!r} for {self.code}")
        object.__setattr__(self, "handler", _HANDLERS[self.type])


# ----------------------------------------------------------------------------------- text helpers
_HALF_WIDTH: dict[int, int | None] = {cp: cp - 0xFEE0 for cp in range(0xFF01, 0xFF5F)}
_HALF_WIDTH[0x3000] = 0x20  # ideographic (full-width) space
for _cp in (0x00A0, 0x1680, *range(0x2000, 0x200B), 0x202F, 0x205F):
    _HALF_WIDTH[_cp] = 0x20
for _cp in (0x200B, 0x200C, 0x200D, 0x2060, 0xFEFF):  # zero-width characters and BOM
    _HALF_WIDTH[_cp] = None

# For compact forms (IDs, codes, lookup keys): half-width and no whitespace at all.
_COMPACT = dict(_HALF_WIDTH)
for _cp in (0x20, 0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x85):
    _COMPACT[_cp] = None
for _cp, _to in list(_COMPACT.items()):
    if _to == 0x20:
        _COMPACT[_cp] = None

# Names: compact, and every middle-dot look-alike becomes the · of minority names (阿依古丽·买买提).
_NAME = dict(_COMPACT)
for _cp in (0x2E, 0xFF0E, 0x30FB, 0xFF65, 0x2022, 0x2027, 0x2219, 0x22C5, 0xFE52, 0x0387):
    _NAME[_cp] = 0xB7
_ASCII_LETTER = re.compile(r"[A-Za-z]")
# Latin-letter names keep their full stops (J. Smith); other dot look-alikes still become ·.
_NAME_DOTS = {cp: to for cp, to in _NAME.items() if to == 0xB7 and cp != 0x2E}
del _cp, _to


def to_half_width(text: str) -> str:
    """Full-width digits, letters, punctuation and spaces → their ASCII forms; zero-width
    characters removed. Chinese punctuation without an ASCII twin (、。) is left alone."""
    return text.translate(_HALF_WIDTH)


def normalize_text(text: str) -> str:
    """Half-width, stripped, inner whitespace collapsed to one space."""
    return " ".join(text.translate(_HALF_WIDTH).split())


def normalize_name(text: str) -> str:
    """A person's name: half-width, all spaces removed (Chinese names have none; cells are often
    padded with full-width spaces), middle dots unified to ``·``. Names in Latin letters keep
    single spaces between words."""
    if _ASCII_LETTER.search(text):
        return " ".join(text.translate(_HALF_WIDTH).split()).translate(_NAME_DOTS)
    return text.translate(_NAME)



_CN_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_CN_NUMERAL = "零〇一二两三四五六七八九十"


def chinese_numeral(text: str) -> int | None:
    """``三`` → 3, ``十二`` → 12, ``二十`` → 20, ``九十九`` → 99; ``None`` for anything else
    (including numbers over 99)."""
    if not text:
        return None
    if "十" not in text:
        return _CN_DIGITS.get(text) if len(text) == 1 else None
    tens, _sep, units = text.partition("十")
    if "十" in units or len(tens) > 1 or len(units) > 1:
        return None
    t = 1 if not tens else _CN_DIGITS.get(tens)
    u = 0 if not units else _CN_DIGITS.get(units)
    if t is None or u is None or t == 0:
        return None
    return t * 10 + u


_GROUP = re.compile(rf"第?([0-9]+|[{_CN_NUMERAL}]+)(?:村民小组|村民组|小组|组)")
# Only these need rewriting; most addresses already say 3组 and skip the substitution.
_GROUP_TO_FIX = re.compile(rf"第|小组|村民组|[{_CN_NUMERAL}]组|(?<![0-9])0[0-9]*组")


def _group_repl(match: re.Match) -> str:
    number = match.group(1)
    n = int(number) if number.isdigit() else chinese_numeral(number)
    return match.group(0) if n is None else f"{n}组"


def normalize_address(text: str) -> str:
    """Light normalisation of an address or village group, also used by record linkage.

    Half-width, whitespace removed, and the village group written one way: ``第3村民小组``,
    ``三组``, ``第三小组``, ``03组`` → ``3组`` (Chinese numerals up to 99). Nothing is added: no
    province or county prefix is invented, and ``3-27``-style house numbers stay as they are.
    """
    text = text.translate(_COMPACT)
    if "组" in text and _GROUP_TO_FIX.search(text):
        text = _GROUP.sub(_group_repl, text)
    return text


# --------------------------------------------------------------------------------- raw values
# Cell contents that mean "nothing here" in legacy files. For code lists they are looked up first
# (无 is a value of some lists).
_PLACEHOLDERS = frozenset(
    {"-", "--", "---", "—", "——", "/", "//", "\\", "无", "暂无", "N/A", "NA", "NULL", "NONE", "NAN"}
)
_EXCEL_ERRORS = frozenset({"#N/A", "#VALUE!", "#REF!", "#DIV/0!", "#NAME?", "#NUM!", "#NULL!", "#SPILL!", "#CALC!"})


def _original(raw: Any) -> str:
    if raw is None:
        return ""
    if isinstance(raw, str):
        return raw
    if isinstance(raw, float):
        return repr(raw)
    if isinstance(raw, datetime.datetime):
        return raw.isoformat(sep=" ")
    if isinstance(raw, datetime.date):
        return raw.isoformat()
    return str(raw)


def _rejected(raw: Any, *issues: Issue) -> Normalized:
    return Normalized("", issues, _original(raw))


def _excel_error(raw: Any) -> Normalized:
    return _rejected(raw, error("excel_error", _("The cell holds an Excel error (%(text)s), not a value.")
                                % {"text": raw.strip()}))


def _number_text(raw: int | float) -> str | None:
    """A number cell as the text it stood for: ints as is, whole floats without ``.0``. ``None``
    for a float too large to be exact (Excel keeps 15 significant digits)."""
    if isinstance(raw, int):
        return str(raw)
    if not math.isfinite(raw):
        return None
    if raw.is_integer():
        if abs(raw) >= 1e15:
            return None
        return str(int(raw))
    return repr(raw)


def _mangled(raw: Any) -> Normalized:
    return _rejected(
        raw,
        error("number_mangled",
              _("A long number was stored as a number by Excel, which keeps only 15 digits: its last "
                "digits are lost. Re-enter it as text.")),
    )


def _not_text(raw: Any) -> Normalized:
    return _rejected(raw, error("value_unreadable", _("This kind of cell value cannot be read here.")))


def _cached(spec: ElementSpec, raw: Any, result: Normalized) -> Normalized:
    if not result.issues:
        cache = spec.cache
        if len(cache) >= 200_000:
            cache.clear()
        cache[raw] = result
    return result


# ---------------------------------------------------------------------------------- by type
def _norm_string(spec: ElementSpec, raw: Any) -> Normalized:
    if raw.__class__ is str:
        hit = spec.cache.get(raw)
        if hit is not None:
            return hit
        text = raw
    elif isinstance(raw, bool):
        text = str(raw)
    elif isinstance(raw, (int, float)):
        text = _number_text(raw)
        if text is None:
            return _mangled(raw)
    elif isinstance(raw, datetime.date):
        text = _original(raw)
    else:
        return _not_text(raw)
    kind = spec.kind
    if kind == "name":
        value = normalize_name(text)
    elif kind:  # address, grid
        value = normalize_address(text)
    else:
        value = " ".join(text.translate(_HALF_WIDTH).split())
    if len(value) <= 4 and value.upper() in _PLACEHOLDERS:
        value = ""
    elif value in _EXCEL_ERRORS:
        return _excel_error(text)
    if raw.__class__ is str:
        return _cached(spec, raw, Normalized(value, (), raw))
    return Normalized(value, (), text)


def _norm_text(spec: ElementSpec, raw: Any) -> Normalized:
    if raw.__class__ is not str:
        return _norm_string(spec, raw)
    lines = raw.translate(_HALF_WIDTH).replace("\r\n", "\n").replace("\r", "\n").split("\n")
    value = "\n".join(" ".join(line.split()) for line in lines).strip()
    if value in _PLACEHOLDERS:
        value = ""
    return Normalized(value, (), raw)


def _norm_id_number(spec: ElementSpec, raw: Any) -> Normalized:
    if raw.__class__ is str:
        text = raw
        if not (len(text) == 18 and text.isascii() and text[:17].isdigit()):
            text = text.translate(_COMPACT).upper().lstrip("'").replace("-", "")
            if not text or text in _PLACEHOLDERS:
                return Normalized("", (), raw)
            if text in _EXCEL_ERRORS:
                return _excel_error(raw)
            if "." in text or "E" in text:
                # 3.30726194407249E+17 or 330726194407248000.0: a number that went through Excel.
                try:
                    number = Decimal(text)
                except InvalidOperation:
                    number = None
                if number is not None and number.is_finite() and number == number.to_integral_value():
                    if abs(number) >= 10**15:
                        return _rejected(raw, id_number_mangled_issue())
                    text = str(int(number))
        elif text[17] == "x":
            text = text.upper()
    elif isinstance(raw, bool) or not isinstance(raw, (int, float)):
        return _not_text(raw)
    elif isinstance(raw, float) and (not math.isfinite(raw) or abs(raw) >= 2**53):
        # A double can't hold 18 digits; Excel keeps 15 significant ones.
        return _rejected(raw, id_number_mangled_issue())
    else:
        if raw != int(raw):
            return _rejected(raw, error("id_number_format", _("An ID number is not a fraction.")))
        text = str(int(raw))
    value, issues = check_id_number(text)
    return Normalized(value, issues, _original(raw))


def _norm_phone(spec: ElementSpec, raw: Any) -> Normalized:
    if raw.__class__ is str:
        if len(raw) == 11 and raw.isascii() and is_cn_mobile(raw):
            return Normalized(raw, (), raw)
        text = raw.translate(_HALF_WIDTH).strip()
        if not text or text in _PLACEHOLDERS:
            return Normalized("", (), raw)
        if text in _EXCEL_ERRORS:
            return _excel_error(raw)
        mobile = quick_mobile(text)
        if mobile:
            return Normalized(mobile, (), raw)
    elif isinstance(raw, bool):
        return _not_text(raw)
    elif isinstance(raw, (int, float)):
        text = _number_text(raw)
        if text is None:
            return _mangled(raw)
    else:
        return _not_text(raw)
    value, issues = check_phone(text)
    return Normalized(value, issues, _original(raw))


def _norm_uscc(spec: ElementSpec, raw: Any) -> Normalized:
    if raw.__class__ is not str:
        if isinstance(raw, bool) or not isinstance(raw, int | float):
            return _not_text(raw)
        text = _number_text(raw)  # an all-digit code typed into a number cell
        if text is None:
            return _mangled(raw)
        value, issues = check_uscc(text)
        return Normalized(value, issues, _original(raw))
    text = raw.translate(_COMPACT).replace("-", "").upper()
    if not text or text in _PLACEHOLDERS:
        return Normalized("", (), raw)
    value, issues = check_uscc(text)
    return Normalized(value, issues, raw)


def _norm_area_code(spec: ElementSpec, raw: Any) -> Normalized:
    if raw.__class__ is str:
        text = raw.translate(_COMPACT)
    elif isinstance(raw, int | float) and not isinstance(raw, bool):
        text = _number_text(raw) or ""
    else:
        return _not_text(raw)
    if not text or text in _PLACEHOLDERS:
        return Normalized("", (), _original(raw))
    if text.isascii() and text.isdigit() and len(text) in (2, 4, 6, 9, 12):
        return Normalized(text, (), _original(raw))
    return _rejected(raw, error("area_code_invalid",
                                _("An area code (区划代码) has 2, 4, 6, 9 or 12 digits.")))


# ------------------------------------------------------------------------------------- numbers
_UNITS = "平方米|平米|平方|㎡|m²|m2|M2|米|层|楼层|人|口|年|岁|周岁|个|间|户|次|栋|幢|元|套"
_NUMBER = re.compile(rf"([+-]?(?:\d+(?:\.\d*)?|\.\d+))(?:{_UNITS})?")
_CN_NUMBER = re.compile(rf"([{_CN_NUMERAL}]+)(?:{_UNITS})?")
_THOUSANDS = re.compile(r"[+-]?\d{1,3}(?:,\d{3})+(?:\.\d+)?(?![\d,])")
_BLANK, _EXCEL = "", "#"


def _number_value(raw: Any) -> Decimal | str | None:
    """The number in a cell: a ``Decimal``; ``_BLANK`` or ``_EXCEL`` (an Excel error) for no
    value; ``None`` when it is not a number. Units (层, ㎡, 年 …), thousands separators and
    Chinese numerals up to 99 (三层) are understood; a scale word (3万) is not, so it fails."""
    if raw.__class__ is str:
        text = raw.translate(_COMPACT)
        if not text or text.upper() in _PLACEHOLDERS:
            return _BLANK
        if text in _EXCEL_ERRORS:
            return _EXCEL
        if "," in text and _THOUSANDS.match(text):
            text = text.replace(",", "")
        match = _NUMBER.fullmatch(text)
        if match:
            return Decimal(match.group(1))
        match = _CN_NUMBER.fullmatch(text)
        if match:
            n = chinese_numeral(match.group(1))
            return None if n is None else Decimal(n)
        return None
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        return None
    if isinstance(raw, float):
        return Decimal(repr(raw)) if math.isfinite(raw) else None
    return Decimal(raw)


def _number_result(raw: Any, number: Decimal | str | None) -> Normalized | None:
    """The result for a cell that holds no usable number, else ``None``."""
    if number is None:
        return _rejected(raw, error("number_invalid", _("Not a number.")))
    if number == _BLANK:
        return Normalized("", (), _original(raw))
    if number == _EXCEL:
        return _excel_error(raw)
    return None


def _negative() -> Issue:
    return warning("number_negative", _("A negative number; check the sign."))


def _norm_int(spec: ElementSpec, raw: Any) -> Normalized:
    if raw.__class__ is int:
        return Normalized(str(raw), () if raw >= 0 else (_negative(),), str(raw))
    if raw.__class__ is str and raw.isascii() and raw.isdigit():
        return Normalized(str(int(raw)), (), raw)
    number = _number_value(raw)
    if (bad := _number_result(raw, number)) is not None:
        return bad
    if number != number.to_integral_value():
        return _rejected(raw, error("int_not_whole", _("A whole number is expected.")))
    n = int(number)
    return Normalized(str(n), () if n >= 0 else (_negative(),), _original(raw))


def _decimal_text(number: Decimal) -> str:
    text = format(number, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _norm_decimal(spec: ElementSpec, raw: Any) -> Normalized:
    number = _number_value(raw)
    if (bad := _number_result(raw, number)) is not None:
        return bad
    return Normalized(_decimal_text(number), () if number >= 0 else (_negative(),), _original(raw))


# --------------------------------------------------------------------------------------- dates
_DATE_FULL = re.compile(
    r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*[日号]?"
    r"(?:(?:\s+|T)(\d{1,2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?)?"
)
_DATE_MONTH = re.compile(r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*月?")
_EXCEL_EPOCH = datetime.date(1899, 12, 30)  # 1900 date system, serials after the fictitious 1900-02-29
# Plausible Excel serials: 1900-03-01 … 2100-12-31. Numbers 1850…2100 are read as a lone year.
_SERIAL_MIN, _SERIAL_MAX = 61, 73415
_YEAR_MIN, _YEAR_MAX = 1850, 2100

# Parse outcomes: a real date; (year, month) for a month-only value; or an error code.
_Parsed = datetime.date | tuple[int, int] | str


def _make_date(y: int, m: int, d: int) -> _Parsed:
    if not _YEAR_MIN <= y <= _YEAR_MAX:
        return "date_out_of_range"
    if not d:
        return (y, m) if 1 <= m <= 12 else "date_impossible"
    try:
        return datetime.date(y, m, d)
    except ValueError:
        return "date_impossible"


def _parse_serial(number: float) -> _Parsed:
    n = int(number)
    if _YEAR_MIN <= n <= _YEAR_MAX and number == n:
        return "date_year_only"
    if not _SERIAL_MIN <= n <= _SERIAL_MAX:
        return "date_invalid"
    return _EXCEL_EPOCH + datetime.timedelta(days=n)


@functools.lru_cache(maxsize=100_000)
def _parse_date_text(text: str) -> _Parsed:
    """Parse stripped date text (cached: a file's dates repeat)."""
    if len(text) == 10 and text[4] == "-" and text[7] == "-":
        try:
            return _make_date(*datetime.date.fromisoformat(text).timetuple()[:3])
        except ValueError:
            pass  # 1985-02-30: reported as impossible below
    if not text.isascii():
        text = text.translate(_HALF_WIDTH)
    if text.isdigit():
        if len(text) == 8:
            return _make_date(int(text[:4]), int(text[4:6]), int(text[6:]))
        if len(text) == 6:
            return _make_date(int(text[:4]), int(text[4:]), 0)
        return _parse_serial(int(text))
    match = _DATE_FULL.fullmatch(text)
    if match:
        return _make_date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
    match = _DATE_MONTH.fullmatch(text)
    if match:
        return _make_date(int(match.group(1)), int(match.group(2)), 0)
    try:
        number = float(text)
    except ValueError:
        return "date_invalid"
    return _parse_serial(number) if math.isfinite(number) else "date_invalid"


def _parse_date_number(raw: int | float) -> _Parsed:
    if isinstance(raw, float):
        if not math.isfinite(raw):
            return "date_invalid"
        if not raw.is_integer():
            if _SERIAL_MIN <= raw < _SERIAL_MAX + 1:
                return _parse_serial(raw)  # a serial with a time of day
            return _parse_date_text(repr(raw))  # 1985.03
    n = int(raw)
    if 10_000_000 <= n <= 99_999_999 or 100_000 <= n <= 999_999:
        return _parse_date_text(str(n))  # 19850302, 198503
    return _parse_serial(n)


def _date_error(raw: Any, code: str) -> Normalized:
    messages = {
        "date_invalid": _("Not a date. Use e.g. 1985-03-02."),
        "date_year_only": _("A year alone is not a date."),
        "date_impossible": _("This date does not exist."),
        "date_out_of_range": _("The year is outside %(min)d–%(max)d.") % {"min": _YEAR_MIN, "max": _YEAR_MAX},
        "date_incomplete": _("The day is missing: this element needs a full date."),
        "date_in_future": _("The date is in the future."),
    }
    return _rejected(raw, error(code, messages[code]))


def _norm_date(spec: ElementSpec, raw: Any) -> Normalized:
    if raw.__class__ is str:
        hit = spec.cache.get(raw)
        if hit is not None:
            return hit
        stripped = raw.strip()
        if stripped in _PLACEHOLDERS:
            return Normalized("", (), raw)
        if stripped in _EXCEL_ERRORS:
            return _excel_error(raw)
        parsed = _parse_date_text(stripped)
        if parsed == "date_invalid" and not raw.translate(_COMPACT):
            return Normalized("", (), raw)  # only zero-width characters
    elif isinstance(raw, datetime.datetime):
        parsed = _make_date(raw.year, raw.month, raw.day)
    elif isinstance(raw, datetime.date):
        parsed = _make_date(raw.year, raw.month, raw.day)
    elif isinstance(raw, int | float) and not isinstance(raw, bool):
        parsed = _parse_date_number(raw)
    else:
        return _not_text(raw)
    cls = parsed.__class__
    if cls is str:
        return _date_error(raw, parsed)
    issues: tuple[Issue, ...] = ()
    if cls is tuple:
        if spec.precision == "day":
            return _date_error(raw, "date_incomplete")
        y, m = parsed
        now = today()
        future = (y, m) > (now.year, now.month)
        value = f"{y:04d}-{m:02d}"
        if spec.precision != "month":
            issues = (warning("date_month_only", _("Only the year and month are given; kept as %(value)s.")
                              % {"value": value}),)
    else:
        future = parsed > today()
        value = parsed.isoformat()
        if spec.precision == "month":
            value = value[:7]
    if future:
        if spec.code.endswith("birth_date"):
            return _date_error(raw, "date_in_future")
        issues += (warning("date_in_future", _("The date is in the future.")),)
    if raw.__class__ is str:
        return _cached(spec, raw, Normalized(value, issues, raw))
    return Normalized(value, issues, _original(raw))


def _norm_datetime(spec: ElementSpec, raw: Any) -> Normalized:
    if isinstance(raw, datetime.datetime):
        return Normalized(raw.replace(tzinfo=None, microsecond=0).isoformat(sep=" "), (), _original(raw))
    if raw.__class__ is str:
        text = " ".join(raw.translate(_HALF_WIDTH).split())
        match = _DATE_FULL.fullmatch(text)
        if match and match.group(4) is not None:
            try:
                moment = datetime.datetime(*(int(g) for g in match.group(1, 2, 3, 4, 5)), int(match.group(6) or 0))
            except ValueError:
                return _date_error(raw, "date_impossible")
            return Normalized(moment.isoformat(sep=" "), (), raw)
    day_spec = ElementSpec(code=spec.code, type="date", precision="day")
    return _norm_date(day_spec, raw)


# ------------------------------------------------------------------------------------ code lists
_CODE_LABEL = re.compile(r"([0-9A-Z]+)\s*[-_.:、()]?\s*(.+?)\)?")
_LABEL_CODE = re.compile(r"(.+?)\s*\(\s*([0-9A-Z]+)\s*\)")
_WHOLE_FLOAT = re.compile(r"\d+\.0+")
_YES, _NO = "是", "否"
_YES_NO_EXTRA = {
    _YES: ("1", "Y", "YES", "TRUE", "√", "✓", "✔", "有", "是的", "对"),
    _NO: ("0", "N", "NO", "FALSE", "×", "✗", "✘", "无", "没有", "不是"),
}
_GENDER_EXTRA = {"男": ("男性", "男士", "M", "MALE"), "女": ("女性", "女士", "F", "FEMALE")}


def code_key(text: str) -> str:
    """The lookup key of a code-list token: half-width, no whitespace, upper case."""
    return text.translate(_COMPACT).upper()


def _code_unknown(raw: Any, text: str) -> Normalized:
    shown = text if len(text) <= 40 else text[:40] + "…"
    return _rejected(raw, error("code_unknown", _("“%(value)s” is not in this element's code list.")
                                % {"value": shown}))


def _lookup_code(spec: ElementSpec, key: str) -> str | None:
    codes = spec.codes
    label = codes.get(key)
    if label is not None:
        return label
    if _WHOLE_FLOAT.fullmatch(key):  # 1.0 from a CSV of a number column
        key = key.split(".", 1)[0]
        label = codes.get(key)
        if label is not None:
            return label
    if spec.code_width and key.isdigit() and len(key) < spec.code_width:
        return codes.get(key.zfill(spec.code_width))
    # A code and a label together (1-男, 01汉族, 男(1)): accepted when both name the same value.
    for pattern, code_group, label_group in ((_LABEL_CODE, 2, 1), (_CODE_LABEL, 1, 2)):
        match = pattern.fullmatch(key)
        if match:
            by_code = codes.get(match.group(code_group))
            if by_code is None and spec.code_width and match.group(code_group).isdigit():
                by_code = codes.get(match.group(code_group).zfill(spec.code_width))
            if by_code is not None and by_code == codes.get(match.group(label_group)):
                return by_code
    return None


def _norm_code(spec: ElementSpec, raw: Any) -> Normalized:
    hit = spec.cache.get(raw) if raw.__class__ is str or raw.__class__ is int else None
    if hit is not None:
        return hit
    if raw.__class__ is str:
        text = raw
    elif isinstance(raw, bool):
        text = "TRUE" if raw else "FALSE"
    elif isinstance(raw, (int, float)):
        text = _number_text(raw) or repr(raw)
    else:
        return _not_text(raw)
    key = code_key(text)
    if not key:
        return Normalized("", (), _original(raw))
    label = _lookup_code(spec, key)
    if label is None:
        if key in _PLACEHOLDERS:
            return Normalized("", (), _original(raw))
        if key in _EXCEL_ERRORS:
            return _excel_error(text)
        return _code_unknown(raw, text.strip())
    result = Normalized(label, (), _original(raw))
    if raw.__class__ is str or raw.__class__ is int:
        return _cached(spec, raw, result)
    return result


def _norm_bool(spec: ElementSpec, raw: Any) -> Normalized:
    if isinstance(raw, bool):
        return Normalized(_YES if raw else _NO, (), str(raw))
    return _norm_code(_BOOL_SPEC, raw)


# --------------------------------------------------------------------------------------- specs
_HANDLERS: dict[str, Callable[[ElementSpec, Any], Normalized]] = {
    "string": _norm_string,
    "text": _norm_text,
    "id_number": _norm_id_number,
    "code": _norm_code,
    "date": _norm_date,
    "datetime": _norm_datetime,
    "int": _norm_int,
    "decimal": _norm_decimal,
    "bool": _norm_bool,
    "phone": _norm_phone,
    "uscc": _norm_uscc,
    "area_code": _norm_area_code,
}


def _string_kind(code: str) -> str:
    entity, _dot, name = code.rpartition(".")
    if "address" in name:
        return "address"
    if name == "grid":
        return "grid"
    if name.endswith("_name") or (name == "name" and entity == "person"):
        return "name"
    return ""


def _code_lookup(values: Iterable[Mapping[str, Any]]) -> tuple[dict[str, str], tuple[str, ...], int, bool]:
    values = [v for v in values if v.get("label")]
    labels = tuple(str(v["label"]) for v in values)
    lookup: dict[str, str] = {}

    def add(token: Any, label: str) -> None:
        key = code_key(str(token))
        if key:
            lookup.setdefault(key, label)

    # Labels first, then codes, then aliases: where a token means two things, the label wins.
    for v in values:
        add(v["label"], v["label"])
    for v in values:
        add(v.get("code", ""), v["label"])
    for v in values:
        for alias in v.get("aliases") or ():
            add(alias, v["label"])
    # Ethnicities written without 族 (汉 → 汉族, 土家 → 土家族).
    for v in values:
        for token in (v["label"], *(v.get("aliases") or ())):
            if len(token) >= 2 and token.endswith("族"):
                add(token[:-1], v["label"])
    label_set = set(labels)
    yes_no = label_set == {_YES, _NO}
    extras = _YES_NO_EXTRA if yes_no else _GENDER_EXTRA if {"男", "女"} <= label_set else {}
    for label, tokens in extras.items():
        for token in tokens:
            add(token, label)
    codes = [str(v.get("code", "")) for v in values]
    width = len(codes[0]) if codes and len(codes[0]) > 1 else 0
    if width and not all(len(c) == width and c.isdigit() for c in codes):
        width = 0
    return lookup, labels, width, yes_no


def _build_spec(code: str, type_: str, values: Iterable[Mapping[str, Any]], precision: str = "",
                kind: str | None = None) -> ElementSpec:
    lookup, labels, width, yes_no = _code_lookup(values)
    return ElementSpec(
        code=code,
        type=type_,
        precision=precision or "",
        kind=_string_kind(code) if kind is None else kind,
        labels=labels,
        codes=lookup,
        code_width=width,
        yes_no=yes_no,
    )


def element_spec_from_dict(d: Mapping[str, Any]) -> ElementSpec:
    """The spec of one element of ``catalog.json`` (``code``, ``type``, optional ``code_list``
    with ``values`` of ``code``/``label``/``aliases``, optional ``precision`` and ``kind``)."""
    code_list = d.get("code_list") or {}
    values = code_list.get("values", []) if isinstance(code_list, Mapping) else code_list
    return _build_spec(d["code"], d["type"], values, d.get("precision") or "", d.get("kind"))


def element_specs_from_catalog() -> dict[str, ElementSpec]:
    """Specs of every catalog element, read from the database once (two queries)."""
    from yici.catalog.selectors import element_by_code_map

    specs = {}
    for code, element in element_by_code_map().items():
        values = [{"code": v.code, "label": v.label, "aliases": v.aliases} for v in element.code_values.all()]
        specs[code] = _build_spec(code, element.type, values, getattr(element, "precision", "") or "")
    return specs


_BOOL_SPEC = _build_spec("bool", "code", [{"code": "1", "label": _YES}, {"code": "0", "label": _NO}])


# ----------------------------------------------------------------------------------- entry points
def normalize(element: ElementSpec, raw: Any) -> Normalized:
    """Normalise and validate one raw value of ``element``.

    ``raw`` is what a reader hands over: ``str``, ``int``, ``float``, ``bool``, ``datetime``/``date``
    or ``None``. Never raises for a bad value: it comes back with ``value=''``, an error issue and
    the ``original`` text.
    """
    if raw is None:
        return EMPTY
    if raw.__class__ is str:
        if not raw or (raw[0].isspace() and not raw.strip()):
            return Normalized("", (), raw)
    elif not isinstance(raw, _CELL_TYPES):
        raw = str(raw)  # Decimal, openpyxl rich text, str subclasses
    return element.handler(element, raw)


_CELL_TYPES = (int, float, datetime.date, datetime.time)


def normalize_row(
    specs: Mapping[str, ElementSpec], row: Mapping[str, Any]
) -> tuple[dict[str, str], dict[str, list[Issue]]]:
    """Normalise a row keyed by element code.

    Returns ``values`` (element code → registry value, ``''`` for none) for every element that
    passed, and ``issues`` (element code → issues) for those with any. A rejected value is absent
    from ``values`` and has an error in ``issues``. Person rows also get the ID-number consistency
    warnings of :func:`~yici.registry.validation.check_person_consistency`.
    """
    values: dict[str, str] = {}
    issues: dict[str, list[Issue]] = {}
    for code, raw in row.items():
        spec = specs.get(code)
        if spec is None:
            issues[code] = [error("element_unknown", _("This element is not in the catalog."))]
            continue
        # normalize(), inlined: this loop runs for every cell of every import.
        if raw is None or raw == "":
            values[code] = ""
            continue
        if raw.__class__ is str:
            if raw[0].isspace() and not raw.strip():
                values[code] = ""
                continue
        elif not isinstance(raw, _CELL_TYPES):
            raw = str(raw)
        result = spec.handler(spec, raw)
        if result.issues:
            issues[code] = list(result.issues)
            if not result.ok:
                continue
        values[code] = result.value
    if values.get("person.id_number"):
        for code, issue in check_person_consistency(values):
            issues.setdefault(code, []).append(issue)
    return values, issues
