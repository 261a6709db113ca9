"""Validation of single values and of a person's fields against each other.

An :class:`Issue` is what a check reports: its ``level`` (``error``: the value is not accepted;
``warning``: the value is accepted but a person should look at it), a stable ``code`` for programs
and a translated, row-independent ``message`` (the caller adds the file, row and column).

The ``check_*`` functions take text already cleaned by :mod:`yici.registry.normalize` (half-width,
no spaces) and return ``(value, issues)``; ``value`` is ``''`` whenever an issue is an error, so a
rejected value is never passed on altered. They are pure and run once per cell, so no database and
no per-call setup.
"""

import datetime
import functools
import re
import time
from typing import NamedTuple

import phonenumbers
from django.utils.translation import gettext as _
from stdnum.cn import uscc as stdnum_uscc

from yici.registry.idnumbers import check_digit, gender_from_id, region_known, upgrade_15

ERROR = "error"
WARNING = "warning"


class Issue(NamedTuple):
    level: str  # "error" | "warning"
    code: str
    message: str

    @property
    def is_error(self) -> bool:
        return self.level == ERROR


def error(code: str, message: str) -> Issue:
    return Issue(ERROR, code, message)


def warning(code: str, message: str) -> Issue:
    return Issue(WARNING, code, message)


def has_error(issues) -> bool:
    return any(issue.level == ERROR for issue in issues)


# ---------------------------------------------------------------------------------------- today
_today_cache: tuple[float, datetime.date, str] = (0.0, datetime.date.min, "")


def today() -> datetime.date:
    """Today's date, read at most once a minute: the per-value path calls this a million times."""
    if time.monotonic() >= _today_cache[0]:
        _refresh_today()
    return _today_cache[1]


def today_ymd() -> str:
    """Today as ``YYYYMMDD``, to compare with the digits of an ID number."""
    if time.monotonic() >= _today_cache[0]:
        _refresh_today()
    return _today_cache[2]


def _refresh_today() -> None:
    global _today_cache
    day = datetime.date.today()
    _today_cache = (time.monotonic() + 60.0, day, f"{day:%Y%m%d}")


# ------------------------------------------------------------------------------------ ID number
# Earliest plausible birth year in a living register, and in old records of the deceased.
MIN_BIRTH_YEAR = 1880


@functools.lru_cache(maxsize=65_536)
def _real_birth_date(ymd: str) -> bool:
    """Whether ``YYYYMMDD`` is a real date from MIN_BIRTH_YEAR on (cached: birth dates repeat)."""
    try:
        return datetime.date(int(ymd[:4]), int(ymd[4:6]), int(ymd[6:8])).year >= MIN_BIRTH_YEAR
    except ValueError:
        return False


def check_id_number(text: str) -> tuple[str, tuple[Issue, ...]]:
    """Validate a compact ID (digits, an upper-case ``X``, no spaces): 18 characters, or 15 digits
    (upgraded to 18 with a warning). Errors: format, check character, impossible or future birth
    date. An unknown region code is only a warning, since the county table is never complete."""
    if (
        len(text) == 18
        and text.isascii()
        and text[:17].isdigit()
        and check_digit(text[:17]) == text[17]
        and _real_birth_date(ymd := text[6:14])
        and ymd <= today_ymd()
        and region_known(text)
    ):
        return text, ()  # the common case, without building issue lists
    issues: list[Issue] = []
    if len(text) == 15 and text.isascii() and text.isdigit():
        value = upgrade_15(text)
        issues.append(
            warning(
                "id_number_15_digits",
                _("Old 15-digit ID number; converted to the 18-character form %(value)s.") % {"value": value},
            )
        )
    elif len(text) == 18 and text.isascii() and text[:17].isdigit() and (text[17].isdigit() or text[17] == "X"):
        value = text
        if check_digit(text[:17]) != text[17]:
            issues.append(
                error(
                    "id_number_checksum",
                    _("The ID number's check character is wrong; a digit is probably mistyped."),
                )
            )
    else:
        return "", (
            error(
                "id_number_format",
                _("An ID number has 18 characters (17 digits and a digit or X), or 15 digits; got %(n)d.")
                % {"n": len(text)},
            ),
        )

    ymd = value[6:14]
    if not _real_birth_date(ymd):
        issues.append(
            error("id_number_birth_date", _("The birth date in the ID number (%(ymd)s) is impossible.")
                  % {"ymd": ymd})
        )
    elif ymd > today_ymd():
        issues.append(
            error("id_number_future", _("The birth date in the ID number (%(date)s) is in the future.")
                  % {"date": f"{ymd[:4]}-{ymd[4:6]}-{ymd[6:]}"})
        )
    if not region_known(value):
        issues.append(
            warning("id_number_region_unknown",
                    _("The region code %(code)s of the ID number is not a known area code.") % {"code": value[:6]})
        )
    if has_error(issues):
        return "", tuple(issues)
    return value, tuple(issues)


