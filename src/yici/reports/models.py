"""The report catalog (报表目录) and the collections sent from it to villages.

A department registers a report (its template, legal basis, frequency, population filter); only a
registered report can be sent. Sending it creates a ``Collection`` and one ``ReportInstance`` per
village, pre-filled from the registry; the village cadre types only the gaps.
"""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class Frequency(models.TextChoices):
    ONCE = "once", _("Once")
    WEEKLY = "weekly", _("Weekly")
    MONTHLY = "monthly", _("Monthly")
    QUARTERLY = "quarterly", _("Quarterly")
    YEARLY = "yearly", _("Yearly")


class ReportStatus(models.TextChoices):
    DRAFT = "draft", _("Draft (not registered)")
    REGISTERED = "registered", _("Registered")
    RETIRED = "retired", _("Retired")


class Report(models.Model):
    """A department's report template in the catalog. The template file is kept in
    ``MEDIA_ROOT/reports/<sha256>``; ``columns`` holds the column mapping made at upload."""

    department = models.ForeignKey(
        "accounts.Department", on_delete=models.PROTECT, related_name="reports", verbose_name=_("department")
    )
    name = models.CharField(_("name"), max_length=200)
    legal_basis = models.TextField(_("legal basis"))
    frequency = models.CharField(_("frequency"), max_length=10, choices=Frequency.choices, default=Frequency.ONCE)
    template_sha256 = models.CharField(max_length=64)
    template_filename = models.CharField(_("template file"), max_length=255)
    population_filter = models.CharField(_("population filter"), max_length=500, default="all")
    deadline_days = models.PositiveSmallIntegerField(_("deadline (days)"), default=7)
    entity = models.CharField(_("rows are"), max_length=20, blank=True)
    # [{"letter", "header", "element"}] for every column with a header other than 序号.
    columns = models.JSONField(default=list, blank=True)
    registered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        verbose_name=_("registered by"),
    )
    registered_at = models.DateTimeField(_("registered at"), null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    status = models.CharField(_("status"), max_length=12, choices=ReportStatus.choices, default=ReportStatus.DRAFT)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("report")
        verbose_name_plural = _("reports")

    def __str__(self) -> str:
        return self.name

    @property
    def elements(self) -> list[str]:
        return [c["element"] for c in self.columns if c.get("element")]


class Collection(models.Model):
    """One sending of a registered report to a set of villages."""

    report = models.ForeignKey(Report, on_delete=models.PROTECT, related_name="collections", verbose_name=_("report"))
    sent_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+", verbose_name=_("sent by")
    )
    sent_at = models.DateTimeField(_("sent at"))
    due_date = models.DateField(_("due date"))

    class Meta:
        ordering = ["-sent_at", "-id"]
        verbose_name = _("collection")
        verbose_name_plural = _("collections")

    def __str__(self) -> str:
        return f"{self.report} {self.sent_at:%Y-%m-%d}"


class InstanceStatus(models.TextChoices):
    PREFILLED = "prefilled", _("Pre-filled")
    IN_PROGRESS = "in_progress", _("In progress")
    REMINDED = "reminded", _("Reminded")
    SUBMITTED = "submitted", _("Submitted")


class ReportInstance(models.Model):
    """One village's copy of a collection: the pre-filled workbook and what the cadre typed.

    ``rows``: [{"key": "person:12", "row": 5, "label": "张三"}] in sheet order; ``gaps``: the cells
    Yici could not fill (``fill.Gap.as_json``); ``values``: typed registry values of mapped columns,
    {record key: {column letter: value}}; ``unmapped_values``: the same for columns without an element;
    ``corrections``: changed pre-filled values from an uploaded workbook (``instance_upload``).
    """

    collection = models.ForeignKey(Collection, on_delete=models.CASCADE, related_name="instances")
    area = models.ForeignKey("accounts.Area", on_delete=models.PROTECT, related_name="+", verbose_name=_("village"))
    status = models.CharField(_("status"), max_length=12, choices=InstanceStatus.choices,
                              default=InstanceStatus.PREFILLED)
    workbook = models.BinaryField()
    filename = models.CharField(max_length=255)
    rows = models.JSONField(default=list, blank=True)
    gaps = models.JSONField(default=list, blank=True)
    values = models.JSONField(default=dict, blank=True)
    unmapped_values = models.JSONField(default=dict, blank=True)
    # Pre-filled values a cadre changed in an uploaded workbook: {key: {letter: {"value", "was", "element"}}};
    # written as report records on submit, like the typed values.
    corrections = models.JSONField(default=dict, blank=True)
    uploaded_at = models.DateTimeField(_("uploaded at"), null=True, blank=True)
    upload_filename = models.CharField(_("uploaded file"), max_length=255, blank=True)
    cells_filled = models.PositiveIntegerField(default=0)
    reminder_count = models.PositiveSmallIntegerField(default=0)
    reminded_at = models.DateTimeField(null=True, blank=True)
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        verbose_name=_("submitted by"),
    )
    submitted_at = models.DateTimeField(_("submitted at"), null=True, blank=True)

    class Meta:
        ordering = ["collection", "area__code"]
        verbose_name = _("report instance")
        verbose_name_plural = _("report instances")
        constraints = [models.UniqueConstraint(fields=["collection", "area"], name="report_instance_one_per_village")]

    def __str__(self) -> str:
        return f"{self.collection.report} · {self.area.name}"

    @property
    def area_code(self) -> str:
        return self.area.code
