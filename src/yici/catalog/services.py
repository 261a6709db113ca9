"""Catalog writes: loading a catalog document (JSON) into the data-element tables."""

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from yici.audit.models import AuditAction
from yici.audit.services import audit_write
from yici.catalog.models import (
    CodeListValue,
    DataElement,
    ElementType,
    Entity,
    Sensitivity,
    default_sensitivity,
)

BUILTIN_CATALOG = Path(__file__).resolve().parent / "data" / "catalog.json"

ELEMENT_CODE_RE = re.compile(r"^[a-z_]+\.[a-z0-9_]+$")
SYSTEM_CODE_RE = re.compile(r"^[a-z0-9_-]+$")

# Column sizes, checked up front so that no database rejects a row half-way through a load.
_MAX = {"code": 100, "name_zh": 100, "name_en": 200, "standard": 200, "system": 40, "value_code": 40, "label": 200}


class CatalogError(Exception):
    """The catalog document cannot be loaded; the message is one line naming where the problem is."""


@dataclass
class CodeValueSpec:
    """One checked code-list value of a catalog document."""

    code: str
    label: str
    aliases: list[str]
    order: int


@dataclass
class ElementSpec:
    """One checked element of a catalog document, ready to be stored."""

    code: str
    name_zh: str
    name_en: str
    entity: str
    type: str
    description: str
    derived: str
    synonyms: list[str]
    # None when the document leaves them out (the dev kit does): keep what is stored, or use the default.
    sensitivity: str | None
    authoritative_system: str | None
    code_list_standard: str
    order: int
    values: list[CodeValueSpec] = field(default_factory=list)

    def state(self) -> dict[str, Any]:
        return {
            "name_zh": self.name_zh, "name_en": self.name_en, "entity": self.entity, "type": self.type,
            "description": self.description, "derived": self.derived, "synonyms": self.synonyms,
            "sensitivity": self.sensitivity, "authoritative_system": self.authoritative_system,
            "code_list_standard": self.code_list_standard, "order": self.order,
            "code_list": [[v.code, v.label, v.aliases, v.order] for v in self.values],
        }


def _element_state(element: DataElement) -> dict[str, Any]:
    """The comparable (and audited) state of a stored element; same shape as ``ElementSpec.state``."""
    return {
        "name_zh": element.name_zh, "name_en": element.name_en, "entity": element.entity, "type": element.type,
        "description": element.description, "derived": element.derived, "synonyms": element.synonyms,
        "sensitivity": element.sensitivity, "authoritative_system": element.authoritative_system,
        "code_list_standard": element.code_list_standard, "order": element.order,
        "code_list": [[v.code, v.label, v.aliases, v.order] for v in element.code_values.all()],
    }


def _decode(data: dict | bytes | str) -> dict:
    if isinstance(data, dict):
        return data
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise CatalogError(_("the file is not UTF-8 text")) from None
    try:
        doc = json.loads(data)
    except json.JSONDecodeError as exc:
        raise CatalogError(
            _("not valid JSON: %(msg)s at line %(line)d, column %(col)d")
            % {"msg": exc.msg, "line": exc.lineno, "col": exc.colno}
        ) from None
    if not isinstance(doc, dict):
        raise CatalogError(_("the catalog must be a JSON object with an \"elements\" list"))
    return doc


def _quoted(value: Any) -> str:
    """A value as it was written in the JSON document, for error messages."""
    return json.dumps(value, ensure_ascii=False)


def _text(raw: dict, key: str, where: str, *, required: bool = False, max_length: int | None = None) -> str:
    value = raw.get(key)
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise CatalogError(_("%(where)s: %(key)s must be text") % {"where": where, "key": key})
    value = value.strip()
    if required and not value:
        raise CatalogError(_("%(where)s: %(key)s is missing") % {"where": where, "key": key})
    if max_length is not None and len(value) > max_length:
        raise CatalogError(
            _("%(where)s: %(key)s is longer than %(n)d characters") % {"where": where, "key": key, "n": max_length}
        )
    return value


def _text_list(raw: dict, key: str, where: str) -> list[str]:
    value = raw.get(key)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise CatalogError(_("%(where)s: %(key)s must be a list of texts") % {"where": where, "key": key})
    return [v.strip() for v in value if v.strip()]


