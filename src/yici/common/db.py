"""Database helpers for bulk work that the ORM does slowly."""

import atexit
import contextlib
import json
import logging
import operator
import re
import sqlite3
import threading
from collections.abc import Iterable, Sequence

import orjson
from django.db import connections, models, router

# orjson writes the same JSON as ``json.dumps`` several times faster, and as UTF-8 rather than
# ``\uXXXX`` escapes (Chinese text takes half the bytes). Types it would encode differently from
# Django (dates, dataclasses, subclasses) are passed through, fail, and go the ORM's way instead.
_ORJSON_OPTIONS = (orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
                   | orjson.OPT_PASSTHROUGH_SUBCLASS)


def json_dumps(value, encoder=None) -> str:
    """``value`` as JSON text: orjson where it can, else ``json.dumps`` with the field's encoder."""
    try:
        return orjson.dumps(value, option=_ORJSON_OPTIONS).decode()
    except TypeError:
        return json.dumps(value, cls=encoder)


def _json_bytes(value) -> bytes:
    """For psycopg's ``Jsonb`` wrapper, which takes bytes as they are."""
    try:
        return orjson.dumps(value, option=_ORJSON_OPTIONS)
    except TypeError:
        return json.dumps(value).encode()


json_loads = orjson.loads
logger = logging.getLogger(__name__)

# Page cache for bulk work on SQLite, in KiB: the default (2 MB) is far smaller than the indexes a
# county's registry builds, so every insert into a large index went back to the operating system.
BULK_CACHE_KIB = 256 * 1024


@contextlib.contextmanager
def bulk_cache(using: str = "default"):
    """A larger SQLite page cache on this connection while a bulk run inserts into large indexes."""
    connection = connections[using]
    if connection.vendor != "sqlite":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA cache_size")
        (before,) = cursor.fetchone()
        cursor.execute(f"PRAGMA cache_size = -{BULK_CACHE_KIB}")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"PRAGMA cache_size = {int(before)}")  # also frees the pages beyond it


@contextlib.contextmanager
def checkpoint_after_commit(using: str = "default"):
    """SQLite: a bulk transaction's write-ahead log is copied into the database by a background
    thread once the transaction commits, not by the commit itself.

    SQLite's commit that takes the log past 1,000 pages copies them all into the database file
    and waits until they are on disk: 150 MB for an incremental batch of 10,000 records (each
    golden record it changes grows and splits its page), seconds for a county's first run. Nobody
    needs to wait for that: what was committed is in the log already, readers see it, and a
    checkpoint that runs while others read and write (PASSIVE) blocks none of them. So this
    transaction's connection does not checkpoint (``wal_autocheckpoint = 0``) until it has
    committed; then a thread with its own connection does. Needs an ``atomic`` block. When the
    block raises, nothing is started and the connection checkpoints as before. (When an outer
    block rolls back after this one ended, this connection checkpoints no more until it closes,
    which Django does after each request and task; other connections' commits still do.)
    """
    connection = connections[using]
    path = connection.settings_dict["NAME"] if connection.vendor == "sqlite" else None
    if not path or connection.is_in_memory_db() or not connection.in_atomic_block:
        yield
        return
    raw = connection.connection  # Django's wrapper refuses queries once a failed block must roll back
    (mode,) = raw.execute("PRAGMA journal_mode").fetchone()
    if mode.lower() != "wal":
        yield
        return
    (pages,) = raw.execute("PRAGMA wal_autocheckpoint").fetchone()
    raw.execute("PRAGMA wal_autocheckpoint = 0")

    def restore():
        raw.execute(f"PRAGMA wal_autocheckpoint = {int(pages)}")

    def committed():
        restore()
        thread = threading.Thread(target=_checkpoint, args=(str(path),), name="yici-wal-checkpoint", daemon=True)
        thread.start()
        _checkpoints[:] = [*(t for t in _checkpoints if t.is_alive()), thread]

    try:
        yield
    except BaseException:
        restore()
        raise
    connection.on_commit(committed)


_checkpoints: list[threading.Thread] = []  # started by ``checkpoint_after_commit`` in this process


def wait_for_checkpoints() -> None:
    """Wait until the checkpoints that ``checkpoint_after_commit`` started in this process are done.

    Before copying a database file: while a checkpoint's connection is open, closing the others
    leaves the log in place (the last connection to close empties it), and a copy of the file
    alone would miss what the log holds. Also when the process exits: a command that has printed
    its result finishes the checkpoint of its commit rather than leave it to the next process.
    """
    for thread in list(_checkpoints):
        thread.join()
    _checkpoints.clear()


atexit.register(wait_for_checkpoints)


