"""Importing a department's legacy export: read → map headers → normalise → store source records.

Nothing is overwritten: each data row becomes one ``SourceRecord`` (two for a house row: the house
and its owner) holding the normalised values, the original cell texts and the validation issues.
Linking the records into golden records is ``registry.reconcile``'s job.

``import_prepare`` reads and maps a file without storing anything (the mapping preview, and
``--dry-run``); ``import_run`` stores it. The same file (by content) from the same system is
imported once.
"""

import hashlib
import itertools
import json
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from yici.catalog.models import DataElement
from yici.common import parallel
from yici.common.collector import collector_paused
from yici.common.db import bulk_cache, checkpoint_after_commit, fast_insert, indexes_built_after, reserve_ids
from yici.exchange.areas import AreaResolver
from yici.exchange.models import ImportBatch, ImportStatus, LineSystem
from yici.exchange.tabular import Table, TableError, read_table
from yici.registry.models import RecordStatus, SourceKind, SourceRecord
from yici.registry.normalize import ERROR, element_specs_from_catalog, normalize_row

ENTITIES = ("person", "household", "house", "place")
# Guesses below this confidence are reported for a person to confirm (they are still used).
LOW_CONFIDENCE = 0.75
BATCH_SIZE = 2000
# Files of this many rows or more are normalised on every core (below it, starting the workers costs more).
PARALLEL_FROM_ROWS = 20_000
CHUNK_ROWS = 1000  # rows a worker normalises at a time

# A house row names its owner: those values also form a person record (the owner facet).
OWNER_FACETS = {
    "house": {
        "house.owner_name": "person.name",
        "house.owner_id_number": "person.id_number",
        "house.owner_phone": "person.phone",
        "house.village": "person.village",
    },
    "place": {
        "place.manager_name": "person.name",
        "place.manager_phone": "person.phone",
    },
}

Progress = Callable[[int, int], None] | None


class ImportError_(Exception):  # noqa: N801 - ImportError is a builtin
    """The file cannot be imported; nothing was stored. The message is one line."""


@dataclass
class PlannedColumn:
    index: int
    letter: str
    header: str
    header_path: tuple[str, ...]
    element: str | None
    confidence: float
    method: str
    candidates: list[tuple[str, float]] = field(default_factory=list)
    confirmed: bool = False

    @property
    def low_confidence(self) -> bool:
        return self.element is not None and not self.confirmed and self.confidence < LOW_CONFIDENCE

    def as_json(self) -> dict:
        return {
            "index": self.index, "letter": self.letter, "header": self.header, "path": list(self.header_path),
            "element": self.element, "confidence": round(self.confidence, 3), "method": self.method,
            "confirmed": self.confirmed,
        }


class RowOutcome(NamedTuple):
    """One row's normalised values and issues (a named tuple: made per row, in worker processes
    for a large file, and sent back)."""

    row_number: int
    sheet_row: int
    status: str  # ok | warning | invalid | empty
    area_code: str
    values: dict[str, str]
    issues: dict[str, list[dict]]
    raw: dict[str, str]


@dataclass
class ImportPlan:
    filename: str
    sha256: str
    system_code: str
    entity: str
    table: Table
    columns: list[PlannedColumn]
    area_code: str = ""

    @property
    def mapped(self) -> list[PlannedColumn]:
        return [c for c in self.columns if c.element]

    @property
    def unmapped(self) -> list[PlannedColumn]:
        return [c for c in self.columns if not c.element]

    @property
    def low_confidence(self) -> list[PlannedColumn]:
        return [c for c in self.columns if c.low_confidence]


@dataclass
class ImportSummary:
    batch: ImportBatch | None
    plan: ImportPlan
    rows_total: int
    counts: Counter
    already_imported: bool = False
    outcomes: list[RowOutcome] = field(default_factory=list)  # dry run: every row; else the problem rows

    def line(self) -> str:
        c = self.counts
        return _(
            "%(file)s: %(rows)d rows (%(ok)d ok, %(warning)d with warnings, %(invalid)d with invalid values kept aside, "
            "%(unassigned)d without area); %(mapped)d of %(cols)d columns mapped"
        ) % {
            "file": self.plan.filename, "rows": self.rows_total, "ok": c["ok"], "warning": c["warning"],
            "invalid": c["invalid"], "unassigned": c["unassigned"], "mapped": len(self.plan.mapped),
            "cols": len(self.plan.columns),
        }


def _read(data: bytes, filename: str, sheet: str | None) -> Table:
    try:
        return read_table(data, filename=filename, sheet=sheet)
    except TableError as exc:
        raise ImportError_(str(exc)) from None


