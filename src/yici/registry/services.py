"""Registry writes. Each takes ``actor=`` and writes its audit rows."""

from yici.audit.services import audit_reveal
from yici.registry.masking import SENSITIVE_FIELDS
from yici.registry.models import Person


def person_reveal(*, person: Person, field: str, actor, reason: str, request=None) -> str:
    """Return the full value of a sensitive field and record who read it and why."""
    if field not in SENSITIVE_FIELDS:
        raise ValueError(f"{field!r} is not a sensitive field")
    audit_reveal(actor=actor, obj=person, field=field, reason=reason, request=request)
    return getattr(person, field)
