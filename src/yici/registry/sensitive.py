"""Sensitive element values: which they are, how they are masked, and the audited reveal of one.

The catalog decides (``sensitivity='sensitive'``; ID numbers and phones always are). Pages mask
these values everywhere, also in the candidates other sources offered; reading a full value is
``golden_value_reveal``, which records who read it and why.
"""

from django.db import models

from yici.audit.services import audit_reveal
from yici.catalog.models import SENSITIVE_TYPES, DataElement, Sensitivity
from yici.registry import golden
from yici.registry.masking import mask_id_number, mask_phone

# Shown instead of a sensitive value that has no partial mask (是否低保对象, 残疾等级 …).
HIDDEN = "****"


def element_is_sensitive(code: str, element: DataElement | None) -> bool:
    """Whether values of ``code`` are masked; an element missing from the catalog is judged by its code."""
    if element is not None:
        return element.sensitivity == Sensitivity.SENSITIVE or element.type in SENSITIVE_TYPES
    return code.endswith(("id_number", "phone"))


def mask_element_value(code: str, element: DataElement | None, value) -> str:
    """The value as a list or page shows it: partially masked IDs and phones, other sensitive values hidden."""
    text = "" if value is None else str(value)
    if not text or not element_is_sensitive(code, element):
        return text
    kind = element.type if element is not None else ("id_number" if code.endswith("id_number") else "phone")
    if kind == "id_number":
        return mask_id_number(text)
    if kind == "phone":
        return mask_phone(text)
    return HIDDEN


def golden_value_reveal(*, obj: models.Model, entity: str, element_code: str, actor, reason: str, request=None) -> str:
    """Return the full golden value of one sensitive element of ``obj`` and record who read it and why.

    Raises ``ValueError`` when the element is not sensitive or the record has no value for it.
    """
    element = DataElement.objects.filter(code=element_code).first()
    if element is None or not element_is_sensitive(element_code, element):
        raise ValueError(f"{element_code!r} is not a sensitive element")
    value = golden.element_values(entity, obj).get(element_code)
    if not value:
        raise ValueError(f"no value for {element_code!r}")
    audit_reveal(actor=actor, obj=obj, field=element_code, reason=reason, request=request)
    return value
