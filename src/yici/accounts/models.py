"""People, the administrative area tree and departments (条线)."""

from django.contrib.auth.models import AbstractUser, UserManager
from django.core.validators import RegexValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from yici.accounts.roles import Role


class AreaLevel(models.IntegerChoices):
    """Levels of the 统计用区划代码 tree that Yici works with, top-down."""

    PROVINCE = 1, _("Province")
    CITY = 2, _("City")
    COUNTY = 3, _("County")
    TOWNSHIP = 4, _("Township / subdistrict")
    VILLAGE = 5, _("Village / community")
    GROUP = 6, _("Villager group / grid")


# How many leading digits of the 12-digit code identify an area at each level. A group or grid
# has no NBS code of its own: it is its village's 12 digits plus a suffix of its own.
SIGNIFICANT_DIGITS = {
    AreaLevel.PROVINCE: 2,
    AreaLevel.CITY: 4,
    AreaLevel.COUNTY: 6,
    AreaLevel.TOWNSHIP: 9,
    AreaLevel.VILLAGE: 12,
}

area_code_validator = RegexValidator(
    r"^\d{12}(\d{1,6})?$", _("An area code is 12 digits (统计用区划代码), plus up to 6 for a group or grid.")
)


class Area(models.Model):
    """One node of the administrative tree, keyed by its 统计用区划代码.

    Records elsewhere store the code of the most precise area they belong to; a user's area selects
    its whole subtree with ``area_code__startswith=area.prefix`` (one indexed lookup, no recursion).
    """

    code = models.CharField(_("code"), max_length=18, unique=True, validators=[area_code_validator])
    name = models.CharField(_("name"), max_length=100)
    level = models.PositiveSmallIntegerField(_("level"), choices=AreaLevel.choices)
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="children", verbose_name=_("parent")
    )
    prefix = models.CharField(_("significant prefix"), max_length=18, db_index=True, editable=False)

    class Meta:
        ordering = ["code"]
        verbose_name = _("area")
        verbose_name_plural = _("areas")

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"

    def save(self, *args, **kwargs):
        # Derived from code and level, so it can never disagree with them.
        self.prefix = self.prefix_for(self.code, self.level)
        super().save(*args, **kwargs)

    @staticmethod
    def prefix_for(code: str, level: int) -> str:
        return code[: SIGNIFICANT_DIGITS[level]] if level in SIGNIFICANT_DIGITS else code

    def contains(self, code: str) -> bool:
        return code.startswith(self.prefix)


class Department(models.Model):
    """A county department (条线): 民政, 住建, 卫健 …"""

    code = models.SlugField(_("code"), max_length=40, unique=True)
    name = models.CharField(_("name"), max_length=100, unique=True)

    class Meta:
        ordering = ["code"]
        verbose_name = _("department")
        verbose_name_plural = _("departments")

    def __str__(self) -> str:
        return self.name


class YiciUserManager(UserManager):
    def get_queryset(self):
        return super().get_queryset().select_related("area", "department")


class User(AbstractUser):
    """A person who signs in to Yici. Every user belongs to exactly one area and holds one role."""

    display_name = models.CharField(_("name"), max_length=100, blank=True)
    phone = models.CharField(_("phone"), max_length=20, blank=True)
    role = models.CharField(_("role"), max_length=32, choices=Role.choices, default=Role.VILLAGE_CADRE)
    area = models.ForeignKey(
        Area, null=True, on_delete=models.PROTECT, related_name="users", verbose_name=_("area")
    )
    department = models.ForeignKey(
        Department, null=True, blank=True, on_delete=models.PROTECT, related_name="users",
        verbose_name=_("department"),
    )

    # Bumped by every change that line systems must hear about (provisioning orders by it).
    account_version = models.PositiveIntegerField(_("account version"), default=0, editable=False)

    objects = YiciUserManager()

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")

    def __str__(self) -> str:
        return self.display_name or self.username

    @property
    def area_prefix(self) -> str | None:
        """The code prefix of the user's subtree; ``None`` means the user sees no area at all."""
        return self.area.prefix if self.area_id else None

    def can_see_area(self, code: str) -> bool:
        prefix = self.area_prefix
        return prefix is not None and code.startswith(prefix)


class UserSession(models.Model):
    """A signed-in browser, so a user can see and end their own sessions.

    Django's session table cannot be queried by user; this row is written at login and touched on
    activity by ``SessionTrackingMiddleware``.
    """

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="tracked_sessions")
    session_key = models.CharField(max_length=40, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_seen_at = models.DateTimeField(auto_now_add=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-last_seen_at"]

    def __str__(self) -> str:
        return f"{self.user} {self.ip_address or ''}"


# One account: signing keys, OIDC clients of line systems, external accounts (kept in their own module).
from yici.accounts.models_sso import ExternalAccount, LineSystemClient, PortalWaiting, SigningKey  # noqa: E402, F401
