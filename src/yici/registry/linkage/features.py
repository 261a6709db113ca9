"""Feature preparation for person linkage: source records → one DuckDB table of comparison columns.

Python only moves the few elements linkage reads out of each record's ``values`` into Arrow (in
C++, through ``pyarrow``), and looks up the pinyin of each distinct character. Everything else —
pinyin of names, ID parts, birth date and sex from the ID, whether an ID can be trusted, address
parts, village keys — is SQL over the whole table, vectorised and on every core.

Registry values are expected (``normalize_row`` output); addresses not in registry form are passed
through ``normalize_address`` once per distinct value, so hand-built records compare as well.

For an incremental run (``new_ids``) only four elements of every record are read first (name, ID,
birth date, phone), plus the village and address of the records sharing a name's pinyin with a new
one. The full features are then built for the new records and for the existing records that share
a candidate key with one of them (a superset of every blocking rule), and for the records sharing
an ID with those, which the ID-trust check needs; the namesake count still covers every record.

Columns of the ``persons`` table (``NULL`` for no value):

``unique_id``, ``is_new``
    the source record id; whether it is one of ``new_ids``.
``name``, ``name_py``, ``name_init``, ``surname_py``, ``name_n``
    the name without any spaces; its pinyin (space-separated, toneless, one reading per character,
    so homophones such as 张伟/章伟 give the same string); the pinyin initials (``zw``); the pinyin of
    the first character; how many people bear the name (distinct valid IDs, or distinct birth
    dates if more).
``id_number``, ``id_valid``
    the record's ID when it can be trusted as the person's own: its birth date and sex agree with
    the record's own birth date and gender, and no record under a clearly different name confirms
    it with its own birth date (legacy files often put a household member's ID on a row).
    ``id_number`` may be an ID that validation rejected (from ``record["rejected"]`` or
    ``record["raw"]``, see :func:`yici.registry.linkage.predict_person_pairs`); ``id_valid`` is
    only ever a valid one.
``id_bd``
    birth date (``YYYY-MM-DD``) encoded in the ID as given.
``birth_date``, ``birth_year``, ``age_year``
    the record's birth date, else the birth date of a trusted valid ID; its year; for a record
    with an age but no birth date, the year it was observed minus the age.
``gender``
    the record's gender, else the sex of a trusted valid ID.
``phone``, ``household_no``
    as given.
``village``, ``addr_group``, ``addr_no``, ``addr``
    village key (``樟树村``/``樟树`` → ``樟树``), village group and house number parsed from the
    address (``梅岭镇樟树村3组27号``, ``樟树村3-27`` → ``樟树``, ``3``, ``27``), and a comparable
    address key (``樟树|3|27``, else the address after the township).
"""

from __future__ import annotations

import datetime
import functools
import hashlib
import re
from collections.abc import Iterable, Sequence

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
from pypinyin import lazy_pinyin

try:  # the registry's normaliser; a minimal local form when it is not there
    from yici.registry.normalize import normalize_address
except ImportError:  # pragma: no cover - depends on the checkout
    _GROUP = re.compile(r"第?([0-9]+)(?:村民小组|村民组|小组|组)")

    def normalize_address(text: str) -> str:
        text = "".join(text.split()).translate({cp: cp - 0xFEE0 for cp in range(0xFF01, 0xFF5F)})
        return _GROUP.sub(lambda m: f"{int(m.group(1))}组", text)


NAME = "person.name"
ID_NUMBER = "person.id_number"
BIRTH_DATE = "person.birth_date"
GENDER = "person.gender"
PHONE = "person.phone"
CURRENT_ADDRESS = "person.current_address"
REGISTERED_ADDRESS = "person.registered_address"
VILLAGE = "person.village"
HOUSEHOLD_NO = "person.household_no"
AGE = "person.age"

