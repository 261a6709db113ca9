"""Countable burden events, stored per user, area, day and metric (one row each, incremented)."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class BurdenMetric(models.TextChoices):
    FIELDS_TYPED = "fields_typed", _("Fields typed by hand")
    FIELDS_AUTOFILLED = "fields_autofilled", _("Fields filled automatically")
    LOGIN = "login", _("Logins")
    LOGINS_AVOIDED = "logins_avoided", _("Logins avoided (single sign-on)")
    REQUESTS_RECEIVED = "requests_received", _("Requests received")
    REQUESTS_REFUSED = "requests_refused", _("Requests refused at admission")
    DUPLICATES_BLOCKED = "duplicates_blocked", _("Duplicate requests blocked")
    ENTRIES_SHARED = "entries_shared", _("Entries shared to line systems instead of retyped")
    MINUTES_SPENT = "minutes_spent", _("Minutes spent")
    REQUESTS_ANSWERED = "requests_answered", _("Requests answered automatically")
    MINUTES_ESTIMATED = "minutes_estimated", _("Minutes estimated by senders")


class BurdenCount(models.Model):
    day = models.DateField(_("day"), db_index=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    area_code = models.CharField(_("area code"), max_length=18, blank=True, db_index=True)
    metric = models.CharField(_("metric"), max_length=32, choices=BurdenMetric.choices)
    # What the event was about: a report, a line system, a department … ('' when nothing more).
    context = models.CharField(_("context"), max_length=100, blank=True)
    count = models.BigIntegerField(_("count"), default=0)

    class Meta:
        verbose_name = _("burden count")
        verbose_name_plural = _("burden counts")
        # One row per key; two partial constraints because SQLite cannot treat NULL users as equal.
        constraints = [
            models.UniqueConstraint(
                fields=["day", "user", "area_code", "metric", "context"],
                condition=models.Q(user__isnull=False),
                name="burden_count_one_row_per_user_key",
            ),
            models.UniqueConstraint(
                fields=["day", "area_code", "metric", "context"],
                condition=models.Q(user__isnull=True),
                name="burden_count_one_row_per_area_key",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.area_code} {self.metric}={self.count}"
