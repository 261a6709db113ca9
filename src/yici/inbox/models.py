"""One inbox (一屏待办): the tasks sent to villages, their admission, and each village's copy.

A ``Task`` is one request as a department (a page), a collection, a line system (the API) or a
recurrence sent it. Admission decides it before it reaches a village (``AdmissionDecision`` rows,
each with its reason). An admitted task becomes one ``VillageTask`` per village: what the cadre
sees in the inbox, with its own due date (extensions), assignee (hand-over) and answers.
"""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class TaskSource(models.TextChoices):
    PAGE = "page", _("Department page")
    COLLECTION = "collection", _("Report collection")
    API = "api", _("Line system")
    RECURRING = "recurring", _("Recurring")


class TaskKind(models.TextChoices):
    FORM = "form", _("Form (data about residents)")
    REPORT = "report", _("Report instance")
    ACTION = "action", _("Action to take")


class TaskStatus(models.TextChoices):
    ADMITTED = "admitted", _("Admitted")
    REFUSED = "refused", _("Refused at admission")
    PENDING_APPROVAL = "pending_approval", _("Waiting for the burden office")
    REJECTED = "rejected", _("Rejected by the burden office")


class Demand(models.TextChoices):
    """What the 2024 rules on 基层减负 and the 2026 rules on government apps forbid asking of a cadre."""

    PHOTO_PROOF = "photo_proof", _("Screenshots or photos as proof of work")
    CHECK_IN = "check_in", _("Clock-in, sign-in or chain replies (打卡/签到/接龙)")
    ONLINE_TIME = "online_time", _("Time spent online in an app")
    RANKING = "ranking", _("Ranking by likes, votes, installs or points")


class Recurrence(models.TextChoices):
    WEEKLY = "weekly", _("Every week")
    MONTHLY = "monthly", _("Every month")


class RecurringTask(models.Model):
    """A rule that sends the same task every week or month (``yici inbox-generate-recurring``)."""

    department = models.ForeignKey("accounts.Department", on_delete=models.PROTECT, related_name="+",
                                   verbose_name=_("department"))
    title = models.CharField(_("title"), max_length=200)
    basis = models.TextField(_("policy basis"))
    responsible = models.CharField(_("responsible person"), max_length=100)
    effort_minutes = models.PositiveIntegerField(_("effort (minutes)"))
    kind = models.CharField(_("what is asked"), max_length=10, choices=TaskKind.choices, default=TaskKind.ACTION)
    instructions = models.TextField(_("instructions"), blank=True)
    area_codes = models.JSONField(_("areas"), default=list)
    recurrence = models.CharField(_("recurrence"), max_length=10, choices=Recurrence.choices)
    deadline_days = models.PositiveSmallIntegerField(_("days to complete"), default=5)
    active = models.BooleanField(_("active"), default=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["title", "id"]
        verbose_name = _("recurring task")
        verbose_name_plural = _("recurring tasks")

    def __str__(self) -> str:
        return self.title


class Task(models.Model):
    department = models.ForeignKey("accounts.Department", on_delete=models.PROTECT, related_name="inbox_tasks",
                                   verbose_name=_("department"))
    title = models.CharField(_("title"), max_length=200)
    basis = models.TextField(_("policy basis"), blank=True)
    responsible = models.CharField(_("responsible person"), max_length=100, blank=True)
    effort_minutes = models.PositiveIntegerField(_("effort (minutes)"), null=True, blank=True)
    due_date = models.DateField(_("deadline"))
    area_codes = models.JSONField(_("areas"), default=list)
    kind = models.CharField(_("what is asked"), max_length=10, choices=TaskKind.choices, default=TaskKind.ACTION)
    instructions = models.TextField(_("instructions"), blank=True)
    # A form: catalog element codes asked about the records of ``entity`` that ``population_filter`` selects.
    entity = models.CharField(_("records"), max_length=20, blank=True)
    elements = models.JSONField(_("data elements"), default=list, blank=True)
    population_filter = models.CharField(_("population filter"), max_length=500, blank=True, default="all")
    demands = models.JSONField(_("forbidden demands"), default=list, blank=True)
    collection = models.ForeignKey("reports.Collection", null=True, blank=True, on_delete=models.CASCADE,
                                   related_name="inbox_tasks")
    source = models.CharField(_("source"), max_length=12, choices=TaskSource.choices, default=TaskSource.PAGE)
    line_system = models.ForeignKey("exchange.LineSystem", null=True, blank=True, on_delete=models.PROTECT,
                                    related_name="inbox_tasks", verbose_name=_("line system"))
    idempotency_key = models.CharField(max_length=200, blank=True)
    recurring = models.ForeignKey(RecurringTask, null=True, blank=True, on_delete=models.SET_NULL,
                                  related_name="tasks")
    period = models.CharField(max_length=10, blank=True)  # 2026-W48 / 2026-11 for a recurring task
    status = models.CharField(_("status"), max_length=20, choices=TaskStatus.choices, default=TaskStatus.ADMITTED)
    reason = models.TextField(_("reason"), blank=True)
    duplicate_of = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="duplicates", verbose_name=_("overlaps with"))
    overlap = models.JSONField(default=list, blank=True)  # element codes shared with duplicate_of
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+", verbose_name=_("sent by"))
    created_at = models.DateTimeField(_("received at"), auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("task")
        verbose_name_plural = _("tasks")
        constraints = [
            models.UniqueConstraint(fields=["line_system", "idempotency_key"], name="inbox_task_idempotent",
                                    condition=~models.Q(idempotency_key="")),
            models.UniqueConstraint(fields=["recurring", "period"], name="inbox_task_one_per_period",
                                    condition=models.Q(recurring__isnull=False)),
        ]
        indexes = [models.Index(fields=["status", "created_at"], name="inbox_task_status_created")]

    def __str__(self) -> str:
        return self.title


class DecisionOutcome(models.TextChoices):
    ADMITTED = "admitted", _("Admitted")
    REFUSED = "refused", _("Refused")
    FLAGGED = "flagged", _("Flagged for the burden office")
    APPROVED = "approved", _("Approved by the burden office")
    REJECTED = "rejected", _("Rejected by the burden office")
    LINKED = "linked", _("Linked to an earlier request")


class AdmissionDecision(models.Model):
    """One decision about a task, automatic (``decided_by`` empty) or by the burden office."""

    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="decisions")
    outcome = models.CharField(_("decision"), max_length=12, choices=DecisionOutcome.choices)
    rule = models.CharField(_("rule"), max_length=40)
    reason = models.TextField(_("reason"))
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+", verbose_name=_("decided by"))
    decided_at = models.DateTimeField(_("decided at"), auto_now_add=True)

    class Meta:
        ordering = ["decided_at", "id"]
        verbose_name = _("admission decision")
        verbose_name_plural = _("admission decisions")

    def __str__(self) -> str:
        return f"{self.task_id} {self.outcome} {self.rule}"