def _checkpoint(path: str) -> None:
    """Copy the committed part of ``path``'s write-ahead log into the database (PASSIVE: it
    neither waits for nor blocks readers and writers; what it cannot copy yet, a later one does)."""
    try:
        with contextlib.closing(sqlite3.connect(path, timeout=10, isolation_level=None)) as db:
            db.execute("PRAGMA wal_checkpoint(PASSIVE)")
    except sqlite3.Error as exc:  # the next checkpoint copies what this one did not
        logger.warning("checkpointing %s failed: %s", path, exc)


@contextlib.contextmanager
def indexes_built_after(model, adding: int, *, keep: Sequence[str] = (), using: str = "default"):
    """While a bulk run adds ``adding`` rows to a table holding fewer: its secondary indexes are
    dropped, then built once at the end.

    Rows arriving in random key order touch a random page of every index per row; building an
    index over the rows already written sorts them once. Measured on SQLite with a county's first
    run: 1.2 M links 7.3 → 4.7 s, 0.6 M persons 12.5 → 8.3 s. Only where the rows added outnumber
    those there (a first run), so rebuilding costs less than maintaining; never for a batch added
    to a county's registry. The caller's transaction holds it all (DDL is transactional on SQLite
    and PostgreSQL): a failure leaves the indexes as they were. Unique indexes are checked when
    built, so a violation still fails the run. Yields whether the indexes were deferred.

    SQLite only: PostgreSQL refuses to build an index on a table with deferred foreign-key checks
    pending, as a first run's links are (their golden records are written after them).

    ``keep`` names foreign keys whose index must stay: rows inserted meanwhile into the table they
    point at are each checked against it (without it, a scan of this table per row).
    """
    connection = connections[using]
    if not connection.in_atomic_block:
        raise RuntimeError("indexes_built_after needs a transaction: a failure must bring the indexes back")
    table = model._meta.db_table
    quote = connection.ops.quote_name
    indexes: list[tuple[str, str]] = []
    if adding > 0 and connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            # Counting stops at ``adding``: a large table is not scanned to the end.
            cursor.execute(f"SELECT COUNT(*) FROM (SELECT 1 FROM {quote(table)} LIMIT %s) AS t", [adding])
            if cursor.fetchone()[0] < adding:
                kept = [re.compile(rf'\(\s*"?{re.escape(model._meta.get_field(name).column)}"?\s*\)')
                        for name in keep]
                indexes = [(name, sql) for name, sql in _secondary_indexes(cursor, table)
                           if not any(k.search(sql) for k in kept)]
            for name, _sql in indexes:
                cursor.execute(f"DROP INDEX {quote(name)}")
    yield bool(indexes)
    # Not reached when the body raised: the transaction then rolls back, drops and all.
    if indexes:
        with connection.cursor() as cursor:
            for _name, sql in indexes:
                cursor.execute(sql)


def _secondary_indexes(cursor, table: str) -> list[tuple[str, str]]:
    """(name, CREATE statement) of a SQLite table's indexes but the primary key's."""
    cursor.execute("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = %s AND sql IS NOT NULL",
                   [table])
    return list(cursor.fetchall())


def fast_update(model, objs: Iterable, fields: Sequence[str], *, batch_size: int = 2000,
                encoded: Sequence[str] = ()) -> int:
    """Update ``fields`` of many objects with one prepared ``UPDATE … WHERE pk = %s`` run by executemany.

    ``QuerySet.bulk_update`` builds a ``CASE WHEN`` per field and object, which costs seconds per
    thousand rows with a dozen fields; this runs the same statement for every row instead. Values go
    through each field's ``get_db_prep_save``, so JSON, dates and the like are adapted as the ORM would;
    ``encoded`` names JSON fields whose values are JSON text already.
    """
    db = router.db_for_write(model)
    connection = connections[db]
    meta = model._meta
    columns = [meta.get_field(name) for name in fields]
    quote = connection.ops.quote_name
    sql = "UPDATE {} SET {} WHERE {} = %s".format(
        quote(meta.db_table), ", ".join(f"{quote(f.column)} = %s" for f in columns), quote(meta.pk.column)
    )
    read = operator.attrgetter(*[f.attname for f in columns], "pk")
    convert = _row_converter(columns, connection, encoded)
    if connection.vendor == "postgresql":
        rows = [convert(list(read(obj))) for obj in objs]
        if len(rows) >= COPY_UPDATE_FROM:
            return _copy_update(connection, meta.db_table, meta.pk.column, [f.column for f in columns], rows)
        with connection.cursor() as cursor:
            cursor.executemany(sql, rows)
        return len(rows)
    total = 0
    batch: list[list] = []
    with connection.cursor() as cursor:
        for obj in objs:
            batch.append(convert(list(read(obj))))
            if len(batch) >= batch_size:
                cursor.executemany(sql, batch)
                total += len(batch)
                batch = []
        if batch:
            cursor.executemany(sql, batch)
            total += len(batch)
    return total


