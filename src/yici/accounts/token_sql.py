"""The statements of a token refresh, with their SQL built once per process from the models.

Django's SQL compiler costs 0.15–0.3 ms of CPU per statement on this two-core machine — as much as
the statement's own work, and 0.8 ms for the refresh token read with its three joins — and a
refresh is the one request a line system makes all day (the goal is ≥ 300 per second on two
cores, docs/benchmarks.md "One account"). These helpers build the SQL of the refresh's token read
and its four token writes once, from the models' own tables and columns. Writes bind every value
through its field's ``pre_save`` and ``get_db_prep_save``, the read converts every column with the
converters Django's compiler would apply and builds the objects with ``Model.from_db``: the
values are Django's own, on SQLite and PostgreSQL alike (tests compare them with the ORM's).

Nothing listens to the signals of django-oauth-toolkit's token models; should something start
to, ``insert`` falls back to ``Model.save()`` so that it is heard.
"""

from django.db import connections
from django.db.models.signals import post_save, pre_save
from oauth2_provider.models import get_access_token_model, get_refresh_token_model

_inserts: dict[tuple, tuple[list, str]] = {}


def insert(obj, *, using: str = "default") -> None:
    """``obj.save(force_insert=True)`` for a new row of a model with an auto-increment key."""
    model = type(obj)
    connection = connections[using]
    if (not connection.features.can_return_columns_from_insert or pre_save.has_listeners(model)
            or post_save.has_listeners(model)):
        obj.save(force_insert=True, using=using)
        return
    key = (model, connection.alias, connection.vendor)
    statement = _inserts.get(key)
    if statement is None:
        meta = model._meta
        fields = [f for f in meta.local_concrete_fields if f is not meta.auto_field and not f.generated]
        quote = connection.ops.quote_name
        sql = (f"INSERT INTO {quote(meta.db_table)} ({', '.join(quote(f.column) for f in fields)}) "
               f"VALUES ({', '.join(['%s'] * len(fields))}) RETURNING {quote(meta.auto_field.column)}")
        statement = _inserts[key] = (fields, sql)
    fields, sql = statement
    params = [field.get_db_prep_save(field.pre_save(obj, True), connection) for field in fields]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        obj.pk = cursor.fetchone()[0]
    obj._state.adding = False
    obj._state.db = using


def refresh_token_claim(refresh_token, *, now, using: str = "default") -> bool:
    """Mark a live refresh token revoked and unbind its access token; False if it was no longer live.

    One conditional ``UPDATE``: of two requests claiming the same token, exactly one changes the row.
    """
    model = type(refresh_token)
    connection = connections[using]
    quote = connection.ops.quote_name
    meta = model._meta
    revoked, updated, access_token = (meta.get_field(name) for name in ("revoked", "updated", "access_token"))
    sql = (f"UPDATE {quote(meta.db_table)} SET {quote(revoked.column)} = %s, {quote(updated.column)} = %s, "
           f"{quote(access_token.column)} = NULL WHERE {quote(meta.pk.column)} = %s AND {quote(revoked.column)} IS NULL")
    with connection.cursor() as cursor:
        cursor.execute(sql, [revoked.get_db_prep_save(now, connection), updated.get_db_prep_save(now, connection),
                             refresh_token.pk])
        return cursor.rowcount == 1


def delete(model, pk, *, using: str = "default") -> None:
    """Delete one row by its key, with no cascade: for rows nothing refers to any more."""
    connection = connections[using]
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {quote(model._meta.db_table)} WHERE {quote(model._meta.pk.column)} = %s", [pk])


_reads: dict[tuple, tuple[list, str]] = {}


def _refresh_token_read(connection) -> tuple[list, str]:
    """The columns (with their converters) and the SQL of ``refresh_tokens_by_checksum``, built once."""
    key = (connection.alias, connection.vendor)
    plan = _reads.get(key)
    if plan is not None:
        return plan
    refresh_token = get_refresh_token_model()
    user = refresh_token._meta.get_field("user").related_model
    models = [(refresh_token, "rt"), (get_access_token_model(), "at"), (user, "u"),
              (user._meta.get_field("area").related_model, "ar")]
    quote = connection.ops.quote_name
    parts, columns = [], []
    for model, alias in models:
        fields = list(model._meta.concrete_fields)
        converters = []
        for field in fields:
            col = field.get_col(alias)
            converters.append((col, connection.ops.get_db_converters(col) + col.get_db_converters(connection)))
            columns.append(f"{quote(alias)}.{quote(field.column)}")
        parts.append((model, fields, [f.attname for f in fields], fields.index(model._meta.pk), converters))

    def table(model, alias):
        return f"{quote(model._meta.db_table)} {quote(alias)}"

    def join(alias, model, fk_alias, fk_model, fk_name):
        return (f"{quote(alias)}.{quote(model._meta.pk.column)} = "
                f"{quote(fk_alias)}.{quote(fk_model._meta.get_field(fk_name).column)}")

    (rt, _), (at, _), (u, _), (ar, _) = models
    sql = (f"SELECT {', '.join(columns)} FROM {table(rt, 'rt')}"
           f" LEFT OUTER JOIN {table(at, 'at')} ON {join('at', at, 'rt', rt, 'access_token')}"
           f" INNER JOIN {table(u, 'u')} ON {join('u', u, 'rt', rt, 'user')}"
           f" LEFT OUTER JOIN {table(ar, 'ar')} ON {join('ar', ar, 'u', u, 'area')}"
           f" WHERE {quote('rt')}.{quote(rt._meta.get_field('token_checksum').column)} = %s")
    plan = _reads[key] = (parts, sql)
    return plan


def refresh_tokens_by_checksum(checksum: str, *, using: str = "default") -> list:
    """The refresh tokens with ``checksum``, each with its access token, its user and the user's area loaded.

    What ``RefreshToken.objects.filter(token_checksum=checksum).select_related("access_token",
    "user__area")`` returns, a quarter of the CPU.
    """
    connection = connections[using]
    parts, sql = _refresh_token_read(connection)
    with connection.cursor() as cursor:
        cursor.execute(sql, [checksum])
        rows = cursor.fetchall()
    tokens = []
    for row in rows:
        objects, start = [], 0
        for model, fields, attnames, pk_index, converters in parts:
            values = list(row[start:start + len(fields)])
            start += len(fields)
            if values[pk_index] is None:  # no row on the outer join's side
                objects.append(None)
                continue
            for index, (col, functions) in enumerate(converters):
                for convert in functions:
                    values[index] = convert(values[index], col, connection)
            objects.append(model.from_db(using, attnames, values))
        refresh_token, access_token, user, area = objects
        # As select_related does: the related objects are cached on their fields, ids untouched.
        user._meta.get_field("area").set_cached_value(user, area)
        refresh_token._meta.get_field("user").set_cached_value(refresh_token, user)
        refresh_token._meta.get_field("access_token").set_cached_value(refresh_token, access_token)
        tokens.append(refresh_token)
    return tokens