def id_number_mangled_issue() -> Issue:
    return error(
        "id_number_mangled",
        _("The ID number was stored as a number by Excel, which keeps only 15 digits: its last digits "
          "are lost. Re-enter it as text."),
    )


# ---------------------------------------------------------------------------------------- phone
_CN_META = phonenumbers.PhoneMetadata.metadata_for_region("CN")
# libphonenumber's own pattern for mainland mobiles, compiled once: parsing costs ~30 µs a number,
# the pattern well under one, and nearly every cell holds a mobile.
is_cn_mobile = re.compile(_CN_META.mobile.national_number_pattern).fullmatch
_PHONE_SEPARATORS = re.compile(r"[/,;，；、|\\]|或")
_PHONE_NON_DIGITS = re.compile(r"[^0-9+]")
# Anything besides digits, +, spaces and the usual punctuation: a label such as 本人 or 手机.
_PHONE_EXTRA_TEXT = re.compile(r"[^0-9+\-\s().]")
_LANDLINE_TYPES = frozenset({phonenumbers.PhoneNumberType.FIXED_LINE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE})


# Separators inside one number, deleted for the quick mobile check.
_PHONE_QUICK = {ord(c): None for c in " -()\u3000\t"}
_PHONE_QUICK.update({cp: cp - 0xFEE0 for cp in range(0xFF10, 0xFF1A)})  # full-width digits
_PHONE_QUICK.update({0xFF0B: ord("+"), 0xFF0D: None, 0xFF08: None, 0xFF09: None})


def quick_mobile(text: str) -> str:
    """The 11-digit mobile in ``text`` when it is just one (with +86/86/0086, spaces, dashes,
    full-width digits), else ``''``. A shortcut for the common case; :func:`check_phone` does the rest."""
    digits = text.translate(_PHONE_QUICK)
    if len(digits) != 11:
        if digits.startswith("+86"):
            digits = digits[3:]
        elif digits.startswith("0086"):
            digits = digits[4:]
        elif len(digits) == 13 and digits.startswith("86"):
            digits = digits[2:]
    if len(digits) == 11 and digits.isascii() and is_cn_mobile(digits):
        return digits
    return ""


def _one_phone(part: str) -> tuple[str, Issue | None]:
    """One number → (value, warning or None), or ('', error)."""
    digits = _PHONE_NON_DIGITS.sub("", part)
    if digits.startswith("+86"):
        digits = digits[3:]
    elif digits.startswith("0086"):
        digits = digits[4:]
    elif len(digits) == 13 and digits.startswith("861"):
        digits = digits[2:]
    extra = None
    if _PHONE_EXTRA_TEXT.search(part):
        extra = warning("phone_extra_text", _("Text next to the phone number was dropped."))
    if is_cn_mobile(digits):
        return digits, extra
    if not digits.replace("+", ""):
        return "", error("phone_invalid", _("Not a phone number."))
    if digits.startswith("00"):
        digits = "+" + digits[2:]
    try:
        number = phonenumbers.parse(digits, "CN")
    except phonenumbers.NumberParseException:
        number = None
    if number is None or not phonenumbers.is_valid_number(number):
        if 7 <= len(digits) <= 8 and digits[0] != "0":
            return "", error(
                "phone_no_area_code",
                _("A landline number needs its area code, e.g. 0579-84123456."),
            )
        return "", error("phone_invalid", _("Not a valid mainland China mobile or landline number."))
    national = phonenumbers.national_significant_number(number)
    if number.country_code != 86:
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164), warning(
            "phone_foreign", _("A phone number outside mainland China; kept in international form.")
        )
    if phonenumbers.number_type(number) in _LANDLINE_TYPES:
        area = phonenumbers.length_of_geographical_area_code(number)
        if area:
            return f"0{national[:area]}-{national[area:]}", extra
    return national, extra