def load_mapping_file(path: Path) -> dict[str, str | None]:
    """A mapping file: JSON object {header text or column letter: element code or null}."""
    try:
        mapping = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ImportError_(_("cannot read %(path)s: %(err)s") % {"path": path, "err": exc.strerror}) from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise ImportError_(_("%(path)s is not JSON: %(err)s") % {"path": path, "err": exc}) from None
    if not isinstance(mapping, dict) or not all(isinstance(v, str | None) for v in mapping.values()):
        raise ImportError_(_("a mapping file is a JSON object of header → element code (or null)"))
    return mapping


@collector_paused()
def import_prepare(
    *,
    data: bytes,
    filename: str,
    system_code: str,
    entity: str | None = None,
    sheet: str | None = None,
    overrides: dict[str, str | None] | None = None,
    area_code: str = "",
) -> ImportPlan:
    """Read the file and map its columns; store nothing. Raises ImportError_ with one line."""
    if entity is not None and entity not in ENTITIES:
        raise ImportError_(_("unknown entity %(e)r; choose one of %(all)s") % {"e": entity, "all": ", ".join(ENTITIES)})
    table = _read(data, filename, sheet)
    if not table.rows:
        raise ImportError_(_("the table in %(file)s has a header but no data rows") % {"file": filename})
    from yici.catalog.mapping import ColumnInput, map_columns

    known = set(DataElement.objects.values_list("code", flat=True))
    if not known:
        raise ImportError_(_("the data catalog is empty; load it first with `yici load-catalog`"))
    inputs = [ColumnInput(header_path=c.header_path, samples=table.column_values(c.index, limit=50)) for c in table.columns]
    mappings = map_columns(inputs, entity=entity, context=system_code)
    columns = [
        PlannedColumn(
            index=c.index, letter=c.letter, header=c.header_text, header_path=c.header_path,
            element=m.element_code, confidence=m.confidence, method=m.method,
            candidates=list(m.candidates)[:3], confirmed=m.method == "remembered",
        )
        for c, m in zip(table.columns, mappings, strict=True)
    ]
    if table.seq_column is not None:
        columns[table.seq_column].element = None
    for key, element in (overrides or {}).items():
        column = next((c for c in columns if key in (c.letter, c.header, "/".join(c.header_path))), None)
        if column is None:
            raise ImportError_(_("the mapping names a column %(key)r that the file does not have") % {"key": key})
        if element is not None and element not in known:
            raise ImportError_(_("the mapping names an unknown element %(el)r") % {"el": element})
        column.element, column.confidence, column.method, column.confirmed = element, 1.0, "given", True
    _drop_duplicate_elements(columns)
    if not any(c.element for c in columns):
        raise ImportError_(_("no column of %(file)s could be mapped to a catalog element") % {"file": filename})
    entity = entity or _guess_entity(columns)
    return ImportPlan(
        filename=filename, sha256=hashlib.sha256(data).hexdigest(), system_code=system_code, entity=entity,
        table=table, columns=columns, area_code=area_code,
    )


def _drop_duplicate_elements(columns: list[PlannedColumn]) -> None:
    """Overrides may assign an element twice; the most confident column keeps it."""
    best: dict[str, PlannedColumn] = {}
    for column in columns:
        if column.element and (column.element not in best or column.confidence > best[column.element].confidence):
            best[column.element] = column
    for column in columns:
        if column.element and best[column.element] is not column:
            column.element, column.method = None, "duplicate"


def _guess_entity(columns: list[PlannedColumn]) -> str:
    counts = Counter(c.element.split(".", 1)[0] for c in columns if c.element)
    # A house file carries owner columns (house.owner_*) but also a person.village: house wins ties.
    return max(ENTITIES, key=lambda e: (counts.get(e, 0), e == "house"))


@dataclass(frozen=True)
class _RowWork:
    """What normalising a row needs, made once per file (and inherited by worker processes)."""

    mapped: list[tuple[int, str]]  # column index → element code
    kept: list[tuple[int, str]]  # column index → key of the original text kept
    derived: frozenset[str]
    specs: dict
    resolver: AreaResolver
    area_code: str
    entity: str