ALL_FIELDS = (NAME, ID_NUMBER, BIRTH_DATE, GENDER, PHONE, CURRENT_ADDRESS, REGISTERED_ADDRESS, VILLAGE,
              HOUSEHOLD_NO, AGE)
# What an incremental run reads of every record to find the candidates of the new ones (and the
# village, only of the records sharing a name's pinyin with a new one).
KEY_FIELDS = (NAME, ID_NUMBER, BIRTH_DATE, PHONE)
_COLUMN = {code: code.partition(".")[2] for code in ALL_FIELDS}

# Characters left out of a name's pinyin (the middle dot of minority names, stray spaces).
_SKIP = frozenset("·. \u3000")


@functools.lru_cache(maxsize=50_000)
def char_pinyin(char: str) -> str | None:
    """The toneless pinyin of a Han character (its most common reading); other characters lower-
    cased; ``None`` for characters that are left out."""
    if char in _SKIP:
        return None
    if "\u3400" <= char <= "\u9fff" or "\uf900" <= char <= "\ufaff" or "\U00020000" <= char <= "\U0002ebef":
        return lazy_pinyin(char)[0]
    return char.lower()


def name_pinyin(name: str) -> tuple[str, str, str]:
    """(pinyin, initials, surname pinyin) of a name, as the feature table computes them."""
    syllables = [s for s in map(char_pinyin, "".join(name.split())) if s]
    if not syllables:
        return "", "", ""
    return " ".join(syllables), "".join(s[0] for s in syllables), syllables[0]


# ------------------------------------------------------------------------------- records → Arrow
# Original texts read where a value is missing: a rejected ID (``record["rejected"]``, or the
# source record's ``raw`` cell), an age that normalisation did not keep, and an address that is a
# clue but not a claim (a house row's address on its owner's record: 农村自建房 owners mostly live
# there, but the registry must not take it as their current address).
_RAW_FIELDS = (ID_NUMBER, AGE, CURRENT_ADDRESS)


def _struct(fields: Sequence[str]) -> pa.DataType:
    raw = pa.struct([(f, pa.string()) for f in _RAW_FIELDS])
    return pa.struct([
        ("id", pa.int64()),
        ("values", pa.struct([(f, pa.string()) for f in fields])),
        ("rejected", pa.struct([(ID_NUMBER, pa.string())])),
        ("raw", raw),
    ])


def _text(value) -> str | None:
    return None if value is None or value == "" else str(value)


def _coerced(record: dict, fields: Sequence[str]) -> dict:
    values = record.get("values") or {}
    rejected = record.get("rejected") or {}
    raw = record.get("raw") or {}
    return {
        "id": int(record["id"]),
        "values": {f: _text(values.get(f)) for f in fields},
        "rejected": {ID_NUMBER: _text(rejected.get(ID_NUMBER))},
        "raw": {f: _text(raw.get(f)) for f in _RAW_FIELDS},
    }


def records_table(records: Sequence[dict], fields: Sequence[str] = ALL_FIELDS) -> pa.Table:
    """``unique_id``, ``pos`` (index in ``records``), one string column per element, ``rejected_id``
    and ``observed_year`` (only where an age is given)."""
    struct = _struct(fields)
    try:
        array = pa.array(records, type=struct)
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # a value that is not a string
        array = pa.array([_coerced(r, fields) for r in records], type=struct)
    values, raw = array.field("values"), array.field("raw")
    columns = {"unique_id": array.field("id"), "pos": pa.array(range(len(records)), pa.int64())}
    for code in ALL_FIELDS:
        columns[_COLUMN[code]] = values.field(code) if code in fields else pa.nulls(len(records), pa.string())
    if CURRENT_ADDRESS in fields:
        columns[_COLUMN[CURRENT_ADDRESS]] = pc.coalesce(values.field(CURRENT_ADDRESS), raw.field(CURRENT_ADDRESS))
    # Only read where person.id_number is missing from the values.
    columns["rejected_id"] = pc.coalesce(array.field("rejected").field(ID_NUMBER), raw.field(ID_NUMBER))
    observed = [None] * len(records)
    if AGE in fields:
        ages = pc.coalesce(values.field(AGE), raw.field(AGE))
        columns["age"] = ages
        this_year = datetime.date.today().year
        for i in pc.indices_nonzero(ages.is_valid()).to_pylist():
            observed[i] = _year(records[i].get("observed_at")) or this_year
    columns["observed_year"] = pa.array(observed, pa.int32())
    return pa.table(columns)