# From this many rows, ``fast_update`` on PostgreSQL copies them into a temporary table and updates
# from it in one statement (executemany runs one UPDATE per row: 168,000 house owners took 10 s).
COPY_UPDATE_FROM = 500


def _copy_update(connection, table: str, pk: str, columns: list[str], rows: list[list]) -> int:
    """PostgreSQL: ``rows`` (values of ``columns``, then the primary key) → COPY into a temporary
    table → one ``UPDATE … FROM`` it. In a savepoint of its own: after an error nothing is left."""
    from django.db import transaction

    quote = connection.ops.quote_name
    names = ", ".join(quote(c) for c in columns)
    temporary = quote("_yici_fast_update")
    with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
        cursor.execute(f"CREATE TEMPORARY TABLE {temporary} ON COMMIT DROP AS "
                       f"SELECT {names}, {quote(pk)} FROM {quote(table)} WITH NO DATA")
        _copy_rows(connection, f"COPY {temporary} ({names}, {quote(pk)}) FROM STDIN", rows)
        assignments = ", ".join(f"{quote(c)} = u.{quote(c)}" for c in columns)
        cursor.execute(f"UPDATE {quote(table)} AS t SET {assignments} FROM {temporary} AS u "
                       f"WHERE t.{quote(pk)} = u.{quote(pk)}")
        cursor.execute(f"DROP TABLE {temporary}")
    return len(rows)


def fast_insert(model, rows: Iterable[dict] | Iterable[Sequence], fields: Sequence[str], *, batch_size: int = 5000,
                sequences: bool = False, constants: dict | None = None, encoded: Sequence[str] = ()) -> int:
    """Insert many rows (dicts of field name → value) with one prepared ``INSERT`` run by executemany
    (on PostgreSQL, one ``COPY``).

    For the bulk paths (a million imported rows) where building model instances and letting
    ``bulk_create`` compile a multi-row statement costs more than the insert itself. Primary keys
    are not returned; callers that need them look the rows up afterwards by a natural key. With
    ``sequences``, rows are tuples of values in ``fields`` order (no dict per row to build and read).
    ``constants`` (field name → value) are the same in every row: on SQLite they are written into
    the statement, not bound row by row (binding costs about a microsecond a value, a county's
    first reconcile binds tens of millions). ``encoded`` names JSON fields whose values are JSON
    text already (encoded in a worker process): written as they are.
    """
    db = router.db_for_write(model)
    connection = connections[db]
    meta = model._meta
    columns = [meta.get_field(name) for name in fields]
    fixed = [(meta.get_field(name), value) for name, value in (constants or {}).items()]
    quote = connection.ops.quote_name
    names = [f.attname if f.attname in fields else f.name for f in columns]
    convert = _row_converter(columns, connection, encoded)
    column_list = ", ".join(quote(f.column) for f in [*columns, *(f for f, _v in fixed)])
    if connection.vendor == "postgresql":
        tail = [_converter(f, connection)(value) for f, value in fixed]
        copy = f"COPY {quote(meta.db_table)} ({column_list}) FROM STDIN"
        return _copy_rows(connection, copy, (convert(list(row) if sequences else list(map(row.get, names))) + tail
                                             for row in rows))
    sql = "INSERT INTO {} ({}) VALUES ({})".format(
        quote(meta.db_table), column_list,
        ", ".join(["%s"] * len(columns) + [_literal(f, value, connection) for f, value in fixed]),
    )
    total = 0
    batch: list[list] = []
    with connection.cursor() as cursor:
        for row in rows:
            batch.append(convert(list(row) if sequences else list(map(row.get, names))))
            if len(batch) >= batch_size:
                cursor.executemany(sql, batch)
                total += len(batch)
                batch = []
        if batch:
            cursor.executemany(sql, batch)
            total += len(batch)
    return total


def _literal(field, value, connection) -> str:
    """SQL text for a constant of ``field`` (as the field would bind it), for ``fast_insert``'s statement."""
    value = _converter(field, connection)(value)
    # The schema editor's quoting, without entering it (which SQLite refuses inside a transaction).
    literal = connection.SchemaEditorClass(connection).quote_value(value)
    return literal.replace("%", "%%")  # the statement goes through the %s → ? conversion


