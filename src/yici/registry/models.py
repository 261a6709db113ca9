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
    # Where each value came from, stored compact (``registry.golden.PROVENANCE_FORMAT``: the winning
    # record and rule of each element several linked records state); read it with
    # ``golden.provenance_of``, which adds the candidates and sources from the linked records.
    provenance = models.JSONField(_("provenance"), default=dict, blank=True)
    # Set when reconciliation folded this record into another; kept so old IDs still resolve.
    merged_into_id = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    version = models.PositiveIntegerField(default=1)

    class Meta:
        abstract = True
        # Indexed only where set (to find what was merged into a record). Nearly every row has no
        # value: SQLite, which keeps no statistics here, took an index of all of them as the best
        # way to find the live records ("merged_into_id IS NULL") and read every row of the table
        # to list one village's persons or look up a few thousand 户号.
        indexes = [models.Index(fields=["merged_into_id"], name="%(app_label)s_%(class)s_merged",
                                condition=models.Q(merged_into_id__isnull=False))]


class Household(RegistryEntity):
    household_no = models.CharField(_("household number"), max_length=32, db_index=True)
    head_name = models.CharField(_("head of household"), max_length=100, blank=True)
    address = models.CharField(_("address"), max_length=300, blank=True)
    phone = models.CharField(_("phone"), max_length=20, blank=True)

    class Meta(RegistryEntity.Meta):
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

    class Meta(RegistryEntity.Meta):
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

    class Meta(RegistryEntity.Meta):
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

    class Meta(RegistryEntity.Meta):
        verbose_name = _("place")
        verbose_name_plural = _("places")
        ordering = ["code"]

    def __str__(self) -> str:
        return self.name


class SourceKind(models.TextChoices):
    IMPORT = "import", _("Imported file")
    USER = "user", _("Typed by a person")
    REPORT = "report", _("Report / template fill")
    INBOUND = "inbound", _("Sent by a line system")


class RecordStatus(models.TextChoices):
    OK = "ok", _("OK")
    WARNING = "warning", _("Warnings")
    INVALID = "invalid", _("Invalid values kept aside")


class SourceRecord(models.Model):
    """What one source said about one entity, kept as received. Never overwritten.

    ``values`` holds the normalised values by element code; ``raw`` the original cell texts, by
    element code for mapped columns and by header for the others; ``issues`` the validation issues
    by element code. Values that failed validation are absent from ``values`` and kept in ``raw``
    and ``issues`` (linkage may still compare them, e.g. an ID with two digits swapped).
    """

    kind = models.CharField(_("kind"), max_length=10, choices=SourceKind.choices)
    system = models.ForeignKey(
        "exchange.LineSystem", null=True, blank=True, on_delete=models.PROTECT, related_name="records",
        verbose_name=_("system"),
    )
    batch = models.ForeignKey(
        "exchange.ImportBatch", null=True, blank=True, on_delete=models.CASCADE, related_name="records",
        verbose_name=_("batch"),
    )
    row_number = models.PositiveIntegerField(_("row"), null=True, blank=True)
    sheet_row = models.PositiveIntegerField(null=True, blank=True)
    # The facet of the row this record describes: a 住建 house row yields a house record and a
    # person record for its owner (``parent`` points from the latter to the former).
    entity = models.CharField(_("entity"), max_length=20, db_index=True)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.CASCADE, related_name="facets")
    values = models.JSONField(_("values"), default=dict)
    raw = models.JSONField(_("original values"), default=dict)
    issues = models.JSONField(_("issues"), default=dict)
    status = models.CharField(_("status"), max_length=10, choices=RecordStatus.choices, default=RecordStatus.OK)
    area_code = models.CharField(_("area code"), max_length=18, blank=True, db_index=True)
    observed_at = models.DateTimeField(_("observed at"))
    actor = models.ForeignKey(
        "accounts.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", verbose_name=_("actor")
    )
    context = models.CharField(_("context"), max_length=200, blank=True, help_text=_("e.g. the report it came from"))

    class Meta:
        ordering = ["id"]
        verbose_name = _("source record")
        verbose_name_plural = _("source records")
        indexes = [models.Index(fields=["batch", "row_number"])]

    def __str__(self) -> str:
        where = self.system.code if self.system_id else self.kind
        return f"{where}#{self.row_number or self.pk} {self.entity}"


