"""The person key table: what an incremental reconcile compares of every existing person record.

An incremental run must find, among a million records, the few that may be the same person as a
new one. Reading every record's values for that costs tens of seconds; this keeps the comparison
keys of every reconciled person record (``linkage.features.key_tables``: name and its pinyin, ID,
birth dates, phone, village) in a DuckDB file under ``VAR_DIR/linkage/``, where finding the
candidates of ten thousand new records is a few hash joins, and the linkage inputs of every record
(the elements the model compares), so that the candidates need not be read from the database.

The file is derived data. Source records never change, so a record's keys never do; the file is
valid exactly when its token equals the ``KeyIndexState`` row of this database. Every run that
changes what the file holds sets a new token in its own transaction and writes the file (with the
token) only once that transaction has committed: a rollback or a crash leaves a file whose token
no longer matches, which is then ignored (the run reads every record, as without a file) and
rebuilt. A full reconcile rebuilds it; an incremental run appends the records it reconciled.
Records that were linked without a reconcile run (typed in, report fills) are found by id: every
person record above the file's highest id, less a margin for transactions that committed out of
order, that the file does not hold is added.

Each application server keeps its own file; one that finds another server's token rebuilds.
"""

from __future__ import annotations

import hashlib
import logging
import os
import uuid
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa
from django.conf import settings
from django.db import connection, transaction

from yici.registry.linkage import features
from yici.registry.models import KeyIndexState

NAME = "person"
# Records this far below the file's highest id are checked again (out-of-order commits).
MARGIN = 1000

logger = logging.getLogger(__name__)


def path() -> Path:
    db = connection.settings_dict
    tag = hashlib.sha256(
        f"{connection.vendor}|{db.get('HOST')}|{db.get('PORT')}|{db.get('NAME')}".encode()
    ).hexdigest()[:12]
    return Path(settings.VAR_DIR) / "linkage" / f"person-keys-{tag}.duckdb"


@dataclass
class KeyCache:
    """An open, valid key table: ``con`` has it attached as ``kc`` (tables ``kc.keys`` and ``kc.records``)."""

    con: duckdb.DuckDBPyConnection
    token: str
    max_id: int
    count: int

    def close(self) -> None:
        self.con.close()

    def linkage_rows(self, ids: list[int], extra: pa.Table) -> pa.Table:
        """``features.records_table`` rows of ``extra`` and of the records ``ids`` (from the file),
        ``pos`` numbered from 0."""
        self.con.register("__ids", pa.table({"unique_id": pa.array(ids, pa.int64())}))
        self.con.register("__extra", extra)
        try:
            return self.con.sql(
                "select *, (row_number() over (order by unique_id) - 1)::bigint as pos from ("
                "select * from __extra union all by name "
                "select * from kc.records semi join __ids using (unique_id)) order by unique_id"
            ).to_arrow_table()
        finally:
            self.con.unregister("__ids")
            self.con.unregister("__extra")


def open_cache() -> KeyCache | None:
    """The key table of this database, or None when there is none or it does not match."""
    file = path()
    if not file.exists():
        return None
    token = KeyIndexState.objects.filter(name=NAME).values_list("token", flat=True).first()
    if not token:
        return None
    con = duckdb.connect(":memory:")
    try:
        con.execute(f"attach '{file}' as kc (read_only)")
        meta = dict(con.execute("select k, v from kc.meta").fetchall())
    except duckdb.Error as exc:  # being written by another process, or damaged
        logger.info("key table %s not usable: %s", file, exc)
        con.close()
        return None
    if meta.get("token") != token or meta.get("version") != features.KEY_TABLE_VERSION:
        con.close()
        return None
    return KeyCache(con=con, token=token, max_id=int(meta["max_id"]), count=int(meta["count"]))


def schedule_rebuild(records: pa.Table, keys: pa.Table) -> None:
    """Replace the file with every person record's linkage inputs and keys once the transaction commits.

    The new file is written now, beside the current one, and put in its place on commit: a county's
    tables take hundreds of megabytes that the rest of the run can use (its peak memory is what
    Python and DuckDB hold together). After a rollback the new file is left unused and removed by
    a later rebuild.
    """
    token = _new_token()
    file = path()
    tmp = file.with_name(f"{file.name}.{token}.tmp")
    try:
        file.parent.mkdir(parents=True, exist_ok=True)
        _remove_stale(file)
        _create(tmp, records, keys, token)
    except (duckdb.Error, OSError) as exc:  # the file is only a cache: the next run reads the records
        logger.warning("could not write the person key table %s: %s", tmp, exc)
        return
    transaction.on_commit(lambda: _install(tmp, file))


def _install(tmp: Path, file: Path) -> None:
    try:
        os.replace(tmp, file)
    except OSError as exc:
        logger.warning("could not install the person key table %s: %s", file, exc)


def _remove_stale(file: Path, *, older_than: float = 3600.0) -> None:
    """Files of rebuilds whose transaction rolled back (an hour old: a running rebuild's is newer)."""
    import time

    for stale in file.parent.glob(f"{file.name}.*.tmp"):
        try:
            if time.time() - stale.stat().st_mtime > older_than:
                stale.unlink()
        except OSError:
            pass


def _create(target: Path, records: pa.Table, keys: pa.Table, token: str) -> None:
    target.unlink(missing_ok=True)
    con = duckdb.connect(str(target))
    try:
        con.register("__records", records)
        con.register("__keys", keys)
        con.execute("create table records as select * from __records")
        con.execute("create table keys as select * from __keys")
        con.execute("create table meta (k varchar primary key, v varchar)")
        _set_meta(con, token)
        con.execute("checkpoint")
    finally:
        con.close()


def schedule_append(records: pa.Table, keys: pa.Table, cache: KeyCache) -> None:
    """Add records to the file once the transaction commits (if the file is still ``cache``'s)."""
    if keys.num_rows == 0:
        return
    token = _new_token()
    expected = cache.token
    transaction.on_commit(lambda: _write(records, keys, token, expected=expected))


def _new_token() -> str:
    token = uuid.uuid4().hex
    updated = KeyIndexState.objects.filter(name=NAME).update(token=token)
    if not updated:
        KeyIndexState.objects.create(name=NAME, token=token)
    return token


def _write(records: pa.Table, keys: pa.Table, token: str, *, expected: str) -> None:
    """Append to the file, if it is still the one whose token is ``expected``."""
    file = path()
    try:
        con = duckdb.connect(str(file))
        try:
            meta = dict(con.execute("select k, v from meta").fetchall())
            if meta.get("token") != expected:
                return  # someone else wrote it meanwhile: the tokens no longer match, it will be rebuilt
            con.register("__records", records)
            con.register("__keys", keys)
            con.execute("delete from keys where unique_id in (select unique_id from __keys)")
            con.execute("delete from records where unique_id in (select unique_id from __records)")
            con.execute("insert into keys by name select * from __keys")
            con.execute("insert into records by name select * from __records")
            _set_meta(con, token)
        finally:
            con.close()
    except (duckdb.Error, OSError) as exc:  # the file is only a cache: the next run reads the records
        logger.warning("could not write the person key table %s: %s", file, exc)


def _set_meta(con: duckdb.DuckDBPyConnection, token: str) -> None:
    max_id, count = con.execute("select coalesce(max(unique_id), 0), count(*) from keys").fetchone()
    con.execute("delete from meta")
    con.executemany("insert into meta values (?, ?)", [
        ("token", token), ("version", features.KEY_TABLE_VERSION), ("max_id", str(max_id)), ("count", str(count)),
    ])
