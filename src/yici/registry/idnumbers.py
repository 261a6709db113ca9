"""公民身份号码 (GB 11643-1999) arithmetic shared by the demo generator, validation and tests."""

import datetime

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"


def check_digit(first17: str) -> str:
    total = sum(int(d) * w for d, w in zip(first17, _WEIGHTS, strict=True))
    return _CHECK[total % 11]


def make_id_number(*, region: str, birth_date: datetime.date, sequence: int, male: bool) -> str:
    """Build a valid number: 6-digit region, birth date, 3-digit sequence whose last digit is odd for men."""
    if len(region) != 6 or not region.isdigit():
        raise ValueError("region must be 6 digits")
    seq = (sequence % 500) * 2 + (1 if male else 0)
    body = f"{region}{birth_date:%Y%m%d}{seq:03d}"
    return body + check_digit(body)


def is_valid_id_number(value: str) -> bool:
    if len(value) != 18 or not value[:17].isdigit():
        return False
    try:
        datetime.date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        return False
    return check_digit(value[:17]) == value[17].upper()
