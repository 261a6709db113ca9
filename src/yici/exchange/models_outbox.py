"""Share once: the outbox of registry changes and their deliveries to line systems.

Every golden change writes an ``OutboxEvent`` in the transaction that makes it (see
``yici.exchange.outbox``). The dispatcher turns each event into one ``Delivery`` per subscribing
line system, carrying only the fields that system subscribed to, named and coded its own way; the
delivery worker (``yici.exchange.delivery``) pushes them through the system's connector and
records every attempt.
"""

from django.db import models
from django.utils.translation import gettext_lazy as _

ENTITY_CHOICES = [("person", _("person")), ("household", _("household")), ("house", _("house")), ("place", _("place"))]
# Deliveries also carry user accounts to line systems (provisioning, one-account issue).
DELIVERY_ENTITY_CHOICES = [*ENTITY_CHOICES, ("account", _("account"))]


class BreakerState(models.TextChoices):
    CLOSED = "closed", _("Closed (sending)")
    OPEN = "open", _("Open (paused after failures)")
    HALF_OPEN = "half-open", _("Half-open (trying again)")


class LineSystemEndpoint(models.Model):
    """Where and how Yici pushes changes to a line system."""

    system = models.OneToOneField(
        "exchange.LineSystem", on_delete=models.CASCADE, related_name="endpoint", verbose_name=_("system")
    )
    kind = models.CharField(_("connector"), max_length=40, default="http-json")
    url = models.URLField(_("URL"), max_length=500, blank=True)
    # The shared HMAC secret, encrypted at rest (``yici.common.crypto``); read it through ``secret``.
    secret_encrypted = models.TextField(_("signing secret (encrypted)"), blank=True, default="")
    # Settings of the connector kind beyond URL and secret (e.g. ``batch_size``, ``drop_dir``).
    config = models.JSONField(_("connector settings"), default=dict, blank=True)
    timeout_seconds = models.FloatField(_("timeout (seconds)"), default=10.0)
    max_attempts = models.PositiveSmallIntegerField(_("attempts before giving up"), default=8)
    active = models.BooleanField(_("active"), default=True)
    # Circuit breaker: after ``BREAKER_THRESHOLD`` transient failures in a row the system is left
    # alone until ``breaker_open_until``; then one round is tried (half-open).
    breaker_failures = models.PositiveIntegerField(_("failures in a row"), default=0)
    breaker_open_until = models.DateTimeField(_("paused until"), null=True, blank=True)

    class Meta:
        verbose_name = _("line system endpoint")
        verbose_name_plural = _("line system endpoints")

    def __str__(self) -> str:
        return f"{self.system.code} → {self.url or self.kind}"

    @property
    def secret(self) -> str:
        from yici.common.crypto import decrypt

        return decrypt(self.secret_encrypted) if self.secret_encrypted else ""

    @secret.setter
    def secret(self, value: str) -> None:
        from yici.common.crypto import encrypt

        self.secret_encrypted = encrypt(value) if value else ""

    def breaker_state(self, now=None) -> str:
        from django.utils import timezone

        if self.breaker_open_until is None:
            return BreakerState.CLOSED
        return BreakerState.OPEN if self.breaker_open_until > (now or timezone.now()) else BreakerState.HALF_OPEN


class Subscription(models.Model):
    """What a line system wants to hear about: one entity type, some elements, within an area."""

    system = models.ForeignKey(
        "exchange.LineSystem", on_delete=models.CASCADE, related_name="subscriptions", verbose_name=_("system")
    )
    entity = models.CharField(_("entity"), max_length=20, choices=ENTITY_CHOICES)
    elements = models.JSONField(_("element codes"), default=list, help_text=_("empty: every mapped element"))
    area_prefix = models.CharField(_("area prefix"), max_length=18, blank=True, help_text=_("empty: everywhere"))
    active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("subscription")
        verbose_name_plural = _("subscriptions")
        constraints = [models.UniqueConstraint(fields=["system", "entity"], name="exchange_subscription_once")]

    def __str__(self) -> str:
        return f"{self.system.code}: {self.entity}"


class ValueTransform(models.TextChoices):
    NONE = "", _("as is")
    CODE = "code", _("code-list label → code")
    DATE = "date", _("date in the system's format")
    ADDRESS_PART = "address_part", _("one part of an address")


class AddressPart(models.TextChoices):
    PROVINCE = "province", _("province (省)")
    CITY = "city", _("city (市)")
    COUNTY = "county", _("county (县/区)")
    TOWNSHIP = "township", _("township (乡/镇/街道)")
    VILLAGE = "village", _("village (村/社区)")
    REST = "rest", _("the rest (组, 号 …)")