def _year(value) -> int | None:
    if value is None:
        return None
    year = getattr(value, "year", None)
    if year is not None:
        return int(year)
    text = str(value)
    return int(text[:4]) if text[:4].isdigit() else None


# ----------------------------------------------------------------------------------------- SQL
# Addresses not in the registry's form (spaces, full-width digits, 第3村民小组, 三组) go through
# normalize_address; registry values never match, so this costs one scan.
_UNNORMALISED_ADDRESS = r"[\s\x{3000}\x{FF10}-\x{FF19}]|第|小组|[零〇一二两三四五六七八九十]+组"
_SPACES_OUT = "replace(replace({0}, ' ', ''), chr(12288), '')"
_ADDRESS = "coalesce(a.normalised, coalesce(nullif(r.current_address, ''), r.registered_address))"
# The village key: the village column without its suffix, else the part of the address before the
# village group, after the township (``梅岭镇樟树村3组27号``, ``樟树村3-27`` → ``樟树``).
_VILLAGE_MACRO = (
    "create or replace temp macro __village(v, a) as "
    "coalesce(nullif(regexp_replace(v, '(村民委员会|村委会|居民委员会|居委会|社区|村)$', ''), ''), "
    "nullif(regexp_extract(a, '(?:^|镇|乡|街道|办事处)([^0-9镇乡]*?)(?:村民委员会|村委会|社区|村)?[0-9]+(?:组|-)', 1), ''))"
)

_BASE_SQL = f"""
create or replace temp table __base as
with r as (
    select
        r.unique_id,
        r.pos,
        nullif({_SPACES_OUT.format("r.name")}, '') as name,
        nullif(r.id_number, '') as id_valid_raw,
        case when nullif(r.id_number, '') is null then nullif(regexp_replace(
            upper(translate(r.rejected_id, '０１２３４５６７８９ｘＸ', '0123456789XX')),
            '[\\s\\x{{3000}}''-]', '', 'g'), '') end as id_rejected_raw,
        nullif(r.birth_date, '') as bd,
        nullif(r.gender, '') as gender_raw,
        nullif(r.phone, '') as phone,
        nullif(r.household_no, '') as household_no,
        r.observed_year - try_cast(nullif(regexp_extract(r.age, '^\\s*([0-9]{{1,3}})\\s*(岁|周岁)?\\s*$', 1), '')
                                   as integer) as age_year,
        __village(r.village, {_ADDRESS}) as village,
        nullif(regexp_replace({_ADDRESS}, '^.*(镇|乡|街道|办事处)', ''), '') as addr_tail
    from __records r
    left join __address_fix a on a.address = coalesce(nullif(r.current_address, ''), r.registered_address)
), i as (
    select
        * exclude (id_valid_raw, id_rejected_raw),
        coalesce(id_valid_raw,
                 case when regexp_full_match(id_rejected_raw, '[0-9]{{17}}[0-9X]') then id_rejected_raw end) as id_raw,
        id_valid_raw is null as id_rejected
    from r
)
select
    i.*,
    p.name_py, p.name_init, p.surname_py,
    case when regexp_full_match(substr(id_raw, 7, 8), '[0-9]{{8}}')
         then substr(id_raw, 7, 4) || '-' || substr(id_raw, 11, 2) || '-' || substr(id_raw, 13, 2) end as id_bd,
    case when regexp_full_match(substr(id_raw, 17, 1), '[0-9]')
         then case when cast(substr(id_raw, 17, 1) as integer) % 2 = 1 then '男' else '女' end end as id_sex
from i left join __name_py p on p.name = i.name
"""