def _row_outcomes(plan: ImportPlan, specs, resolver: AreaResolver, progress: Progress):
    work = _RowWork(
        mapped=[(c.index, c.element) for c in plan.columns if c.element],
        # Original texts are kept by element code for mapped columns and by header for the others
        # (headers never look like element codes), so nothing the file said is lost.
        kept=[(c.index, c.element or c.header) for c in plan.columns
              if c.element or (c.header and c.index != plan.table.seq_column)],
        derived=frozenset(DataElement.objects.exclude(derived="").values_list("code", flat=True)),
        specs=specs, resolver=resolver, area_code=plan.area_code, entity=plan.entity,
    )
    total, done = len(plan.table.rows), 0
    # A large file is normalised on every core (a county's 户籍 export: 600,000 rows).
    for outcomes in parallel.map_chunks(_outcomes_of_rows, work, itertools.batched(plan.table.rows, CHUNK_ROWS),
                                           parallel=total >= PARALLEL_FROM_ROWS):
        yield from outcomes
        done += len(outcomes)
        if progress:
            progress(done, total)


def _outcomes_of_rows(work: _RowWork, rows: Sequence) -> list[RowOutcome]:
    return [_outcome(work, row) for row in rows]


def _outcome(work: _RowWork, row) -> RowOutcome:
    raw_values = {element: row.values[index] for index, element in work.mapped}
    raw = {key: _text(row.values[index]) for index, key in work.kept if row.values[index] not in (None, "")}
    values, issues = normalize_row(work.specs, raw_values)
    values = {k: v for k, v in values.items() if v != "" and k not in work.derived}
    issue_dicts = {k: [i._asdict() for i in v] for k, v in issues.items()}
    if not values and not issue_dicts:
        status = "empty"
    elif any(i["level"] == ERROR for v in issue_dicts.values() for i in v):
        status = RecordStatus.INVALID
    elif issue_dicts:
        status = RecordStatus.WARNING
    else:
        status = RecordStatus.OK
    area = work.area_code or work.resolver.resolve(values, work.entity)
    if work.area_code and (found := work.resolver.resolve(values, work.entity)) and found.startswith(work.area_code):
        area = found  # --area narrows the search; a row naming a village or group inside it is more precise
    return RowOutcome(row.row_number, row.sheet_row, status, area, values, issue_dicts, raw)


def _text(value) -> str:
    if value is None:
        return ""
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


@collector_paused()
def import_dry_run(plan: ImportPlan, *, progress: Progress = None) -> ImportSummary:
    """Normalise and validate every row, report outcomes, store nothing."""
    specs = element_specs_from_catalog()
    resolver = AreaResolver()
    outcomes = list(_row_outcomes(plan, specs, resolver, progress))
    return ImportSummary(batch=None, plan=plan, rows_total=len(outcomes), counts=_count(outcomes), outcomes=outcomes)


def _count(outcomes) -> Counter:
    counts = Counter(o.status for o in outcomes)
    counts["unassigned"] = sum(1 for o in outcomes if o.status != "empty" and not o.area_code)
    return counts


@collector_paused()
def import_run(
    plan: ImportPlan, *, actor=None, progress: Progress = None, batch: ImportBatch | None = None
) -> ImportSummary:
    """Store the file's rows as source records in one transaction (all or nothing).

    Without ``batch`` a new batch is created (the command line); the web page creates its batch
    first, as *waiting*, so that the person can follow it, and passes it here.
    """
    system = batch.system if batch is not None else line_system_for_import(plan.system_code)
    if batch is None:
        existing = ImportBatch.objects.filter(
            system=system, sha256=plan.sha256, sheet_name=plan.table.sheet_name or "", entity=plan.entity,
            status=ImportStatus.DONE,
        ).first()
        if existing is not None:
            counts = Counter(ok=existing.rows_ok, warning=existing.rows_warning, invalid=existing.rows_invalid,
                             unassigned=existing.rows_unassigned)
            return ImportSummary(batch=existing, plan=plan, rows_total=existing.rows_total, counts=counts,
                                 already_imported=True)
    specs = element_specs_from_catalog()
    resolver = AreaResolver()
    now = timezone.now()
    user = actor if getattr(actor, "is_authenticated", False) else None
    with transaction.atomic(), bulk_cache(), checkpoint_after_commit():
        if batch is None:
            ImportBatch.objects.filter(system=system, sha256=plan.sha256, sheet_name=plan.table.sheet_name or "",
                                       entity=plan.entity).exclude(status=ImportStatus.DONE).delete()
            batch = ImportBatch.objects.create(
                system=system, filename=plan.filename[:255], sha256=plan.sha256,
                sheet_name=plan.table.sheet_name or "", entity=plan.entity, area_code=plan.area_code,
                status=ImportStatus.RUNNING, created_by=user,
            )
        # The same for every record of the file: written into the statement once.
        constants = {"kind": SourceKind.IMPORT, "system_id": system.pk, "batch_id": batch.pk, "observed_at": now,
                     "actor_id": user.pk if user else None, "context": ""}
        # A county's first import of a large export: the record indexes are built once, at the end.
        with indexes_built_after(SourceRecord, adding=len(plan.table.rows)):
            counts, problems, total = _store_records(plan, _row_outcomes(plan, specs, resolver, progress), constants)
        batch.header_rows, batch.first_data_row = plan.table.header_rows, plan.table.first_data_row
        batch.mapping = [c.as_json() for c in plan.columns]
        batch.rows_total = total
        batch.rows_ok, batch.rows_warning = counts[RecordStatus.OK], counts[RecordStatus.WARNING]
        batch.rows_invalid, batch.rows_unassigned = counts[RecordStatus.INVALID], counts["unassigned"]
        batch.status, batch.finished_at, batch.error = ImportStatus.DONE, timezone.now(), ""
        batch.save()
        from yici.audit.services import audit_event

        audit_event(actor=user, action="import", obj=batch, after={"rows": total, "file": plan.filename})
    return ImportSummary(batch=batch, plan=plan, rows_total=total, counts=counts, outcomes=problems)


