"""Writes of many rows in one statement, where Django's ``bulk_update`` costs more than the
database does: it builds a CASE of one WHEN per row for each field, and resolving those
expressions took most of a 20-job dispatch batch's CPU."""

from django.db import connection
from django.db.models import Model


def update_each(
    model: type[Model],
    values: dict[int, dict[str, object]],
    *,
    same: dict[str, object] | None = None,
    where: dict[str, object] | None = None,
) -> list[int]:
    """Give each row (primary key -> {field: value}, the same fields for every row) its values, and
    every one of them ``same``'s, where the row still matches ``where`` (fields equal to values):
    one statement (PostgreSQL and SQLite alike). Returns the keys of the rows it updated."""
    if not values:
        return []
    same, where = same or {}, where or {}
    meta = model._meta
    table, pk = connection.ops.quote_name(meta.db_table), connection.ops.quote_name(meta.pk.column)
    names = list(next(iter(values.values())))
    fields = [meta.get_field(name) for name in names]

    def prep(name: str, value: object) -> object:
        return meta.get_field(name).get_db_prep_save(value, connection)

    params: list[object] = []
    for key, row in values.items():
        if list(row) != names:
            raise ValueError("every row must give the same fields, in the same order")
        params += [key, *(field.get_db_prep_save(row[field.name], connection) for field in fields)]
    columns = ", ".join(["pk", *(f"v{i}" for i in range(len(fields)))])
    rows = ", ".join([f"({', '.join(['%s'] * (len(fields) + 1))})"] * len(values))
    # PostgreSQL types a VALUES column from its literals (text for a string, or for NULLs alone):
    # each is cast to its field's type. SQLite stores what it is given.
    cast = "CAST(v.v{i} AS {type})" if connection.vendor == "postgresql" else "v.v{i}"
    each = [
        f"{connection.ops.quote_name(field.column)} = "
        f"(SELECT {cast.format(i=i, type=field.cast_db_type(connection))} FROM v WHERE v.pk = {table}.{pk})"
        for i, field in enumerate(fields)
    ]
    all_rows = [f"{connection.ops.quote_name(meta.get_field(name).column)} = %s" for name in same]
    params += [prep(name, value) for name, value in same.items()]
    conditions = [f"{connection.ops.quote_name(meta.get_field(name).column)} = %s" for name in where]
    params += [prep(name, value) for name, value in where.items()]
    sql = (
        f"WITH v ({columns}) AS (VALUES {rows}) "
        f"UPDATE {table} SET {', '.join(each + all_rows)} "
        f"WHERE {' AND '.join([f'{pk} IN (SELECT pk FROM v)', *conditions])} "
        f"RETURNING {pk}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [row[0] for row in cursor.fetchall()]