# How many people bear each name: distinct valid IDs, or distinct birth dates if more (from the
# record's column or its valid ID). Counted over every record, before any ID-trust decision, so a
# full and an incremental run agree.
_NAME_N_SQL = """
create or replace temp table __name_n as
select name, greatest(count(distinct case when not id_rejected then id_raw end),
                      count(distinct coalesce(bd, case when not id_rejected then id_bd end))) as name_n
from {table} where name is not null {where} group by name
"""

# Names count as "the same" for the ID-trust check when equal, homophones, or one character apart
# in names of three or more characters (as model.NAMES_SIMILAR).
_SIMILAR_NAMES = """(
    {a}.name = {b}.name or {a}.name_py = {b}.name_py
    or (length({a}.name) = length({b}.name) and length({a}.name) >= 3
        and damerau_levenshtein({a}.name, {b}.name) <= 1)
)"""

_PERSONS_SQL = f"""
create or replace temp table persons as
with b as (
    select
        *,
        nullif(regexp_extract(addr_tail, '([0-9]+)(组|-)', 1), '') as addr_group,
        nullif(regexp_extract(addr_tail, '(组|-)([0-9]+)', 2), '') as addr_no,
        -- The ID's birth date and sex must agree with what the record itself says.
        (id_raw is not null
            and (bd is null or length(bd) < 10 or bd = id_bd)
            and (bd is null or length(bd) >= 10 or starts_with(id_bd, bd))
            and (gender_raw is null or id_sex is null or gender_raw = id_sex)) as id_self_ok
    from __base
), claimed as (
    -- Valid IDs whose birth date a record confirms with its own birth date column.
    select id_raw, name, name_py from b
    where id_self_ok and not id_rejected and bd is not null and length(bd) >= 10
), borrowed as (
    -- Records carrying an ID that a record under a clearly different name confirms, while no
    -- record under a similar name does.
    select distinct b.unique_id from b join claimed c on b.id_raw = c.id_raw
    where not {_SIMILAR_NAMES.format(a="b", b="c")}
      and not exists (
          select 1 from claimed c2 where c2.id_raw = b.id_raw and {_SIMILAR_NAMES.format(a="b", b="c2")}
      )
), t as (
    select
        b.*,
        case when b.id_self_ok and o.unique_id is null then b.id_raw end as id_number,
        case when b.id_self_ok and o.unique_id is null and not b.id_rejected then b.id_raw end as id_valid
    from b left join borrowed o on o.unique_id = b.unique_id
), d as (
    select
        *,
        coalesce(bd, case when id_valid is not null then id_bd end) as birth_date,
        coalesce(gender_raw, case when id_valid is not null then id_sex end) as gender
    from t
)
select
    d.unique_id,
    d.unique_id in (select unique_id from __new) as is_new,
    d.name, d.name_py, d.name_init, d.surname_py,
    coalesce(n.name_n, 0) as name_n,
    d.id_number,
    d.id_valid,
    d.id_bd,
    d.birth_date,
    try_cast(substr(d.birth_date, 1, 4) as integer) as birth_year,
    case when d.birth_date is null then d.age_year end as age_year,
    d.gender,
    d.phone,
    d.household_no,
    d.village,
    d.addr_group,
    d.addr_no,
    case when d.addr_group is not null and d.addr_no is not null
         then coalesce(d.village, '') || '|' || d.addr_group || '|' || d.addr_no
         else d.addr_tail end as addr
from d
left join __name_n n on n.name = d.name
"""

