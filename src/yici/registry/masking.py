"""Masking of sensitive values in lists (身份证号, phone numbers)."""

SENSITIVE_FIELDS = ("id_number", "phone")


def mask_id_number(value: str) -> str:
    # Keep the region (first 6) and the check digit: enough to tell two people apart in a list.
    if len(value) <= 10:
        return "*" * len(value)
    return value[:6] + "*" * (len(value) - 10) + value[-4:]


def mask_phone(value: str) -> str:
    if len(value) < 7:
        return "*" * len(value)
    return value[:3] + "*" * (len(value) - 7) + value[-4:]


def mask(field: str, value: str) -> str:
    if not value:
        return ""
    if field == "id_number":
        return mask_id_number(value)
    if field == "phone":
        return mask_phone(value)
    return value