def _order(raw: dict, where: str, default: int) -> int:
    value = raw.get("order")
    if value is None:
        return default
    # bool is an int in Python; `"order": true` is a mistake, not 1.
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise CatalogError(_("%(where)s: order must be a whole number of 0 or more") % {"where": where})
    return value


def _parse_values(code_list: Any, where: str) -> tuple[str, list[CodeValueSpec]]:
    if not isinstance(code_list, dict):
        raise CatalogError(_("%(where)s: code_list must be an object with \"values\"") % {"where": where})
    standard = _text(code_list, "standard", where, max_length=_MAX["standard"])
    raw_values = code_list.get("values")
    if not isinstance(raw_values, list) or not raw_values:
        raise CatalogError(_("%(where)s: code_list has no values") % {"where": where})
    values: list[CodeValueSpec] = []
    seen: set[str] = set()
    for i, raw in enumerate(raw_values, start=1):
        value_where = _("%(where)s, code list value %(n)d") % {"where": where, "n": i}
        if not isinstance(raw, dict):
            raise CatalogError(_("%(where)s: must be an object with code and label") % {"where": value_where})
        code = _text(raw, "code", value_where, required=True, max_length=_MAX["value_code"])
        label = _text(raw, "label", value_where, required=True, max_length=_MAX["label"])
        if code in seen:
            raise CatalogError(_("%(where)s: code %(code)s appears twice") % {"where": value_where, "code": _quoted(code)})
        seen.add(code)
        values.append(CodeValueSpec(code=code, label=label, aliases=_text_list(raw, "aliases", value_where),
                             order=_order(raw, value_where, i)))
    return standard, values


def _parse_element(raw: Any, position: int) -> ElementSpec:
    where = _("element %(n)d") % {"n": position}
    if not isinstance(raw, dict):
        raise CatalogError(_("%(where)s: must be an object") % {"where": where})
    code = raw.get("code")
    if code is None or code == "":
        raise CatalogError(_("%(where)s: code is missing") % {"where": where})
    if not isinstance(code, str) or not ELEMENT_CODE_RE.match(code) or len(code) > _MAX["code"]:
        raise CatalogError(
            _("%(where)s: code %(code)s is not of the form entity.name (lower-case letters, digits, _)")
            % {"where": where, "code": _quoted(code)}
        )
    where = f"{where} ({code})"
    name_zh = _text(raw, "name_zh", where, required=True, max_length=_MAX["name_zh"])
    entity = raw.get("entity")
    if entity not in Entity.values:
        raise CatalogError(
            _("%(where)s: unknown entity %(value)s; use one of %(known)s")
            % {"where": where, "value": _quoted(entity), "known": ", ".join(Entity.values)}
        )
    element_type = raw.get("type")
    if element_type not in ElementType.values:
        raise CatalogError(
            _("%(where)s: unknown type %(value)s; use one of %(known)s")
            % {"where": where, "value": _quoted(element_type),
               "known": ", ".join(ElementType.values)}
        )
    sensitivity = raw.get("sensitivity")
    if sensitivity is not None and sensitivity not in Sensitivity.values:
        raise CatalogError(
            _("%(where)s: unknown sensitivity %(value)s; use one of %(known)s")
            % {"where": where, "value": _quoted(sensitivity),
               "known": ", ".join(Sensitivity.values)}
        )
    system = None
    if raw.get("authoritative_system") is not None:
        system = _text(raw, "authoritative_system", where, max_length=_MAX["system"])
    if system and not SYSTEM_CODE_RE.match(system):
        raise CatalogError(
            _("%(where)s: authoritative_system %(value)s must be a system code (lower-case letters, digits, _ or -)")
            % {"where": where, "value": _quoted(system)}
        )
    standard, values = "", []
    if raw.get("code_list") is not None:
        standard, values = _parse_values(raw["code_list"], where)
    elif element_type == ElementType.CODE:
        raise CatalogError(_("%(where)s: an element of type code needs a code_list") % {"where": where})
    # The dev kit calls them synonyms_zh; either name is accepted.
    synonyms_key = "synonyms" if "synonyms" in raw else "synonyms_zh"
    return ElementSpec(
        code=code, name_zh=name_zh, name_en=_text(raw, "name_en", where, max_length=_MAX["name_en"]),
        entity=entity, type=element_type, description=_text(raw, "description", where),
        derived=_text(raw, "derived", where), synonyms=_text_list(raw, synonyms_key, where),
        sensitivity=sensitivity, authoritative_system=system, code_list_standard=standard,
        order=_order(raw, where, position), values=values,
    )