# The few columns an incremental run computes for every record, to find the candidates.
_KEYS_SQL = f"""
create or replace temp table __keys as
with r as (
    select
        r.unique_id,
        r.pos,
        nullif({_SPACES_OUT.format("r.name")}, '') as name,
        nullif(r.id_number, '') as id_valid_raw,
        case when nullif(r.id_number, '') is null then nullif(regexp_replace(
            upper(translate(r.rejected_id, '０１２３４５６７８９ｘＸ', '0123456789XX')),
            '[\\s\\x{{3000}}''-]', '', 'g'), '') end as id_rejected_raw,
        nullif(r.birth_date, '') as bd,
        nullif(r.phone, '') as phone
    from __records r
), i as (
    select
        * exclude (id_valid_raw, id_rejected_raw),
        coalesce(id_valid_raw,
                 case when regexp_full_match(id_rejected_raw, '[0-9]{{17}}[0-9X]') then id_rejected_raw end) as id_raw,
        id_valid_raw is null as id_rejected
    from r
)
select
    i.*,
    p.name_py, p.surname_py,
    case when not id_rejected or regexp_full_match(substr(id_raw, 7, 8), '[0-9]{{8}}')
         then substr(id_raw, 7, 4) || '-' || substr(id_raw, 11, 2) || '-' || substr(id_raw, 13, 2) end as id_bd,
    coalesce(substr(bd, 1, 4), substr(id_raw, 7, 4)) as year
from i left join __name_py p on p.name = i.name
"""

# Existing records that may pair with a new one: they share a value of some blocking rule of
# model.blocking_rules (birth dates and years from the column or from the ID as given: a superset
# of the trusted ones), plus the records sharing an ID with those,
# which the ID-trust check needs.
_CANDIDATES_SQL = """
create or replace temp table __n as select * from __keys semi join __new using (unique_id);
-- Row values: a NULL inside one would compare equal to another NULL, so none may have one.
create or replace temp table __n_dates as
    select surname_py, bd as d from __n where surname_py is not null and bd is not null
    union select surname_py, id_bd from __n where surname_py is not null and id_bd is not null;
create or replace temp table __n_village as
    select distinct k.name_py, v.village from __n k join __vill v using (pos)
    where k.name_py is not null and v.village is not null;
create or replace temp table __hop1 as
select unique_id from __keys b
where id_raw in (select id_raw from __n)
   or substr(id_raw, 11, 8) in (select substr(id_raw, 11, 8) from __n)
   or phone in (select phone from __n)
   or (name_py, year) in (select (name_py, year) from __n where name_py is not null and year is not null)
   or (surname_py, bd) in (select (surname_py, d) from __n_dates)
   or (surname_py, id_bd) in (select (surname_py, d) from __n_dates)
   or unique_id in (select unique_id from __new)
union
select k.unique_id from __keys k join __vill v using (pos)
semi join __n_village n on k.name_py = n.name_py and v.village = n.village;
create or replace temp table __pos as
select pos from __keys
where unique_id in (select unique_id from __hop1)
   or id_raw in (select id_raw from __keys semi join __hop1 using (unique_id) where id_raw is not null)
"""

# Villages are needed only where a record shares a name's pinyin with a new one: reading the
# addresses of every record would cost more than all the rest.
_VILLAGE_POSITIONS_SQL = """
select pos from __keys where name_py in (select name_py from __keys semi join __new using (unique_id)) order by pos
"""


# The same candidate keys as strings, one row per key, for callers that index them (see
# blocking_keys): two records can pair only if they share one.
_KEY_ROWS_SQL = """
with k as (select * from __keys left join __vill using (pos))
select unique_id, 'i' || id_raw as key from k where id_raw is not null
union all select unique_id, 'm' || substr(id_raw, 11, 8) from k where id_raw is not null
union all select unique_id, 't' || phone from k where phone is not null
union all select unique_id, 'y' || name_py || '|' || year from k where name_py is not null and year is not null
union all select unique_id, 'v' || name_py || '|' || village from k where name_py is not null and village is not null
union all select unique_id, 'b' || surname_py || '|' || bd from k where surname_py is not null and bd is not null
union all select unique_id, 'b' || surname_py || '|' || id_bd from k where surname_py is not null and id_bd is not null
order by unique_id, key
"""