def check_phone(text: str) -> tuple[str, tuple[Issue, ...]]:
    """Validate half-width phone text: one mobile (→ 11 digits) or landline (→ ``0579-84123456``).
    With several numbers in the cell, the first valid one is kept and a warning says so."""
    parts = [p for p in _PHONE_SEPARATORS.split(text) if p.strip()]
    if not parts:
        return "", (error("phone_invalid", _("Not a phone number.")),)
    first_error = None
    for part in parts:
        value, issue = _one_phone(part)
        if value:
            issues = (issue,) if issue else ()
            if len(parts) > 1:
                issues += (
                    warning(
                        "phone_several",
                        _("The cell holds %(n)d phone numbers; the first valid one was kept.") % {"n": len(parts)},
                    ),
                )
            return value, issues
        first_error = first_error or issue
    # Two mobiles separated only by a space: 13800138000 13900139000.
    digits = _PHONE_NON_DIGITS.sub("", text)
    if len(parts) == 1 and len(digits) in (22, 33):
        mobiles = [digits[i : i + 11] for i in range(0, len(digits), 11)]
        if all(is_cn_mobile(m) for m in mobiles):
            return mobiles[0], (
                warning(
                    "phone_several",
                    _("The cell holds %(n)d phone numbers; the first valid one was kept.") % {"n": len(mobiles)},
                ),
            )
    return "", (first_error,)


# ----------------------------------------------------------------------------------------- USCC
_USCC_ALPHABET = frozenset("0123456789ABCDEFGHJKLMNPQRTUWXY")


def check_uscc(text: str) -> tuple[str, tuple[Issue, ...]]:
    """Validate a compact 统一社会信用代码 (GB 32100-2015): 18 characters from the code alphabet,
    digits 3-8 a region code, and the check character.

    The first two positions may be letters: stdnum requires digits there and so rejects, e.g., the
    N-prefixed codes of village collective economic organisations.
    """
    if len(text) != 18 or not set(text) <= _USCC_ALPHABET or not text[2:8].isdigit():
        return "", (
            error("uscc_invalid",
                  _("A unified social credit code has 18 digits and capital letters (no I, O, S, V or Z).")),
        )
    try:
        expected = stdnum_uscc.calc_check_digit(text[:17])
    except (ValueError, IndexError):  # defensive: stdnum's internals are not our contract
        expected = ""
    if expected != text[17]:
        return "", (
            error("uscc_checksum",
                  _("The unified social credit code's check character is wrong; a character is probably mistyped.")),
        )
    return text, ()


# ------------------------------------------------------------------------------- cross-field
def check_person_consistency(values: dict[str, str]) -> list[tuple[str, Issue]]:
    """Compare a person's normalised ID number with their birth date and gender.

    Only warnings, attached to ``person.id_number``: legacy files often carry a household member's
    ID in a person's row, so a mismatch usually means the ID is someone else's, but it may also be
    a typo in the other field.
    """
    id_number = values.get("person.id_number") or ""
    if len(id_number) != 18:
        return []
    found: list[tuple[str, Issue]] = []
    birth = values.get("person.birth_date") or ""
    # Compared as text: both are normalised, and birth may be month-only (YYYY-MM).
    id_birth = f"{id_number[6:10]}-{id_number[10:12]}-{id_number[12:14]}"
    if birth and not id_birth.startswith(birth[:10]):
        found.append(
            (
                "person.id_number",
                warning(
                    "id_birth_date_mismatch",
                    _("The ID number's birth date (%(id_date)s) differs from the birth date given (%(date)s); "
                      "the ID may belong to someone else.") % {"id_date": id_birth, "date": birth},
                ),
            )
        )
    gender = values.get("person.gender") or ""
    id_gender = gender_from_id(id_number)
    if gender in ("男", "女") and id_gender and gender != id_gender:
        found.append(
            (
                "person.id_number",
                warning(
                    "id_gender_mismatch",
                    _("The ID number says %(id_gender)s but the gender given is %(gender)s; "
                      "the ID may belong to someone else.") % {"id_gender": id_gender, "gender": gender},
                ),
            )
        )
    return found
