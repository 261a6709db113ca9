"""Filling an area's population into a template, streamed, and split over two processes when big.

``fill_rows`` reads the population in one query (``population_batches``, village by village) and
writes each row straight into the sheet (``fill.SheetWriter``). A county-wide fill of persons
without a Python-side filter (so that each village's number of rows is known from one ``COUNT``
beforehand) of at least ``PARALLEL_MIN_ROWS`` rows is split in two at a village boundary: this
process writes the first half while a helper process (``spawn``: a fresh interpreter, its own
database connection, so it sees committed data only — the rows of a running test transaction are
not there, hence the threshold) writes the second half's rows, numbered from where the first half
ends, with the style ids this process registered. The halves' compressed rows are joined into one
sheet (``xlsxzip``). If the helper cannot run, or the numbers of rows changed in between, the fill
is done again in this process alone.
"""

import logging
import os
from dataclasses import dataclass, field
from datetime import date

logger = logging.getLogger(__name__)

PARALLEL_MIN_ROWS = 150_000
# The helper's executor: None for a spawned process; the tests put a thread pool here (a thread of
# the test process sees the test database; a spawned process would not see an in-memory one).
helper_executor = None


@dataclass
class FillJob:
    """What to fill: enough for another process to do the same (``template_prepare``'s arguments)."""

    data: bytes
    filename: str
    where: str
    context: str
    area_code: str
    as_of: date
    villages: set[str] | None = None  # 12-digit village codes to keep; None: the whole area
    collect_gaps: bool = True
    collect_rows: bool = False
    typed: dict[str, dict[str, dict[str, str]]] = field(default_factory=dict)  # village → key → letter → text
    per_village: dict[str, str] | None = None  # village code → sheet title, for one sheet per village
    area_names: dict[str, str] = field(default_factory=dict)  # village code → name (its sheet's 填报单位)


@dataclass
class Part:
    """The rows one process wrote."""

    rows: int
    gap_count: int
    gaps: list
    row_keys: list[dict]
    piece: object = None  # xlsxzip.Piece of the main sheet's rows
    extra: list = field(default_factory=list)  # fill.Target with their pieces


def row_label(row) -> str:
    from yici.reports.services import row_label as label

    return label(row)


def _write_rows(writer, batches, job: FillJob, sheets: list[str]) -> tuple[list[dict], int]:
    """Every row of ``batches`` into ``writer`` (and its village's sheet, for the villages of
    ``sheets``, in order: a village without rows gets an empty one); returns the row keys (when
    asked) and the number of rows."""
    row_keys: list[dict] = []
    typed = job.typed
    pending = sorted(sheets, reverse=True)

    def sheet(code: str):
        return writer.extra_sheet((job.per_village or {}).get(code, code), job.area_names.get(code, ""))

    n = 0
    for batch in batches:
        village = batch[0].area_code[:12]
        while pending and pending[-1] < village:
            sheet(pending.pop())
        extra = sheet(pending.pop()) if pending and pending[-1] == village else None
        by_key = typed.get(village, {})
        for row in batch:
            if job.collect_rows:
                row_keys.append({"key": row.key, "row": writer.main.first + writer.main.n, "label": row_label(row)})
            writer.add(row, typed=by_key.get(row.key), extra=extra)
            n += 1
    while pending:
        sheet(pending.pop())
    return row_keys, n


def fill_rows(prepared, job: FillJob, *, area, area_name: str):
    """Fill ``job``'s population into the prepared template: returns (``fill.WriteOutcome``, row keys)."""
    from yici.reports.fill import SheetWriter
    from yici.reports.population import population_batches

    split = _split(prepared, job, area)
    if split is not None:
        try:
            return _fill_split(prepared, job, area=area, area_name=area_name, split=split)
        except _Retry as exc:
            logger.warning("parallel fill abandoned (%s); filling in one process", exc)
    with SheetWriter(prepared.layout, prepared.plans, collect_gaps=job.collect_gaps) as writer:
        batches = population_batches(entity=prepared.entity, area=area, clauses=prepared.clauses, as_of=job.as_of,
                                     villages=job.villages)
        row_keys, _n = _write_rows(writer, batches, job, sorted(job.per_village or ()))
        return writer.finish(area_name=area_name, as_of=job.as_of), row_keys


class _Retry(Exception):
    pass


