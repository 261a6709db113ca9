"""公民身份号码 (GB 11643-1999) arithmetic shared by the demo generator, validation and tests.

Everything here is pure and cheap enough to run once per row over a million rows. We do the
arithmetic ourselves rather than call ``stdnum.cn.ric.validate``: that rejects real numbers whose
county code is newer than the holder's birth year (浦江县 330726 dates from 1985, yet people born in
1944 carry it) and its region lookup can raise ``KeyError``. Only stdnum's county table is read.
"""

import datetime
import functools
from importlib import resources

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"
_GENDER_BY_PARITY = ("女", "男")


def check_digit(first17: str) -> str:
    """The check character (``0``-``9`` or ``X``) for the first 17 digits."""
    if len(first17) != 17 or not first17.isdigit():
        raise ValueError("need exactly 17 digits")
    # The weights are 2^(18-i) mod 11, and 13 ≡ 2 (mod 11), so Σ dᵢ·wᵢ ≡ 2·int(first17, 13): parsing
    # the digits in base 13 does the weighted sum in C (python-stdnum's trick). The tests check it
    # against the weight table.
    return _CHECK[(2 * int(first17, 13)) % 11]


def make_id_number(*, region: str, birth_date: datetime.date, sequence: int, male: bool) -> str:
    """Build a valid number: 6-digit region, birth date, 3-digit sequence whose last digit is odd for men."""
    if len(region) != 6 or not region.isdigit():
        raise ValueError("region must be 6 digits")
    seq = (sequence % 500) * 2 + (1 if male else 0)
    body = f"{region}{birth_date:%Y%m%d}{seq:03d}"
    return body + check_digit(body)


def is_valid_id_number(value: str) -> bool:
    """Length, digits, a real birth date and the check character (a lower-case ``x`` passes)."""
    if len(value) != 18 or not value[:17].isdigit():
        return False
    try:
        datetime.date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        return False
    return check_digit(value[:17]) == value[17].upper()


def upgrade_15(old: str) -> str:
    """The 18-character form of a 15-digit (pre-1999) number: ``19`` before the 2-digit year, plus a
    check character. The birth date is not checked here."""
    if len(old) != 15 or not old.isdigit():
        raise ValueError("need exactly 15 digits")
    first17 = f"{old[:6]}19{old[6:]}"
    return first17 + check_digit(first17)


def birth_date_from_id(id_number: str) -> datetime.date | None:
    """The birth date encoded in an 18- (or 15-) digit number, or ``None`` if it is not a real date."""
    if len(id_number) == 15 and id_number.isdigit():
        y, m, d = "19" + id_number[6:8], id_number[8:10], id_number[10:12]
    elif len(id_number) == 18 and id_number[6:14].isdigit():
        y, m, d = id_number[6:10], id_number[10:12], id_number[12:14]
    else:
        return None
    try:
        return datetime.date(int(y), int(m), int(d))
    except ValueError:
        return None


def gender_from_id(id_number: str) -> str:
    """``男`` or ``女`` from the parity of the sequence's last digit (17th of 18, 15th of 15), else ``''``."""
    if len(id_number) == 18:
        digit = id_number[16]
    elif len(id_number) == 15:
        digit = id_number[14]
    else:
        return ""
    if not digit.isdigit():
        return ""
    return _GENDER_BY_PARITY[int(digit) % 2]


@functools.cache
def region_codes() -> frozenset[str]:
    """Every 6-digit 行政区划代码 that has ever existed, from python-stdnum's county table.

    Codes are kept whatever their years of validity: an ID keeps the code it was issued with, and a
    county can be renamed or recoded long after its residents were born.
    """
    codes: set[str] = set()
    try:
        text = resources.files("stdnum").joinpath("cn/loc.dat").read_text(encoding="utf-8")
    except (FileNotFoundError, ModuleNotFoundError, OSError):  # stdnum missing or repackaged
        return frozenset()
    province = ""
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        prefix = line.split(maxsplit=1)[0]
        if not line.startswith(" "):
            province = prefix
            codes.add(province + "0000")
        elif province:
            codes.add(province + prefix)
    return frozenset(codes)


def region_known(id_number: str) -> bool:
    """Whether the first six digits are a known region code. True when no table is available, so
    a missing table never produces warnings."""
    codes = region_codes()
    return id_number[:6] in codes or not codes