def _facet(entity: str, outcome: RowOutcome) -> tuple[dict, dict] | None:
    """The owner's (or manager's) person values and original texts, when the row names one."""
    facet_map = OWNER_FACETS.get(entity)
    if not facet_map:
        return None
    values = {person_code: outcome.values[code] for code, person_code in facet_map.items() if outcome.values.get(code)}
    raw = {person_code: outcome.raw[code] for code, person_code in facet_map.items() if outcome.raw.get(code)}
    # A self-built house's address helps to recognise its owner (who mostly lives there), but is no
    # claim about where the owner lives: it goes to ``raw`` (which linkage reads), not to ``values``
    # (which golden records are made of). A place's address says nothing about its manager's home.
    address = outcome.values.get("house.address") if entity == "house" else None
    if address:
        raw["person.current_address"] = address
    return (values, raw) if values.get("person.name") else None


# What differs between an import's records (the rest is the same for the whole file).
RECORD_FIELDS = ("row_number", "sheet_row", "area_code", "entity", "values", "raw", "issues", "status")


def _store_records(plan: ImportPlan, outcomes: Iterable[RowOutcome],
                   constants: dict) -> tuple[Counter, list[RowOutcome], int]:
    """Write a record for each row that is not empty, and one for the owner (or manager) a row
    names, pointing at the row's record. Returns the counts by status, the first thousand rows with
    a problem, and the number of rows written."""
    counts: Counter = Counter()
    problems: list[RowOutcome] = []
    pending: list[tuple] = []  # RECORD_FIELDS
    facets: list[int] = []  # positions in ``pending`` of owners, each right after its row's record
    total = 0
    for outcome in outcomes:
        if outcome.status == "empty":
            continue
        total += 1
        counts[outcome.status] += 1
        if not outcome.area_code:
            counts["unassigned"] += 1
        if outcome.status != RecordStatus.OK and len(problems) < 1000:
            problems.append(outcome)
        pending.append((outcome.row_number, outcome.sheet_row, outcome.area_code, plan.entity, outcome.values,
                        outcome.raw, outcome.issues, outcome.status))
        facet = _facet(plan.entity, outcome)
        if facet is not None:
            facets.append(len(pending))
            pending.append((outcome.row_number, outcome.sheet_row, outcome.area_code, "person", facet[0], facet[1],
                            {}, RecordStatus.OK))
        if len(pending) >= BATCH_SIZE:
            _insert_records(pending, facets, constants)
            pending, facets = [], []
    _insert_records(pending, facets, constants)
    return counts, problems, total


def _insert_records(pending: list[tuple], facets: list[int], constants: dict) -> None:
    """Insert ``pending`` records (RECORD_FIELDS); those at the positions ``facets`` point at the
    record before them. Their ids are reserved first (inserts return no keys), which spares an
    update of every owner record after the insert."""
    if not facets:
        fast_insert(SourceRecord, pending, RECORD_FIELDS, sequences=True, constants={**constants, "parent_id": None})
        return
    ids = reserve_ids(SourceRecord, len(pending))
    parent_of = {i: ids[i - 1] for i in facets}
    fast_insert(SourceRecord, ((ids[i], parent_of.get(i), *fields) for i, fields in enumerate(pending)),
                ("id", "parent_id", *RECORD_FIELDS), sequences=True, constants=constants)


def line_system_for_import(code: str, *, name: str = "", department=None) -> LineSystem:
    """The line system a file comes from; an unknown code registers it (named by ``name`` or the code)."""
    system, _created = LineSystem.objects.get_or_create(code=code, defaults={"name": name or code, "department": department})
    return system