def _load(con: duckdb.DuckDBPyConnection, table: pa.Table, *, keys_only: bool = False) -> None:
    # Read in place from Arrow: a copy into DuckDB would cost more than the scans below.
    con.register("__records", table)
    # Pinyin: per distinct character in Python (cached), per distinct name in SQL.
    con.execute(
        f"create or replace temp table __names as select distinct nullif({_SPACES_OUT.format('name')}, '') as name "
        "from __records where name is not null"
    )
    chars = con.execute("select distinct unnest(string_split(name, '')) from __names where name is not null").fetchall()
    mapping = [(c, char_pinyin(c)) for (c,) in chars if c]
    con.register("__char_py_arrow", pa.table({"c": pa.array([c for c, _ in mapping], pa.string()),
                                              "py": pa.array([p for _, p in mapping], pa.string())}))
    con.execute("set variable __pinyin = (select map(list(c), list(py)) from __char_py_arrow)")
    con.unregister("__char_py_arrow")
    con.execute("""
        create or replace temp table __name_py as
        with l as (
            select name, list_filter(list_transform(string_split(name, ''), lambda c: getvariable('__pinyin')[c]),
                                     lambda x: x is not null) as syllables
            from __names where name is not null
        )
        select name,
            nullif(array_to_string(syllables, ' '), '') as name_py,
            nullif(array_to_string(list_transform(syllables, lambda x: left(x, 1)), ''), '') as name_init,
            syllables[1] as surname_py
        from l
    """)
    con.execute(_VILLAGE_MACRO)
    if keys_only:
        con.execute(_KEYS_SQL)
    else:
        _address_fix(con)
        con.execute(_BASE_SQL)
    con.unregister("__records")


def _address_fix(con: duckdb.DuckDBPyConnection) -> None:
    """``__address_fix``: the addresses of ``__records`` not yet in registry form, normalised."""
    raw = con.execute(
        "select distinct coalesce(nullif(current_address, ''), registered_address) as a from __records "
        f"where regexp_matches(coalesce(nullif(current_address, ''), registered_address), '{_UNNORMALISED_ADDRESS}')"
    ).fetchall()
    fixes = [(a, normalize_address(a)) for (a,) in raw]
    con.register("__address_fix_arrow", pa.table({"address": pa.array([a for a, _ in fixes], pa.string()),
                                                  "normalised": pa.array([b for _, b in fixes], pa.string())}))
    con.execute("create or replace temp table __address_fix as select * from __address_fix_arrow")
    con.unregister("__address_fix_arrow")


def _take(records: Sequence[dict] | pa.Table, positions: list[int], fields: Sequence[str] = ALL_FIELDS) -> pa.Table:
    """``records_table`` of the records at ``positions`` (``pos`` numbered from 0 again)."""
    if isinstance(records, pa.Table):
        table = records.take(pa.array(positions, pa.int64()))
        return table.set_column(table.schema.get_field_index("pos"), "pos", pa.array(range(len(positions)), pa.int64()))
    return records_table([records[p] for p in positions], fields)


def as_records_table(records: Sequence[dict] | pa.Table, fields: Sequence[str] = ALL_FIELDS) -> pa.Table:
    """``records_table(records)``, unless ``records`` already is one."""
    return records if isinstance(records, pa.Table) else records_table(records, fields)


def _villages(con: duckdb.DuckDBPyConnection, records: Sequence[dict] | pa.Table, positions: list[int]) -> None:
    """``__vill(pos, village)`` for the records at ``positions``."""
    table = _take(records, positions, (VILLAGE, CURRENT_ADDRESS, REGISTERED_ADDRESS))
    table = table.set_column(table.schema.get_field_index("pos"), "pos", pa.array(positions, pa.int64()))
    con.register("__records", table)
    _address_fix(con)
    con.execute(_VILLAGE_MACRO)
    con.execute(f"create or replace temp table __vill as select r.pos, __village(r.village, {_ADDRESS}) as village "
                "from __records r left join __address_fix a "
                "on a.address = coalesce(nullif(r.current_address, ''), r.registered_address)")
    con.unregister("__records")