def catalog_parse(*, data: dict | bytes | str) -> list[ElementSpec]:
    """Check a whole catalog document; raise ``CatalogError`` at the first problem. Writes nothing."""
    doc = _decode(data)
    raw_elements = doc.get("elements")
    if not isinstance(raw_elements, list):
        raise CatalogError(_("the catalog has no \"elements\" list"))
    if not raw_elements:
        raise CatalogError(_("the \"elements\" list is empty"))
    elements: list[ElementSpec] = []
    positions: dict[str, int] = {}
    for position, raw in enumerate(raw_elements, start=1):
        element = _parse_element(raw, position)
        if element.code in positions:
            raise CatalogError(
                _("element %(n)d (%(code)s): the code is already used by element %(first)d")
                % {"n": position, "code": element.code, "first": positions[element.code]}
            )
        positions[element.code] = position
        elements.append(element)
    return elements


def _search_text(element: ElementSpec) -> str:
    return "\n".join([element.code, element.name_zh, element.name_en, *element.synonyms]).lower()


@transaction.atomic
def catalog_load(*, data: dict | bytes | str, actor=None) -> dict[str, int]:
    """Load a catalog document (the dev kit's ``catalog.json`` layout) and return counts.

    The whole document is checked before anything is written, and the load runs in one
    transaction: it all lands, or none of it does. Elements are matched by ``code`` and updated in
    place; a code-list value missing from the file is deleted. Elements missing from the file are
    kept, since other records may refer to them. An element without ``sensitivity`` or
    ``authoritative_system`` keeps its stored ones (a new one gets the default: sensitive for ID
    numbers and phones, internal otherwise; no authoritative source), so loading the dev kit's
    file never downgrades what the shipped catalog set. Loading the same document twice changes nothing
    and writes no audit rows. Returns ``{"created", "updated", "unchanged"}``.
    """
    parsed = catalog_parse(data=data)
    existing = {e.code: e for e in DataElement.objects.prefetch_related("code_values")}
    counts = {"created": 0, "updated": 0, "unchanged": 0}
    for item in parsed:
        element = existing.get(item.code)
        if item.sensitivity is None:
            item.sensitivity = element.sensitivity if element else default_sensitivity(item.type)
        if item.authoritative_system is None:
            item.authoritative_system = element.authoritative_system if element else ""
        before = _element_state(element) if element is not None else None
        if before == item.state():
            counts["unchanged"] += 1
            continue
        if element is None:
            element = DataElement(code=item.code)
        for name in ("name_zh", "name_en", "entity", "type", "description", "derived", "synonyms", "sensitivity",
                     "authoritative_system", "code_list_standard", "order"):
            setattr(element, name, getattr(item, name))
        element.search_text = _search_text(item)
        element.save()
        _sync_values(element, item.values)
        after = item.state()
        if before is None:
            counts["created"] += 1
            audit_write(actor=actor, action=AuditAction.CREATE, obj=element, before=None, after=after)
        else:
            counts["updated"] += 1
            audit_write(actor=actor, action=AuditAction.UPDATE, obj=element, before=before, after=after)
    return counts


def _sync_values(element: DataElement, values: list[CodeValueSpec]) -> None:
    stored = {v.code: v for v in element.code_values.all()}
    wanted = {v.code for v in values}
    CodeListValue.objects.filter(element=element).exclude(code__in=wanted).delete()
    for value in values:
        row = stored.get(value.code)
        if row is None:
            CodeListValue.objects.create(
                element=element, code=value.code, label=value.label, aliases=value.aliases, order=value.order
            )
        elif (row.label, row.aliases, row.order) != (value.label, value.aliases, value.order):
            row.label, row.aliases, row.order = value.label, value.aliases, value.order
            row.save(update_fields=["label", "aliases", "order"])
