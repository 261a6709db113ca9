"""The data-element catalog (数据元目录): the one list of things Yici knows about a person, household,
house or place, with their standard names, types, code lists and who is authoritative for each.

Every other app names an element by its ``code`` (``person.id_number``); the mapping engine reads the
Chinese names, synonyms and code-list aliases. Rows are written only by ``services.catalog_load``.
"""

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Entity(models.TextChoices):
    PERSON = "person", _("Person")
    HOUSEHOLD = "household", _("Household")
    HOUSE = "house", _("House")
    PLACE = "place", _("Place")


class ElementType(models.TextChoices):
    STRING = "string", _("Text")
    TEXT = "text", _("Long text")
    ID_NUMBER = "id_number", _("ID number")
    CODE = "code", _("Code list")
    DATE = "date", _("Date")
    DATETIME = "datetime", _("Date and time")
    INT = "int", _("Whole number")
    DECIMAL = "decimal", _("Decimal number")
    BOOL = "bool", _("Yes / no")
    PHONE = "phone", _("Phone number")
    USCC = "uscc", _("Unified social credit code")
    AREA_CODE = "area_code", _("Area code")


class Sensitivity(models.TextChoices):
    PUBLIC = "public", _("Public")
    INTERNAL = "internal", _("Internal")
    SENSITIVE = "sensitive", _("Sensitive")


# Values of these types identify or reach a person, so they are sensitive unless the catalog says so.
SENSITIVE_TYPES = frozenset({ElementType.ID_NUMBER, ElementType.PHONE})


def default_sensitivity(element_type: str) -> str:
    return Sensitivity.SENSITIVE if element_type in SENSITIVE_TYPES else Sensitivity.INTERNAL


class DataElement(models.Model):
    """One standard data element, e.g. ``person.gender`` 性别 with its GB/T 2261.1 code list."""

    code = models.CharField(_("code"), max_length=100, unique=True)
    name_zh = models.CharField(_("Chinese name"), max_length=100)
    name_en = models.CharField(_("English name"), max_length=200, blank=True)
    entity = models.CharField(_("entity"), max_length=20, choices=Entity.choices, db_index=True)
    type = models.CharField(_("type"), max_length=20, choices=ElementType.choices)
    description = models.TextField(_("description"), blank=True)
    # How a derived element (age, 是否高龄) is computed from others; derived values are never stored.
    derived = models.TextField(_("derived from"), blank=True)
    synonyms = models.JSONField(_("synonyms"), default=list, blank=True)
    sensitivity = models.CharField(
        _("sensitivity"), max_length=20, choices=Sensitivity.choices, default=Sensitivity.INTERNAL
    )
    # The line system / department code whose value wins when sources disagree (e.g. ``gongan``).
    authoritative_system = models.CharField(_("authoritative source"), max_length=40, blank=True)
    code_list_standard = models.CharField(_("code list standard"), max_length=200, blank=True)
    order = models.PositiveIntegerField(_("order"), default=0)
    # Code, names and synonyms in one lower-cased column, so search is one portable LIKE (a JSON
    # column's text form escapes Chinese on SQLite).
    search_text = models.TextField(editable=False, blank=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        ordering = ["order", "code"]
        verbose_name = _("data element")
        verbose_name_plural = _("data elements")

    def __str__(self) -> str:
        return f"{self.code} {self.name_zh}"

    @property
    def is_derived(self) -> bool:
        return bool(self.derived)

    @property
    def is_sensitive(self) -> bool:
        return self.sensitivity == Sensitivity.SENSITIVE


class CodeListValue(models.Model):
    """One value of an element's code list: the standard code, its label and the aliases seen in the wild."""

    element = models.ForeignKey(
        DataElement, on_delete=models.CASCADE, related_name="code_values", verbose_name=_("element")
    )
    code = models.CharField(_("code"), max_length=40)
    label = models.CharField(_("label"), max_length=200)
    aliases = models.JSONField(_("aliases"), default=list, blank=True)
    order = models.PositiveIntegerField(_("order"), default=0)

    class Meta:
        ordering = ["order", "code"]
        verbose_name = _("code list value")
        verbose_name_plural = _("code list values")
        constraints = [
            models.UniqueConstraint(fields=["element", "code"], name="catalog_codelistvalue_element_code_uniq"),
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.label}"


class HeaderMapping(models.Model):
    """A person's confirmation of what one column header means: remembered for the next file.

    ``header_key`` is the normalised header path (group headers down to the leaf); ``context`` is a
    department or line-system code, blank for a confirmation that holds everywhere. An empty
    ``element`` records "confirmed: not a registry field" (备注, 签字 …), which is data too.
    """

    header_key = models.CharField(_("header"), max_length=500, db_index=True)
    context = models.CharField(_("context"), max_length=40, blank=True)
    element = models.ForeignKey(
        DataElement, on_delete=models.CASCADE, null=True, blank=True, related_name="header_mappings",
        verbose_name=_("element"),
    )
    confirmed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+",
        verbose_name=_("confirmed by"),
    )
    confirmed_at = models.DateTimeField(_("confirmed"), default=timezone.now)
    uses = models.PositiveIntegerField(_("times confirmed"), default=0)

    class Meta:
        verbose_name = _("header mapping")
        verbose_name_plural = _("header mappings")
        constraints = [
            models.UniqueConstraint(fields=["header_key", "context"], name="catalog_headermapping_key_context_uniq"),
        ]

    def __str__(self) -> str:
        target = self.element.code if self.element_id else "-"
        return f"{self.header_key} [{self.context or '*'}] → {target}"
