"""Warehouse side of CDC: tables, schema drift, snapshot chunks and change batches (all through ADBC).

* ``raw.<source>_<table>_changes``: every log change once, unique on ``(_lsn, _seq)`` (commit LSN and
  position in the transaction: one transaction may change a key twice); xmin-mode changes are
  unique on ``(_xid, key)``.
* ``staging.<table>``: current state. A batch is merged as "last change per key wins": deletes
  removed, inserts/updates upserted (``INSERT … ON CONFLICT``), TOASTed columns an update did not
  touch keep their value.
* A snapshot is built in ``cdc_work`` (bulk COPY, key index built once at the end) and published
  to staging in one transaction: renamed into place the first time, merged (delete missing keys,
  upsert changed rows) when staging already exists, so views on staging survive a resnapshot.

Every function here runs inside the caller's transaction; the caller commits. The statements are built in
:mod:`onramp.cdc.dynamic_sql` (or read from ``sql/cdc/``); this module decides which run, in what order.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import pyarrow as pa

from onramp import db
from onramp.cdc import dynamic_sql as q
from onramp.cdc.changes import change_schema
from onramp.cdc.config import TableConfig
from onramp.cdc.dynamic_sql import STAGED_AS
from onramp.cdc.lake import read_batches
from onramp.cdc.manifest import LakeFile
from onramp.cdc.pgtypes import Column, conform


def _execute(cur, statement: str, params: tuple | None = None) -> int:
    cur.execute(statement, params) if params else cur.execute(statement)
    return cur.rowcount


def table_exists(cur, schema: str, name: str) -> bool:
    cur.execute(db.sql("cdc", "warehouse_table_exists"), (q.regclass(schema, name),))
    return bool(cur.fetchone()[0])


def existing_columns(cur, schema: str, name: str) -> dict[str, str]:
    cur.execute(db.sql("cdc", "warehouse_columns"), (q.regclass(schema, name),))
    return dict(cur.fetchall())


def create_work_table(cur, table: TableConfig, columns: list[Column], with_key: bool) -> None:
    """A fresh table to build the snapshot in (key index now only when chunks may overlap)."""
    _execute(cur, q.drop_table(q.work(table), if_exists=True))
    _execute(cur, q.create_work_table(table, columns))
    if with_key:
        add_work_key(cur, table)


def add_work_key(cur, table: TableConfig) -> None:
    if not _has_primary_key(cur, "cdc_work", table.work_table):
        _execute(cur, q.add_work_key(table))


def _has_primary_key(cur, schema: str, name: str) -> bool:
    cur.execute(db.sql("cdc", "warehouse_has_primary_key"), (q.regclass(schema, name),))
    return cur.fetchone() is not None


def ensure_raw_table(cur, table: TableConfig, columns: list[Column]) -> None:
    if table_exists(cur, "raw", table.raw_table):
        return
    for statement in q.create_raw_table(table, columns):
        _execute(cur, statement)


def _match_columns(cur, schema: str, name: str, columns: list[Column], present: dict[str, str]) -> None:
    """Add the columns a warehouse table lacks, widen those whose type changed (in place, values kept)."""
    for column in columns:
        have = present.get(column.name)
        if have is None:
            _execute(cur, q.add_column(schema, name, column))
        elif have != column.warehouse_type:  # a widening (incompatible changes block the table before this)
            _execute(cur, q.retype_column(schema, name, column))


def sync_columns(cur, table: TableConfig, columns: list[Column], known: dict[str, dict]) -> list[dict]:
    """Bring staging and raw to the source's columns: add new ones, widen types; dropped ones stay, nullable.

    ``known`` is the column set recorded at the last load (name -> Column dict). Returns drift events.
    """
    targets = [("staging", table.target)] + ([("raw", table.raw_table)] if table_exists(cur, "raw", table.raw_table) else [])
    present = {schema: existing_columns(cur, schema, name) for schema, name in targets}
    for schema, name in targets:
        _match_columns(cur, schema, name, columns, present[schema])
    names = {c.name for c in columns}
    for name in known:
        if name not in names and name not in table.primary_key:
            for schema, target in targets:
                if name in present[schema]:
                    _execute(cur, q.drop_not_null(schema, target, name))
    return _drift_events(table, columns, known)


def _drift_events(table: TableConfig, columns: list[Column], known: dict[str, dict]) -> list[dict]:
    events = []
    for column in columns:
        old = known.get(column.name)
        if old is None and known:
            events.append({"column": column.name, "change": "added", "old_type": None, "new_type": column.source_type,
                           "action": f"added column to staging.{table.target} and {table.raw_table}"})
        elif old is not None and old.get("source_type") != column.source_type:
            events.append({"column": column.name, "change": "type_widened", "old_type": old.get("source_type"),
                           "new_type": column.source_type, "action": f"altered column type to {column.warehouse_type}"})
    names = {c.name for c in columns}
    events += [{"column": name, "change": "dropped", "old_type": old.get("source_type"), "new_type": None,
                "action": "kept in the warehouse, nullable; new rows get null"}
               for name, old in known.items() if name not in names]
    return events


# ----------------------------------------------------------------------------- bulk loading

def _file_batches(lake_dir: Path, files: list[LakeFile], schema: pa.Schema, rows: int) -> Iterator[pa.RecordBatch]:
    for f in files:
        for batch in read_batches(lake_dir, f.path, batch_rows=rows):
            yield conform(batch, schema)


def ingest_temp(cur, name: str, lake_dir: Path, files: list[LakeFile], schema: pa.Schema, batch_rows: int) -> None:
    """COPY the files into a temporary table ``name`` shaped like ``schema`` (ADBC, binary, streamed)."""
    _execute(cur, q.drop_table(name, if_exists=True))
    reader = pa.RecordBatchReader.from_batches(schema, _file_batches(lake_dir, files, schema, batch_rows))
    cur.adbc_ingest(name, reader, mode="create", temporary=True)


def set_snapshot_meta_defaults(cur, table: TableConfig, lsn: int | None, commit_unix_us: int | None) -> None:
    """Make the chunk's constant metadata the work table's column defaults (so COPY need not carry it per row)."""
    _execute(cur, q.set_snapshot_meta_defaults(table, lsn, commit_unix_us))


def load_chunk(cur, table: TableConfig, columns: list[Column], lake_dir: Path, files: list[LakeFile], *,
               upsert: bool, batch_rows: int, shared_meta: tuple[int | None, int] | None = None) -> int:
    """Load one snapshot chunk into the work table; returns rows loaded.

    ``shared_meta`` (LSN, commit time in unix µs): the metadata every row of the chunk shares (a snapshot
    read stamps all its rows alike, and no xid); given, the fast path sets it as column defaults instead of
    copying it row by row (a fifth of the COPY's columns).
    """
    import pyarrow.dataset as ds  # here, not at import: it loads pandas, which a run with nothing to load never needs

    data = [c.name for c in columns]
    schema = change_schema(columns)
    paths = [str(Path(lake_dir) / f.path) for f in files]
    if not upsert and all(c.loads_directly for c in columns) and all(
            ds.dataset(p, format="parquet").schema.equals(schema) for p in paths):
        # Fast path: COPY straight into the work table (no key index yet: one snapshot never repeats a key),
        # fed by a native Parquet scanner (decoding runs in Arrow's threads, not in Python).
        projection = {n: ds.field(n) for n in data}
        if shared_meta is not None:
            set_snapshot_meta_defaults(cur, table, *shared_meta)
        else:
            projection |= {STAGED_AS[m]: ds.field(m) for m in ("_lsn", "_xid", "_commit_ts")}
        scanner = ds.dataset(paths, format="parquet", schema=schema).scanner(columns=projection, batch_size=batch_rows)
        return cur.adbc_ingest(table.work_table, scanner.to_reader(), mode="append", db_schema_name="cdc_work")
    ingest_temp(cur, "_cdc_chunk", lake_dir, files, schema, batch_rows)
    loaded = _execute(cur, q.insert_chunk(table, columns, "_cdc_chunk", upsert=upsert))
    _execute(cur, q.drop_table("_cdc_chunk"))
    return loaded


def publish_snapshot(cur, table: TableConfig, columns: list[Column]) -> str:
    """Make the finished work table the staging table; returns 'created' or 'merged'."""
    _execute(cur, "set local maintenance_work_mem = '256MB'")  # the key index is built in one sort
    add_work_key(cur, table)
    if not table_exists(cur, "staging", table.target):
        _execute(cur, q.drop_snapshot_meta_defaults(table))
        for statement in q.publish_work_table(table):
            _execute(cur, statement)
        return "created"
    # Staging exists (resnapshot): keep the table (views depend on it) and merge the snapshot into it.
    _match_columns(cur, "staging", table.target, columns, existing_columns(cur, "staging", table.target))
    for statement in q.merge_work_table(table, columns):
        _execute(cur, statement)
    return "merged"


def rename_incompatible_raw_columns(cur, table: TableConfig, columns: list[Column], tag: str) -> list[dict]:
    """Resnapshot after an incompatible type change: keep the change log's old values in a renamed column."""
    if not table_exists(cur, "raw", table.raw_table):
        return []
    have = existing_columns(cur, "raw", table.raw_table)
    events = []
    for column in columns:
        if column.name in have and have[column.name] != column.warehouse_type:
            keep = f"{column.name}__{tag}"[:63]
            _execute(cur, q.rename_column("raw", table.raw_table, column.name, keep))
            _execute(cur, q.add_column("raw", table.raw_table, column))
            events.append({"column": column.name, "change": "type_incompatible", "old_type": have[column.name],
                           "new_type": column.source_type,
                           "action": f"resnapshot: raw kept old values in {keep}, staging column retyped"})
    return events


class BatchCounts(NamedTuple):
    raw_appended: int
    staging_deleted: int
    staging_upserted: int


def apply_changes(cur, table: TableConfig, columns: list[Column], lake_dir: Path, files: list[LakeFile],
                  batch_rows: int, batch_id: str, crash_point=None) -> BatchCounts:
    """Append the batch to the raw change log and merge it into staging; returns counts."""
    ingest_temp(cur, "_cdc_batch", lake_dir, files, change_schema(columns), batch_rows)
    appended = _execute(cur, q.append_to_raw(table, columns, "_cdc_batch"), (batch_id,))
    if crash_point:
        crash_point("mid_apply")
    # A truncate empties the table: only what came after the last one in the batch still matters.
    cur.execute(db.sql("cdc", "batch_last_truncate"))
    truncate = cur.fetchone()
    if truncate is not None:
        _execute(cur, q.empty_staging(table))
    _execute(cur, q.drop_table("_cdc_final", if_exists=True))
    after = (int(truncate[0]), int(truncate[1])) if truncate is not None else None
    _execute(cur, q.last_change_per_key(table, "_cdc_batch", "_cdc_final", after))
    _resolve_unchanged(cur, table, columns)
    deleted = _execute(cur, q.delete_from_staging(table, "_cdc_final"))
    upserted = _execute(cur, q.upsert_into_staging(table, columns, "_cdc_final"))
    _execute(cur, q.drop_table("_cdc_final"))
    _execute(cur, q.drop_table("_cdc_batch"))
    return BatchCounts(appended, deleted, upserted)


def _resolve_unchanged(cur, table: TableConfig, columns: list[Column]) -> None:
    """Fill TOASTed columns an update left untouched: from the key's previous change in the batch, else staging."""
    cur.execute(db.sql("cdc", "batch_unchanged_columns"))
    names = [r[0] for r in cur.fetchall() if r[0]]
    by_name = {c.name: c for c in columns}
    for name in names:
        if name in by_name:
            _execute(cur, q.fill_unchanged(table, by_name[name], "_cdc_batch", "_cdc_final"))