def _split(prepared, job: FillJob, area) -> tuple[set[str], set[str], int, int] | None:
    """The two halves (village codes, rows) of a fill worth splitting, else None."""
    from django.conf import settings
    from django.db import connection
    from django.db.models import Count
    from django.db.models.functions import Substr

    from yici.accounts.selectors import area_subtree_q
    from yici.reports.population import ENTITY_MODELS, _prefilter

    minimum = getattr(settings, "REPORTS_PARALLEL_MIN_ROWS", PARALLEL_MIN_ROWS)
    in_memory = connection.vendor == "sqlite" and connection.is_in_memory_db()
    if (minimum is None or prepared.entity != "person" or prepared.clauses or (os.cpu_count() or 1) < 2
            or (in_memory and helper_executor is None)):
        return None
    qs = ENTITY_MODELS["person"].objects.filter(area_subtree_q("area_code", area.prefix), merged_into_id__isnull=True)
    qs = qs.filter(_prefilter("person", prepared.clauses, job.as_of))
    counts = dict(qs.order_by().annotate(village=Substr("area_code", 1, 12)).values("village")
                  .annotate(n=Count("id")).values_list("village", "n"))
    if job.villages is not None:
        counts = {v: n for v, n in counts.items() if v in job.villages}
    total = sum(counts.values())
    if total < minimum or len(counts) < 2:
        return None
    first, rows = set(), 0
    for village in sorted(counts):
        if rows >= total / 2:
            break
        first.add(village)
        rows += counts[village]
    second = set(counts) - first
    if not second or rows < prepared.layout.prefilled_rows:
        return None
    return first, second, rows, total - rows


def _fill_split(prepared, job: FillJob, *, area, area_name: str, split):
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    from dataclasses import replace

    from django.db import connection

    from yici.reports.fill import SheetWriter
    from yici.reports.population import population_batches

    first, second, rows_first, rows_second = split
    with SheetWriter(prepared.layout, prepared.plans, collect_gaps=job.collect_gaps) as writer:
        helper_job = replace(job, villages=second, typed={v: t for v, t in job.typed.items() if v in second},
                             per_village={v: t for v, t in job.per_village.items() if v >= min(second)}
                             if job.per_village is not None else None)
        if helper_executor is None:
            settings_dict = {k: v for k, v in connection.settings_dict.items() if k != "TEST"}
            pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
        else:
            settings_dict, pool = None, helper_executor()
        with pool:
            future = pool.submit(write_part, helper_job, settings_dict, rows_first, writer.style_cache())
            batches = population_batches(entity=prepared.entity, area=area, clauses=prepared.clauses,
                                         as_of=job.as_of, villages=first)
            row_keys, n = _write_rows(writer, batches, job, [v for v in job.per_village or () if v < min(second)])
            try:
                part = future.result()
            except Exception as exc:  # the helper could not start or failed: do it here
                raise _Retry(f"helper failed: {exc!r}") from None
        if n != rows_first or part.rows != rows_second:
            raise _Retry("the rows changed while they were written")
        if job.collect_gaps:
            writer.gaps.extend(part.gaps)
        writer.gap_count += part.gap_count
        outcome = writer.finish(area_name=area_name, as_of=job.as_of, after=[(part.piece, part.rows)],
                                extra_after=part.extra)
        return outcome, row_keys + part.row_keys


def write_part(job: FillJob, database: dict | None, row_offset: int, style_cache: dict) -> Part:
    """In the helper process: write the rows of ``job`` numbered from ``row_offset``. ``database``
    is None when the helper is a thread of this process (the tests' way)."""
    import django
    from django.conf import settings

    if database is not None:  # a fresh process: the caller's database (a test's, say), not the configured one
        settings.DATABASES["default"] = database
        if not _ready():
            django.setup()
        from django.db import connections

        connections.settings = connections.configure_settings(settings.DATABASES)
        try:
            del connections["default"]
        except AttributeError:  # no connection made yet
            pass
    from yici.accounts.models import Area
    from yici.reports.fill import SheetWriter
    from yici.reports.population import population_batches
    from yici.reports.services import template_prepare

    prepared = template_prepare(data=job.data, filename=job.filename, where=job.where, context=job.context)
    area = Area.objects.get(code=job.area_code)
    with SheetWriter(prepared.layout, prepared.plans, collect_gaps=job.collect_gaps, row_offset=row_offset,
                     style_cache=style_cache) as writer:
        batches = population_batches(entity=prepared.entity, area=area, clauses=prepared.clauses, as_of=job.as_of,
                                     villages=job.villages)
        row_keys, n = _write_rows(writer, batches, job, sorted(job.per_village or ()))
        piece, extra = writer.close_part()
        return Part(rows=n, gap_count=writer.gap_count, gaps=writer.gaps, row_keys=row_keys,
                    piece=piece, extra=extra)


def _ready() -> bool:
    from django.apps import apps

    return apps.ready