class LinkMethod(models.TextChoices):
    AUTO = "auto", _("Matched automatically")
    MANUAL = "manual", _("Confirmed by a person")
    NEW = "new", _("New record")
    DIRECT = "direct", _("Entered directly")


class Link(models.Model):
    """Source record → golden entity. Merges and splits deactivate links and add new ones."""

    record = models.ForeignKey(SourceRecord, on_delete=models.CASCADE, related_name="links")
    person = models.ForeignKey(Person, null=True, blank=True, on_delete=models.CASCADE, related_name="links")
    # Most links are persons': the other keys are indexed only where set (see Meta.indexes), which
    # spares a county's first run of a million links four indexes of NULLs (created_by's too).
    household = models.ForeignKey(Household, null=True, blank=True, on_delete=models.CASCADE, related_name="links",
                                  db_index=False)
    house = models.ForeignKey(House, null=True, blank=True, on_delete=models.CASCADE, related_name="links",
                              db_index=False)
    place = models.ForeignKey(Place, null=True, blank=True, on_delete=models.CASCADE, related_name="links",
                              db_index=False)
    probability = models.FloatField(_("match probability"), null=True, blank=True)
    method = models.CharField(_("method"), max_length=10, choices=LinkMethod.choices)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey("accounts.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
                                   db_index=False)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("link")
        verbose_name_plural = _("links")
        indexes = [
            models.Index(fields=[name], condition=models.Q(**{f"{name}__isnull": False}), name=f"link_{name}_set")
            for name in ("household", "house", "place", "created_by")
        ]
        constraints = [
            models.UniqueConstraint(fields=["record"], condition=models.Q(active=True), name="link_one_active_per_record"),
        ]

    def __str__(self) -> str:
        return f"{self.record_id}→{self.person_id or self.house_id or self.household_id or self.place_id}"


class ReviewStatus(models.TextChoices):
    OPEN = "open", _("Waiting for review")
    MERGED = "merged", _("Same — merged")
    APART = "apart", _("Different — kept apart")


class ReviewPair(models.Model):
    """Two source records whose match probability lies between the thresholds: a person decides.

    A decision is kept and honoured by every later reconcile run.
    """

    left = models.ForeignKey(SourceRecord, on_delete=models.CASCADE, related_name="+")
    right = models.ForeignKey(SourceRecord, on_delete=models.CASCADE, related_name="+")
    entity = models.CharField(max_length=20, default="person")
    probability = models.FloatField(_("match probability"))
    area_code = models.CharField(max_length=18, blank=True, db_index=True)
    status = models.CharField(_("status"), max_length=10, choices=ReviewStatus.choices, default=ReviewStatus.OPEN, db_index=True)
    decided_by = models.ForeignKey("accounts.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    decided_at = models.DateTimeField(null=True, blank=True)
    # Records a merge moved, so that undoing it puts exactly them back.
    moved_records = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-probability", "id"]
        verbose_name = _("review pair")
        verbose_name_plural = _("review pairs")
        constraints = [models.UniqueConstraint(fields=["left", "right"], name="review_pair_once")]

    def __str__(self) -> str:
        return f"{self.left_id}~{self.right_id} ({self.probability:.2f})"


class KeyIndexState(models.Model):
    """Which key-table file (``yici.registry.keycache``) holds this database's records.

    The token is changed in the transaction that changes what the file must hold and written to
    the file once that transaction commits; a file whose token differs is not used.
    """

    name = models.CharField(max_length=40, unique=True)
    token = models.CharField(max_length=64)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("key index state")
        verbose_name_plural = _("key index states")

    def __str__(self) -> str:
        return self.name