class ItemStatus(models.TextChoices):
    OPEN = "open", _("To do")
    DONE = "done", _("Done")
    ANSWERED = "answered", _("Answered from an earlier request")
    LINKED = "linked", _("Will be answered by an earlier request")


OPEN_STATUSES = (ItemStatus.OPEN,)


class VillageTask(models.Model):
    """One village's copy of a task: what its cadres see in the inbox."""

    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="items")
    area_code = models.CharField(_("village"), max_length=18)
    assignee = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                 related_name="inbox_items", verbose_name=_("assigned to"))
    status = models.CharField(_("status"), max_length=10, choices=ItemStatus.choices, default=ItemStatus.OPEN)
    due_date = models.DateField(_("due"))
    effort_minutes = models.PositiveIntegerField(_("effort (minutes)"))
    instance = models.ForeignKey("reports.ReportInstance", null=True, blank=True, on_delete=models.SET_NULL,
                                 related_name="+")
    answered_from = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL,
                                      related_name="answers_given")
    # A form: {"elements": [...], "rows": [{"key", "label", "values": {element: value}}]} — pre-filled
    # values from the registry or an earlier request; typed values go to ``answers`` {key: {element: value}}.
    prefill = models.JSONField(default=dict, blank=True)
    answers = models.JSONField(default=dict, blank=True)
    reported_minutes = models.PositiveIntegerField(_("time spent (minutes)"), null=True, blank=True)
    completed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="+")
    completed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["due_date", "id"]
        verbose_name = _("village task")
        verbose_name_plural = _("village tasks")
        constraints = [models.UniqueConstraint(fields=["task", "area_code"], name="inbox_item_one_per_village")]
        indexes = [
            models.Index(fields=["area_code", "status", "due_date"], name="inbox_item_area_due"),
            models.Index(fields=["assignee", "status", "due_date"], name="inbox_item_assignee_due"),
            models.Index(fields=["area_code", "completed_at"], name="inbox_item_area_completed"),
        ]

    def __str__(self) -> str:
        return f"{self.task} · {self.area_code}"

    @property
    def is_open(self) -> bool:
        return self.status == ItemStatus.OPEN


class ExtensionStatus(models.TextChoices):
    PENDING = "pending", _("Waiting")
    GRANTED = "granted", _("Granted")
    REFUSED = "refused", _("Refused")


class ExtensionRequest(models.Model):
    item = models.ForeignKey(VillageTask, on_delete=models.CASCADE, related_name="extensions")
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    requested_at = models.DateTimeField(auto_now_add=True)
    new_due_date = models.DateField(_("new deadline"))
    reason = models.CharField(_("reason"), max_length=300)
    status = models.CharField(_("status"), max_length=10, choices=ExtensionStatus.choices,
                              default=ExtensionStatus.PENDING)
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-requested_at", "-id"]
        verbose_name = _("extension request")
        verbose_name_plural = _("extension requests")

    def __str__(self) -> str:
        return f"{self.item_id} → {self.new_due_date}"


class Notification(models.Model):
    """An in-app reminder or notice for one user (the badge counts the unread)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="inbox_notifications")
    item = models.ForeignKey(VillageTask, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    text = models.CharField(_("text"), max_length=300)
    # Makes a reminder idempotent: ("due:<item>:<date>") is sent once.
    key = models.CharField(max_length=80, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["user", "key"], name="inbox_notification_once",
                                               condition=~models.Q(key=""))]
        indexes = [models.Index(fields=["user", "read_at"], name="inbox_notification_unread")]

    def __str__(self) -> str:
        return self.text
