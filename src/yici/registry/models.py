"""Golden registry entities: what Yici believes about persons, households, houses and places.

Core elements used for search, filters and scoping are indexed columns; every other catalog
element lives in ``attributes`` (element code → value, code-list labels, dates as YYYY-MM-DD).
"""

from django.db import models
from django.utils.translation import gettext_lazy as _


class Gender(models.TextChoices):
    MALE = "男", _("Male")
    FEMALE = "女", _("Female")
    UNKNOWN = "", _("Unknown")


class RegistryEntity(models.Model):
    area_code = models.CharField(_("area code"), max_length=18, db_index=True)
    attributes = models.JSONField(_("other elements"), default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    version = models.PositiveIntegerField(default=1)

    class Meta:
        abstract = True


class Household(RegistryEntity):
    household_no = models.CharField(_("household number"), max_length=32, db_index=True)
    head_name = models.CharField(_("head of household"), max_length=100, blank=True)
    address = models.CharField(_("address"), max_length=300, blank=True)
    phone = models.CharField(_("phone"), max_length=20, blank=True)

    class Meta:
        verbose_name = _("household")
        verbose_name_plural = _("households")
        ordering = ["household_no"]

    def __str__(self) -> str:
        return f"{self.household_no} {self.head_name}"


class Person(RegistryEntity):
    name = models.CharField(_("name"), max_length=100, db_index=True)
    name_initials = models.CharField(_("pinyin initials"), max_length=50, blank=True, db_index=True)
    id_number = models.CharField(_("ID number"), max_length=18, blank=True, db_index=True)
    gender = models.CharField(_("gender"), max_length=4, choices=Gender.choices, blank=True)
    birth_date = models.DateField(_("birth date"), null=True, blank=True)
    phone = models.CharField(_("phone"), max_length=20, blank=True, db_index=True)
    household = models.ForeignKey(
        Household, null=True, blank=True, on_delete=models.SET_NULL, related_name="members",
        verbose_name=_("household"),
    )
    relation_to_head = models.CharField(_("relation to head"), max_length=20, blank=True)
    address = models.CharField(_("address"), max_length=300, blank=True)

    class Meta:
        verbose_name = _("person")
        verbose_name_plural = _("persons")
        ordering = ["area_code", "name", "id"]

    def __str__(self) -> str:
        return self.name


class House(RegistryEntity):
    code = models.CharField(_("house code"), max_length=32, db_index=True)
    address = models.CharField(_("address"), max_length=300, blank=True)
    owner = models.ForeignKey(
        Person, null=True, blank=True, on_delete=models.SET_NULL, related_name="houses", verbose_name=_("owner")
    )
    household = models.ForeignKey(
        Household, null=True, blank=True, on_delete=models.SET_NULL, related_name="houses",
        verbose_name=_("household"),
    )
    structure = models.CharField(_("structure"), max_length=20, blank=True)
    floors = models.PositiveSmallIntegerField(_("floors"), null=True, blank=True)

    class Meta:
        verbose_name = _("house")
        verbose_name_plural = _("houses")
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.code} {self.address}"


class Place(RegistryEntity):
    code = models.CharField(_("place code"), max_length=32, db_index=True)
    name = models.CharField(_("name"), max_length=200)
    place_type = models.CharField(_("type"), max_length=40, blank=True)
    address = models.CharField(_("address"), max_length=300, blank=True)
    manager_name = models.CharField(_("manager"), max_length=100, blank=True)
    manager_phone = models.CharField(_("manager phone"), max_length=20, blank=True)

    class Meta:
        verbose_name = _("place")
        verbose_name_plural = _("places")
        ordering = ["code"]

    def __str__(self) -> str:
        return self.name
