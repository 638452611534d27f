"""What the source database can do, and the current shape of a declared table (read from its catalog)."""

from __future__ import annotations

from dataclasses import dataclass

import psycopg

from onramp import db
from onramp.cdc.config import TableConfig
from onramp.cdc.errors import SourceError
from onramp.cdc.pgtypes import Column


@dataclass(frozen=True)
class SourceInfo:
    """The source server's capabilities that decide between log-based and xmin-window capture."""

    wal_level: str
    server_version: int
    encoding: str
    can_replicate: bool
    max_replication_slots: int
    slots_in_use: int

    def logical_problem(self) -> str | None:
        """Why log-based CDC is impossible here (None when it is possible)."""
        if self.wal_level != "logical":
            return (f"the source server runs with wal_level={self.wal_level}; log-based CDC needs wal_level=logical "
                    "(set it in postgresql.conf and restart the server)")
        if not self.can_replicate:
            return "the source login lacks the REPLICATION attribute (ALTER ROLE ... REPLICATION)"
        if self.server_version < 140000:
            return f"the source server is PostgreSQL {self.server_version // 10000}; log-based CDC needs 14 or newer"
        return None


def source_info(conn: psycopg.Connection) -> SourceInfo:
    return SourceInfo(*conn.execute(db.sql("cdc", "source_info")).fetchone())


@dataclass(frozen=True)
class TableShape:
    relid: int
    columns: list[Column]
    replica_identity: str  # d default (primary key), f full, i index, n nothing
    estimated_rows: int
    pages: int
    with_default: frozenset[str] = frozenset()  # columns with a default: rows that predate them never changed


def table_shape(conn: psycopg.Connection, table: TableConfig, for_log: bool) -> TableShape:
    """The declared table's replicated columns, validated against its keys; errors say how to fix the source."""
    row = conn.execute(db.sql("cdc", "source_table"), {"schema": table.schema, "name": table.name}).fetchone()
    if row is None:
        raise SourceError(f"{table.id}: table {table.qualified} does not exist in the source database; "
                          "create it or remove it from the CDC sources file")
    relid, replident, relkind, estimated_rows, pages = row
    if relkind not in ("r", "p"):
        raise SourceError(f"{table.id}: {table.qualified} is not a table (relkind {relkind!r}); only tables can be replicated")
    all_columns = []
    pk = set(table.primary_key)
    for name, type_oid, typmod, source_type, resolved, builtin in conn.execute(db.sql("cdc", "source_columns"), {"relid": relid}):
        all_columns.append(Column(name=name, type_oid=type_oid, typmod=typmod, source_type=source_type,
                                  warehouse_type=resolved if builtin else "text", builtin=bool(builtin),
                                  is_key=name in pk))
    names = {c.name for c in all_columns}
    missing = [c for c in table.primary_key if c not in names]
    if missing:
        raise SourceError(f"{table.id}: primary_key column(s) {missing} do not exist in {table.qualified}; "
                          f"its columns are {sorted(names)}")
    filtered = [c for c in (table.columns or ()) + table.exclude_columns if c not in names]
    if filtered:
        raise SourceError(f"{table.id}: column filter names unknown column(s) {filtered}; its columns are {sorted(names)}")
    keys = conn.execute(db.sql("cdc", "source_keys"), {"relid": relid}).fetchall()
    unique_sets = [tuple(cols) for _, _, _, cols in keys]
    if set(table.primary_key) not in [set(u) for u in unique_sets]:
        raise SourceError(
            f"{table.id}: declared primary_key {list(table.primary_key)} is not a primary key or unique index of "
            f"{table.qualified} (unique keys: {[list(u) for u in unique_sets] or 'none'}); declare the real key"
        )
    if for_log:
        identity = None
        if replident == "d":
            identity = next((cols for primary, _, _, cols in keys if primary), None)
        elif replident == "i":
            identity = next((cols for _, replica, _, cols in keys if replica), None)
        if replident == "n" or (replident in ("d", "i") and identity is None):
            raise SourceError(
                f"{table.id}: {table.qualified} has no replica identity, so deletes and updates cannot be replicated; "
                f"run ALTER TABLE {table.qualified} REPLICA IDENTITY USING INDEX <unique index> (or FULL)"
            )
        if replident in ("d", "i") and set(identity) != pk:
            raise SourceError(
                f"{table.id}: the source logs deletes by {list(identity)} but primary_key is declared as "
                f"{list(table.primary_key)}; declare primary_key: {list(identity)} or set REPLICA IDENTITY FULL"
            )
    with_default = {name for (name,) in conn.execute(db.sql("cdc", "source_columns_with_default"), {"relid": relid})}
    return TableShape(relid, [c for c in all_columns if table.keeps(c.name)], replident, estimated_rows, pages,
                      frozenset(with_default))


def describe_columns(conn: psycopg.Connection, items: list[tuple[str, int, int, bool]]) -> list[Column]:
    """Columns as a Relation message announces them (name, type oid, typmod, is key), typed like :func:`table_shape`."""
    if not items:
        return []
    names, oids, typmods, keys = (list(x) for x in zip(*items, strict=True))
    rows = conn.execute(db.sql("cdc", "describe_columns"), {"names": names, "oids": oids, "typmods": typmods, "keys": keys}).fetchall()
    return [Column(name=name, type_oid=oid, typmod=typmod, source_type=source_type,
                   warehouse_type=resolved if builtin else "text", builtin=bool(builtin), is_key=bool(is_key))
            for name, oid, typmod, source_type, resolved, builtin, is_key in rows]


def connect(url: str, **kwargs) -> psycopg.Connection:
    """A psycopg connection to a CDC source (UTC, ISO dates: :mod:`onramp.db`'s session settings)."""
    return db.connect(url, "cdc", **kwargs)