class FieldMapping(models.Model):
    """One element in a line system's vocabulary: their field name and how values are written."""

    system = models.ForeignKey(
        "exchange.LineSystem", on_delete=models.CASCADE, related_name="field_mappings", verbose_name=_("system")
    )
    element_code = models.CharField(_("element"), max_length=100)
    field_name = models.CharField(_("their field"), max_length=100)
    transform = models.CharField(_("transform"), max_length=20, choices=ValueTransform.choices, blank=True, default="")
    date_format = models.CharField(_("date format"), max_length=40, blank=True, help_text=_("strftime, e.g. %Y%m%d"))
    # With ``ADDRESS_PART``: which part of the address this field holds (one element, several fields).
    part = models.CharField(_("address part"), max_length=10, choices=AddressPart.choices, blank=True, default="")

    class Meta:
        verbose_name = _("field mapping")
        verbose_name_plural = _("field mappings")
        constraints = [models.UniqueConstraint(fields=["system", "field_name"], name="exchange_fieldmapping_field_once")]

    def __str__(self) -> str:
        return f"{self.system.code}: {self.element_code} → {self.field_name}"


class OutboxEvent(models.Model):
    """A golden record changed: written in the same transaction as the change."""

    entity = models.CharField(_("entity"), max_length=20, choices=ENTITY_CHOICES)
    golden_id = models.BigIntegerField(_("golden ID"))
    version = models.PositiveIntegerField(_("version"))
    changed = models.JSONField(_("changed elements"), default=list)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    # Set once the dispatcher has made its deliveries.
    dispatched_at = models.DateTimeField(_("dispatched"), null=True, blank=True)

    class Meta:
        ordering = ["id"]
        verbose_name = _("outbox event")
        verbose_name_plural = _("outbox events")
        indexes = [
            models.Index(fields=["entity", "golden_id", "version"], name="exchange_outbox_record"),
            models.Index(fields=["dispatched_at", "id"], name="exchange_outbox_undispatched"),
        ]

    def __str__(self) -> str:
        return f"{self.entity}#{self.golden_id} v{self.version}"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", _("Waiting")
    SENT = "sent", _("Delivered")
    FAILED = "failed", _("Refused")  # permanent: the system said no
    DEAD = "dead", _("Gave up")  # transient failures until the attempts ran out


class Delivery(models.Model):
    """One record version for one line system, in that system's vocabulary."""

    # Empty for deliveries that do not come from a registry change (account provisioning).
    event = models.ForeignKey(OutboxEvent, null=True, blank=True, on_delete=models.PROTECT, related_name="deliveries",
                              verbose_name=_("event"))
    system = models.ForeignKey(
        "exchange.LineSystem", on_delete=models.CASCADE, related_name="deliveries", verbose_name=_("system")
    )
    entity = models.CharField(_("entity"), max_length=20, choices=DELIVERY_ENTITY_CHOICES)
    golden_id = models.BigIntegerField(_("golden ID"))
    version = models.PositiveIntegerField(_("version"))
    payload = models.JSONField(_("payload"), default=dict)
    status = models.CharField(_("status"), max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt"))
    last_error = models.TextField(_("last error"), blank=True)
    idempotency_key = models.CharField(_("idempotency key"), max_length=64, unique=True)
    # Claimed by a worker until ``claimed_until`` (a crashed worker's claim simply expires).
    claim_token = models.CharField(max_length=32, blank=True, default="")
    claimed_until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    sent_at = models.DateTimeField(_("sent"), null=True, blank=True)

    class Meta:
        ordering = ["id"]
        verbose_name = _("delivery")
        verbose_name_plural = _("deliveries")
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="exchange_delivery_due"),
            models.Index(fields=["system", "entity", "golden_id", "status"], name="exchange_delivery_record"),
        ]

    def __str__(self) -> str:
        return f"{self.system_id}: {self.entity}#{self.golden_id} v{self.version} ({self.status})"


class DeliveryAttempt(models.Model):
    """The receipt of one push: what came back and how long it took."""

    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="attempt_log", verbose_name=_("delivery"))
    started_at = models.DateTimeField(_("started"))
    status_code = models.PositiveSmallIntegerField(_("HTTP status"), null=True, blank=True)
    duration_ms = models.PositiveIntegerField(_("duration (ms)"), default=0)
    ok = models.BooleanField(_("accepted"), default=False)
    permanent = models.BooleanField(_("permanent failure"), default=False)
    response_digest = models.CharField(_("response SHA-256"), max_length=64, blank=True)
    error = models.TextField(_("error"), blank=True)

    class Meta:
        ordering = ["id"]
        verbose_name = _("delivery attempt")
        verbose_name_plural = _("delivery attempts")

    def __str__(self) -> str:
        return f"{self.delivery_id} @ {self.started_at:%Y-%m-%d %H:%M:%S}: {self.status_code or self.error[:40]}"


