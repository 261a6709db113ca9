"""Line systems (条线系统) and the batches of data exchanged with them."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class LineSystem(models.Model):
    """A department's own system: the source of legacy exports and, later, a delivery target."""

    code = models.SlugField(_("code"), max_length=60, unique=True)
    name = models.CharField(_("name"), max_length=200)
    department = models.ForeignKey(
        "accounts.Department", null=True, blank=True, on_delete=models.PROTECT, related_name="line_systems",
        verbose_name=_("department"),
    )
    description = models.TextField(_("description"), blank=True)
    contact_name = models.CharField(_("contact person"), max_length=100, blank=True)
    contact_phone = models.CharField(_("contact phone"), max_length=40, blank=True)
    contact_email = models.EmailField(_("contact email"), blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["code"]
        verbose_name = _("line system")
        verbose_name_plural = _("line systems")

    def __str__(self) -> str:
        return self.name


class ImportStatus(models.TextChoices):
    PENDING = "pending", _("Waiting")
    RUNNING = "running", _("Importing")
    DONE = "done", _("Imported")
    FAILED = "failed", _("Failed")


class ImportBatch(models.Model):
    """One file imported from one line system. The same file (by content) is imported once."""

    system = models.ForeignKey(LineSystem, on_delete=models.PROTECT, related_name="batches", verbose_name=_("system"))
    filename = models.CharField(_("file"), max_length=255)
    sha256 = models.CharField(max_length=64, db_index=True)
    sheet_name = models.CharField(_("sheet"), max_length=100, blank=True)
    entity = models.CharField(_("entity"), max_length=20)
    area_code = models.CharField(_("area"), max_length=18, blank=True, help_text=_("forced area (--area), if any"))
    header_rows = models.JSONField(default=list)
    first_data_row = models.PositiveIntegerField(null=True)
    # [{"index", "letter", "header", "element", "confidence", "method", "confirmed"}]
    mapping = models.JSONField(_("column mapping"), default=list)
    status = models.CharField(_("status"), max_length=12, choices=ImportStatus.choices, default=ImportStatus.PENDING)
    rows_total = models.PositiveIntegerField(default=0)
    rows_ok = models.PositiveIntegerField(default=0)
    rows_warning = models.PositiveIntegerField(default=0)
    rows_invalid = models.PositiveIntegerField(default=0)
    rows_unassigned = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("import batch")
        verbose_name_plural = _("import batches")
        constraints = [
            models.UniqueConstraint(fields=["system", "sha256", "sheet_name", "entity"], name="import_batch_once_per_file"),
        ]

    def __str__(self) -> str:
        return f"{self.system.code}: {self.filename}"


# Share once: endpoints, subscriptions, the outbox and deliveries (kept in their own module).
from yici.exchange.models_outbox import (  # noqa: E402, F401
    BreakerState,
    Delivery,
    DeliveryAttempt,
    DeliveryStatus,
    FieldMapping,
    InboundChange,
    InboundStatus,
    LineSystemEndpoint,
    MachineNonce,
    OutboxEvent,
    PullRead,
    SpreadsheetExport,
    SpreadsheetRow,
    Subscription,
    ValueTransform,
)