def prepare(con: duckdb.DuckDBPyConnection, records: Sequence[dict] | pa.Table, new_ids: Iterable[int] | None = None,
            name_counts: dict[str, int] | None = None) -> int:
    """Create the feature table ``persons`` in ``con``; returns its number of rows.

    ``records`` are record dicts, or the :func:`records_table` of them.

    Without ``new_ids`` it holds every record. With ``new_ids`` it holds the new records and the
    existing records that may pair with them (``is_new`` tells which are which). ``name_counts``
    (name → namesakes, see :func:`candidates_from_keys`) replaces the namesake count of an
    incremental run, for callers that pass the new records and exactly the candidates found
    there rather than every record: the candidates are then not looked for again.
    """
    if new_ids is None:
        con.execute("create or replace temp table __new (unique_id bigint)")
        _load(con, as_records_table(records))
        con.execute(_NAME_N_SQL.format(table="__base", where=""))
    else:
        con.register("__new_arrow", pa.table({"unique_id": pa.array(sorted(set(new_ids)), pa.int64())}))
        con.execute("create or replace temp table __new as select * from __new_arrow")
        con.unregister("__new_arrow")
        if name_counts is None:
            _load(con, as_records_table(records, KEY_FIELDS), keys_only=True)
            _villages(con, records, [p for (p,) in con.execute(_VILLAGE_POSITIONS_SQL).fetchall()])
            for statement in _CANDIDATES_SQL.split(";"):
                con.execute(statement)
            positions = [p for (p,) in con.execute("select pos from __pos order by pos").fetchall()]
            con.execute(_NAME_N_SQL.format(
                table="__keys", where="and name in (select name from __keys semi join __pos using (pos))"))
            records = _take(records, positions)
        else:
            # The records are the new ones and the candidates that candidates_from_keys found by
            # the same query over every record: run here over them, it would pick them all again.
            names = sorted(name_counts)
            con.register("__name_n_arrow", pa.table({"name": pa.array(names, pa.string()),
                                                     "name_n": pa.array([name_counts[n] for n in names], pa.int64())}))
            con.execute("create or replace temp table __name_n as select * from __name_n_arrow")
            con.unregister("__name_n_arrow")
            records = as_records_table(records)
        _load(con, records)
    con.execute(_PERSONS_SQL)
    for table in ("__base", "__keys", "__pos", "__names", "__name_py", "__address_fix", "__name_n", "__n",
                  "__n_village", "__n_dates", "__hop1", "__vill"):
        con.execute(f"drop table if exists {table}")
    return con.execute("select count(*) from persons").fetchall()[0][0]


def blocking_keys(records: Sequence[dict]) -> list[tuple[int, str]]:
    """``(record id, key)`` for every candidate key of every record, sorted.

    Two records can only be scored as a pair if they share a key, so a registry can store these
    keys in an indexed table when records are imported and find the candidates of new records
    without reading all the others:

    1. the records sharing a key with a new record;
    2. the records sharing an ``i…`` (ID) key with those: whether an ID can be trusted depends on
       who else carries it;
    3. :func:`yici.registry.linkage.predict_person_pairs` on the new records and these, with
       ``new_ids``.

    One difference from passing every record: the namesake count (``name_n``) then only sees the
    namesakes among the candidates, that is those born the same year or living in the same village.
    Keys change when the model's blocking rules do; store them with the model version.
    """
    con = duckdb.connect(":memory:")
    try:
        _load(con, records_table(records, KEY_FIELDS), keys_only=True)
        _villages(con, records, list(range(len(records))))
        return [(int(rid), key) for rid, key in con.execute(_KEY_ROWS_SQL).fetchall()]
    finally:
        con.close()