class PullRead(models.Model):
    """A line system read a record through the pull API: who, what, why."""

    system = models.ForeignKey("exchange.LineSystem", on_delete=models.CASCADE, related_name="pull_reads",
                               verbose_name=_("system"))
    entity = models.CharField(_("entity"), max_length=20, choices=ENTITY_CHOICES)
    golden_id = models.BigIntegerField(_("golden ID"))
    purpose = models.CharField(_("purpose"), max_length=200)
    fields = models.JSONField(_("fields returned"), default=list)
    read_at = models.DateTimeField(_("read at"), auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-id"]
        verbose_name = _("pull read")
        verbose_name_plural = _("pull reads")

    def __str__(self) -> str:
        return f"{self.system_id} read {self.entity}#{self.golden_id}: {self.purpose}"


class InboundStatus(models.TextChoices):
    APPLIED = "applied", _("Applied")
    REJECTED = "rejected", _("Rejected")


class InboundChange(models.Model):
    """A change a line system sent back, kept once per (system, idempotency key)."""

    system = models.ForeignKey("exchange.LineSystem", on_delete=models.CASCADE, related_name="inbound_changes",
                               verbose_name=_("system"))
    key = models.CharField(_("idempotency key"), max_length=100)
    entity = models.CharField(_("entity"), max_length=20, choices=ENTITY_CHOICES)
    golden_id = models.BigIntegerField(_("golden ID"), null=True, blank=True)
    payload = models.JSONField(_("payload"), default=dict)
    # What the change meant in Yici's vocabulary (element code → value), for echo suppression.
    values = models.JSONField(_("values"), default=dict)
    status = models.CharField(_("status"), max_length=10, choices=InboundStatus.choices)
    result = models.JSONField(_("answer"), default=dict)
    received_at = models.DateTimeField(_("received"), auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        verbose_name = _("inbound change")
        verbose_name_plural = _("inbound changes")
        constraints = [models.UniqueConstraint(fields=["system", "key"], name="exchange_inbound_once")]
        indexes = [models.Index(fields=["system", "entity", "golden_id"], name="exchange_inbound_record")]

    def __str__(self) -> str:
        return f"{self.system_id}: {self.key} ({self.status})"


class MachineNonce(models.Model):
    """Signatures of machine requests already seen, so a captured request cannot be replayed."""

    signature = models.CharField(max_length=80, unique=True)
    seen_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return self.signature[:20]


class SpreadsheetRow(models.Model):
    """A record's latest subscribed values waiting for a spreadsheet system's next workbook."""

    system = models.ForeignKey("exchange.LineSystem", on_delete=models.CASCADE, related_name="spreadsheet_rows")
    period = models.CharField(_("period"), max_length=10)
    entity = models.CharField(_("entity"), max_length=20, choices=ENTITY_CHOICES)
    golden_id = models.BigIntegerField(_("golden ID"))
    version = models.PositiveIntegerField(_("version"))
    data = models.JSONField(_("values"), default=dict)
    staged_at = models.DateTimeField(_("staged"))

    class Meta:
        ordering = ["id"]
        verbose_name = _("staged spreadsheet row")
        verbose_name_plural = _("staged spreadsheet rows")
        constraints = [
            models.UniqueConstraint(fields=["system", "period", "entity", "golden_id"], name="exchange_sheet_row_once"),
        ]

    def __str__(self) -> str:
        return f"{self.system_id} {self.period}: {self.entity}#{self.golden_id} v{self.version}"


class SpreadsheetExport(models.Model):
    """One workbook made for a spreadsheet system: kept for download and written to its drop folder."""

    system = models.ForeignKey("exchange.LineSystem", on_delete=models.CASCADE, related_name="spreadsheet_exports",
                               verbose_name=_("system"))
    period = models.CharField(_("period"), max_length=10)
    filename = models.CharField(_("file"), max_length=255)
    sha256 = models.CharField(max_length=64)
    rows = models.PositiveIntegerField(_("rows"), default=0)
    drop_path = models.CharField(_("written to"), max_length=500, blank=True)
    created_at = models.DateTimeField(_("made"), auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        verbose_name = _("spreadsheet export")
        verbose_name_plural = _("spreadsheet exports")

    def __str__(self) -> str:
        return self.filename
