"""The audit trail: every write (with before/after) and every read of a sensitive full value."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class AuditAction(models.TextChoices):
    CREATE = "create", _("Created")
    UPDATE = "update", _("Changed")
    DELETE = "delete", _("Deleted")
    REVEAL = "reveal", _("Revealed a sensitive value")
    LOGIN = "login", _("Signed in")
    TOKEN_ISSUED = "token_issued", _("Issued a token")
    LOGOUT = "logout", _("Signed out")
    PASSWORD_CHANGE = "password_change", _("Changed password")
    SESSION_END = "session_end", _("Ended a session")
    IMPORT = "import", _("Imported a file")
    EXPORT = "export", _("Exported data")


class AuditEvent(models.Model):
    """One thing a person (or the system, when ``actor`` is empty) did to one object."""

    at = models.DateTimeField(_("time"), auto_now_add=True, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        verbose_name=_("actor"),
    )
    # Kept as text too, so the trail still names a person after their account is deleted.
    actor_name = models.CharField(_("actor name"), max_length=150, blank=True)
    action = models.CharField(_("action"), max_length=32, choices=AuditAction.choices, db_index=True)
    object_type = models.CharField(_("object type"), max_length=64, db_index=True)
    object_id = models.CharField(_("object id"), max_length=64, db_index=True)
    object_repr = models.CharField(_("object"), max_length=200, blank=True)
    area_code = models.CharField(_("area code"), max_length=18, blank=True, db_index=True)
    field = models.CharField(_("field"), max_length=100, blank=True)
    before = models.JSONField(_("before"), null=True, blank=True)
    after = models.JSONField(_("after"), null=True, blank=True)
    reason = models.CharField(_("reason"), max_length=300, blank=True)
    ip_address = models.GenericIPAddressField(_("address"), null=True, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name = _("audit event")
        verbose_name_plural = _("audit events")
        indexes = [models.Index(fields=["object_type", "object_id", "-at"])]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.actor_name} {self.action} {self.object_type}:{self.object_id}"