# ------------------------------------------------------------------------------- key tables
# The columns of a key table (:func:`key_tables`): what an incremental run compares of every
# existing record to find the candidates of new ones. A registry keeps them for its records
# (``yici.registry.keycache``) so that an incremental run reads only the new records and their
# candidates instead of every record.
KEY_TABLE_COLUMNS = ("unique_id", "name", "bd", "phone", "id_raw", "id_rejected", "name_py", "surname_py", "id_bd",
                     "year", "village")
# Changes whenever what the key table holds or how candidates are found changes: a key table
# written by another version is rebuilt.
KEY_TABLE_VERSION = hashlib.sha256("|".join(
    (_KEYS_SQL, _CANDIDATES_SQL, _NAME_N_SQL, _VILLAGE_MACRO, *ALL_FIELDS, *_RAW_FIELDS)).encode()).hexdigest()[:16]


def key_tables(records: Sequence[dict]) -> tuple[pa.Table, pa.Table]:
    """The linkage inputs (:func:`records_table`, without ``pos``) and the key-table rows
    (:data:`KEY_TABLE_COLUMNS`) of ``records``, both in the order of ``records``."""
    full = records_table(records)
    con = duckdb.connect(":memory:")
    try:
        _load(con, full, keys_only=True)
        _villages(con, full, list(range(len(records))))
        columns = ", ".join(f"k.{c}" for c in KEY_TABLE_COLUMNS if c != "village")
        keys = con.sql(f"select {columns}, v.village from __keys k left join __vill v using (pos) "
                       "order by k.pos").to_arrow_table()
    finally:
        con.close()
    return full.drop_columns(["pos"]), keys


def candidates_from_keys(con: duckdb.DuckDBPyConnection, existing: str, new: pa.Table) -> tuple[list[int], dict[str, int]]:
    """Existing records that may pair with the ``new`` ones (a key table), and the namesake
    counts of the names involved, from ``existing``: a table or view of every existing record's
    key-table rows.

    The candidates are those :func:`prepare` would pick from every record (the records sharing a
    candidate key with a new record, and the records sharing an ID with those); the counts are
    over every record, as there. Pass both on to ``predict_person_pairs`` with only the new
    records and these candidates.
    """
    con.register("__new_keys", new)
    con.execute("create or replace temp table __new as select unique_id from __new_keys")
    con.execute("create or replace temp table __new_key_rows as select * from __new_keys")
    con.unregister("__new_keys")
    # Views, not copies: a county's key table has a million rows, which copying took longer
    # than every query below over them.
    con.execute(
        "create or replace temp view __all_keys as "
        f"select * from {existing} anti join __new using (unique_id) union all by name select * from __new_key_rows"
    )
    columns = ", ".join(c for c in KEY_TABLE_COLUMNS if c != "village")
    con.execute(f"create or replace temp view __keys as select {columns}, unique_id as pos from __all_keys")
    con.execute("create or replace temp view __vill as select unique_id as pos, village from __all_keys "
                "where village is not null")
    for statement in _CANDIDATES_SQL.split(";"):
        con.execute(statement)
    ids = [int(p) for (p,) in con.execute("select pos from __pos anti join __new on __new.unique_id = __pos.pos "
                                          "order by pos").fetchall()]
    con.execute(_NAME_N_SQL.format(
        table="__keys", where="and name in (select name from __keys semi join __pos using (pos))"))
    counts = {name: int(n) for name, n in con.execute("select name, name_n from __name_n").fetchall()}
    for view in ("__vill", "__keys", "__all_keys"):
        con.execute(f"drop view if exists {view}")
    for table in ("__new_key_rows", "__new", "__n", "__n_village", "__n_dates", "__hop1", "__pos", "__name_n"):
        con.execute(f"drop table if exists {table}")
    return ids, counts