def _copy_rows(connection, sql: str, rows: Iterable[list]) -> int:
    """PostgreSQL: stream rows into ``COPY … FROM STDIN`` (psycopg adapts each value as for a query).

    COPY takes a million rows several times faster than ``executemany``, which the server still
    runs as one statement per row; a county's first reconcile writes millions. Errors come out as
    Django's (``IntegrityError`` …), as from any query.
    """
    rows = iter(rows)
    first = next(rows, None)
    if first is None:
        return 0
    total = 1
    with connection.cursor() as cursor, connection.wrap_database_errors, cursor.cursor.copy(sql) as copy:
        copy.write_row(first)
        for row in rows:
            copy.write_row(row)
            total += 1
    return total


_PLAIN = (models.CharField, models.TextField, models.IntegerField, models.ForeignKey, models.BooleanField,
          models.FloatField)


def _row_converter(columns, connection, encoded: Sequence[str] = ()):
    """A function that turns a row's values (a list, in ``columns`` order; more may follow) into
    query parameters in place: only the columns whose values need converting are touched.
    ``encoded`` names JSON fields whose values are JSON text already."""
    json_fields = {f.name for f in columns if isinstance(f, models.JSONField)}
    if not_json := set(encoded) - json_fields:
        raise ValueError(f"not JSON fields written here, so their values cannot be encoded already: {sorted(not_json)}")
    converting = [(i, c) for i, c in enumerate(_converter(f, connection, f.name in encoded) for f in columns)
                  if c is not _as_is]

    def convert(values: list) -> list:
        for i, convert_one in converting:
            values[i] = convert_one(values[i])
        return values

    return convert


def _as_is(value):
    return value


def _converter(field, connection, encoded: bool = False):
    """The cheapest correct way to turn one Python value into a query parameter for ``field``.

    Text, numbers and keys pass unchanged on every backend; JSON goes straight to the backend's JSON
    adapter; anything else (dates, decimals …) through the field itself, remembering the last value
    because bulk rows often share it (the import time). ``encoded``: the values of this JSON
    column are JSON text already (encoded in a worker process).
    """
    if encoded:
        if connection.vendor == "postgresql":
            from psycopg.types.json import Jsonb

            return lambda value: None if value is None else Jsonb(orjson.Fragment(value), dumps=_json_bytes)
        if connection.vendor == "sqlite":
            return _as_is
        by_field = _converter(field, connection)
        return lambda value: None if value is None else by_field(json_loads(value))  # the field encodes it
    if isinstance(field, models.JSONField):
        adapt, encoder = connection.ops.adapt_json_value, field.encoder
        if encoder is not None:
            return lambda value: None if value is None else adapt(value, encoder)
        if connection.vendor == "postgresql":
            from psycopg.types.json import Jsonb

            return lambda value: None if value is None else Jsonb(value, dumps=_json_bytes)
        if connection.vendor == "sqlite":
            return lambda value: None if value is None else json_dumps(value)
        return lambda value: None if value is None else adapt(value, encoder)
    if isinstance(field, _PLAIN) and not isinstance(field, models.DecimalField):
        return _as_is
    last: list = [object(), None]

    def convert(value):
        if value is not last[0]:
            last[0], last[1] = value, field.get_db_prep_save(value, connection)
        return last[1]

    return convert


class Row:
    """A plain object for ``fast_update``: ``Row(pk, field=value, …)`` without building a model instance."""

    __slots__ = ("__dict__", "pk")

    def __init__(self, pk, **fields):
        self.pk = pk
        self.__dict__.update(fields)


def reserve_ids(model, count: int) -> list[int]:
    """Reserve ``count`` primary keys for rows that ``fast_insert`` will write with explicit ids.

    PostgreSQL draws them from the table's sequence; SQLite continues after the current maximum,
    which is safe because Yici's SQLite transactions take the write lock when they begin
    (``transaction_mode=IMMEDIATE``) and callers reserve inside their transaction.
    """
    if count <= 0:
        return []
    db = router.db_for_write(model)
    connection = connections[db]
    table, pk = model._meta.db_table, model._meta.pk.column
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)", [table, pk, count]
            )
            return [row[0] for row in cursor.fetchall()]
        quote = connection.ops.quote_name
        cursor.execute(f"SELECT COALESCE(MAX({quote(pk)}), 0) FROM {quote(table)}")
        start = cursor.fetchone()[0] + 1
        if connection.vendor == "sqlite":
            # AUTOINCREMENT never reuses ids below sqlite_sequence, which may exceed MAX(id) after deletes.
            cursor.execute("SELECT seq FROM sqlite_sequence WHERE name = %s", [table])
            found = cursor.fetchone()
            if found and found[0] >= start:
                start = found[0] + 1
        return list(range(start, start + count))
