"""The SQL of CDC whose text depends on a table: its names, its columns, its key. Built here and only here.

Static statements live in ``sql/cdc/*.sql`` (read with :func:`onramp.db.sql`). What is left is composed
with :mod:`psycopg.sql`: names go in as :class:`~psycopg.sql.Identifier`, values as
:class:`~psycopg.sql.Literal`; nothing from a source, the sources file or a row is pasted into the text.
Column types are the source's own ``format_type()`` spelling (or ``text``) and go in as SQL.

Every function returns the statement as a string (``Composed.as_string()`` needs no connection in
psycopg 3.3), which psycopg and ADBC cursors both execute; statements run through ADBC take their
parameters as ``$N``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from psycopg.sql import SQL, Composable, Composed, Identifier, Literal

from onramp.cdc.changes import META_NAMES
from onramp.cdc.config import TableConfig
from onramp.cdc.pgoutput import lsn_to_str
from onramp.cdc.pgtypes import Column

# Change-log metadata (see changes.py) as raw.<source>_<table>_changes stores it.
META_DDL = (
    ("_op", "char(1) not null"), ("_lsn", "pg_lsn"), ("_seq", "integer"), ("_xid", "bigint"),
    ("_commit_ts", "timestamptz"), ("_detected_by", "text not null"), ("_unchanged", "text"),
    ("_batch_id", "text not null"),
)
# What staging keeps of it: the position and time of the change that wrote the row.
STAGING_META_DDL = (("_cdc_lsn", "pg_lsn"), ("_cdc_xid", "bigint"), ("_cdc_commit_ts", "timestamptz"))
STAGING_META = tuple(name for name, _ in STAGING_META_DDL)
STAGED_AS = {"_lsn": "_cdc_lsn", "_xid": "_cdc_xid", "_commit_ts": "_cdc_commit_ts"}
# Staging tables leave a tenth of each page free, so that an update can put the new row version on the
# same page (a HOT update: no new key index entry, no second page). On the bench's 1 % batch right after
# a checkpoint this cut the WAL the apply writes from 216 to 158 MB and the apply from 0.87 to 0.71 s,
# for a table 10 % larger.
STAGING_FILLFACTOR = 90
# The order of changes in a batch, last first: commit LSN, position in the transaction, xid (xmin mode).
CHANGE_ORDER = SQL("_lsn desc nulls last, _seq desc nulls last, _xid desc nulls last")
# Meta columns of a change batch as staging takes them (the lake stores LSNs as integers).
_STAGED_META_SELECT = SQL("'0/0'::pg_lsn + {p}_lsn, {p}_xid, {p}_commit_ts")


def _text(statement: Composable) -> str:
    return statement.as_string()


def _names(names: Iterable[str], alias: str | None = None) -> Composed:
    return SQL(", ").join(Identifier(alias, n) if alias else Identifier(n) for n in names)


def _match(keys: Iterable[str], left: str, right: str) -> Composed:
    return SQL(" and ").join(SQL("{} = {}").format(Identifier(left, k), Identifier(right, k)) for k in keys)


def _type(column: Column) -> SQL:
    return SQL(column.warehouse_type)


def _cast(column: Column, alias: str | None = None) -> Composable:
    """A batch column as its warehouse type (columns Arrow cannot carry as such travel as text)."""
    ref = Identifier(alias, column.name) if alias else Identifier(column.name)
    return ref if column.loads_directly else SQL("{}::{}").format(ref, _type(column))


def _updates(names: Iterable[str], keys: Iterable[str]) -> Composed:
    return SQL(", ").join(SQL("{0} = excluded.{0}").format(Identifier(n)) for n in names if n not in keys)


# ----------------------------------------------------------------------------- names

def staging(table: TableConfig) -> Identifier:
    return Identifier("staging", table.target)


def raw(table: TableConfig) -> Identifier:
    return Identifier("raw", table.raw_table)


def work(table: TableConfig) -> Identifier:
    return Identifier("cdc_work", table.work_table)


def regclass(schema: str, name: str) -> str:
    """A table's quoted qualified name, as ``to_regclass`` takes it (a parameter, not SQL)."""
    return _text(Identifier(schema, name))


# ----------------------------------------------------------------------------- reading the source

def read_column(column: Column) -> Composable:
    """Select-list entry reading a column with ADBC into (something castable to) its Arrow type."""
    name = Identifier(column.name)
    return name if column.reads_natively else SQL("{0}::text as {0}").format(name)


def set_transaction_snapshot(snapshot_name: str) -> str:
    return _text(SQL("set transaction snapshot {}").format(Literal(snapshot_name)))


def snapshot_chunk(table: TableConfig, columns: list[Column], *, first_block: int | None,
                   end_block: int | None) -> str:
    """Rows of the heap blocks ``[first_block, end_block)`` (TID range scan); None: open on that side."""
    conditions = []
    if first_block is not None:
        conditions.append(SQL("ctid >= {}::tid").format(Literal(f"({first_block},0)")))
    if end_block is not None:
        conditions.append(SQL("ctid < {}::tid").format(Literal(f"({end_block},0)")))
    where = SQL(" where {}").format(SQL(" and ").join(conditions)) if conditions else SQL("")
    return _text(SQL("select {} from {}{}").format(
        SQL(", ").join(read_column(c) for c in columns), Identifier(table.schema, table.name), where))


def _xid64(hi: int) -> Composed:
    """A row's xmin as a 64-bit xid, given the window's end ``hi`` (row xmin is 32-bit and wraps around)."""
    epoch, hi32 = hi >> 32, hi & 0xFFFFFFFF
    return SQL("(case when xmin::text::bigint <= {} then {} else {} end + xmin::text::bigint)").format(
        Literal(hi32), Literal(epoch << 32), Literal((epoch - 1) << 32))


def xmin_condition(lo: int, hi: int) -> str:
    """Rows whose xmin lies in [lo, hi) (64-bit transaction ids)."""
    x64 = _xid64(hi)
    return _text(SQL("xmin::text::bigint >= 3 and {} >= {} and {} < {}").format(x64, Literal(lo), x64, Literal(hi)))


def xmin_window(table: TableConfig, columns: list[Column], lo: int, hi: int) -> str:
    """Row versions written by transactions in [lo, hi), each with its 64-bit xid as ``_onramp_xid``."""
    return _text(SQL("select {}, {} as _onramp_xid from {} where {}").format(
        SQL(", ").join(read_column(c) for c in columns), _xid64(hi), Identifier(table.schema, table.name),
        SQL(xmin_condition(lo, hi))))


def source_keys(table: TableConfig) -> str:
    return _text(SQL("select {} from {}").format(_names(table.primary_key), Identifier(table.schema, table.name)))


def staging_keys_missing_from(table: TableConfig, keys_table: str) -> str:
    """Keys in staging that ``keys_table`` (the source's keys, same snapshot) does not hold: deletes."""
    return _text(SQL("select {} from {} s where not exists (select 1 from {} k where {})").format(
        _names(table.primary_key, "s"), staging(table), Identifier(keys_table), _match(table.primary_key, "k", "s")))


# ----------------------------------------------------------------------------- publications and slots

def create_publication(name: str, table: TableConfig) -> str:
    return _text(SQL("create publication {} for table {} with (publish_via_partition_root = true)").format(
        Identifier(name), Identifier(table.schema, table.name)))


def add_to_publication(name: str, table: TableConfig) -> str:
    return _text(SQL("alter publication {} add table {}").format(Identifier(name), Identifier(table.schema, table.name)))


def create_replication_slot(slot: str) -> str:
    """The replication-protocol command that creates a slot and exports its snapshot."""
    return _text(SQL("CREATE_REPLICATION_SLOT {} LOGICAL pgoutput EXPORT_SNAPSHOT").format(Identifier(slot)))


# ----------------------------------------------------------------------------- warehouse tables

def drop_table(name: Identifier | str, *, if_exists: bool = False) -> str:
    target = Identifier(name) if isinstance(name, str) else name
    return _text(SQL("drop table if exists {}" if if_exists else "drop table {}").format(target))


def create_work_table(table: TableConfig, columns: list[Column]) -> str:
    body = [SQL("{} {}{}").format(Identifier(c.name), _type(c), SQL(" not null" if c.name in table.primary_key else ""))
            for c in columns]
    body += [SQL("{} {}").format(Identifier(n), SQL(t)) for n, t in STAGING_META_DDL]
    return _text(SQL("create table {} ({}) with (fillfactor = {})").format(
        work(table), SQL(", ").join(body), Literal(STAGING_FILLFACTOR)))


def add_work_key(table: TableConfig) -> str:
    return _text(SQL("alter table {} add constraint {} primary key ({})").format(
        work(table), Identifier(table.target + "_pkey"), _names(table.primary_key)))


def create_raw_table(table: TableConfig, columns: list[Column]) -> list[str]:
    """The change log: the table, its two unique indexes (log and xmin changes), its comment."""
    body = [SQL("{} {}").format(Identifier(n), SQL(t)) for n, t in META_DDL]
    body += [SQL("{} {}").format(Identifier(c.name), _type(c)) for c in columns]
    body.append(SQL("_loaded_at timestamptz not null default clock_timestamp()"))
    base = table.raw_table[:40]
    comment = f"CDC change log of {table.id}: one row per change, append-only (docs/cdc.md)"
    return [_text(s) for s in (
        SQL("create table {} ({})").format(raw(table), SQL(", ").join(body)),
        SQL("create unique index {} on {} (_lsn, _seq)").format(Identifier(base + "_lsn_seq"), raw(table)),
        SQL("create unique index {} on {} (_xid, {}) where _detected_by = 'xmin'").format(
            Identifier(base + "_xid_key"), raw(table), _names(table.primary_key)),
        SQL("comment on table {} is {}").format(raw(table), Literal(comment)),
    )]


def add_column(schema: str, name: str, column: Column) -> str:
    return _text(SQL("alter table {} add column {} {}").format(
        Identifier(schema, name), Identifier(column.name), _type(column)))


def retype_column(schema: str, name: str, column: Column) -> str:
    return _text(SQL("alter table {} alter column {col} type {t} using {col}::{t}").format(
        Identifier(schema, name), col=Identifier(column.name), t=_type(column)))


def drop_not_null(schema: str, name: str, column: str) -> str:
    return _text(SQL("alter table {} alter column {} drop not null").format(Identifier(schema, name), Identifier(column)))


def rename_column(schema: str, name: str, column: str, to: str) -> str:
    return _text(SQL("alter table {} rename column {} to {}").format(
        Identifier(schema, name), Identifier(column), Identifier(to)))


# ----------------------------------------------------------------------------- snapshot chunks and publishing

def set_snapshot_meta_defaults(table: TableConfig, lsn: int | None, commit_unix_us: int | None) -> str:
    """The chunk's shared metadata as the work table's column defaults (so COPY need not carry it per row)."""
    lsn_default = SQL("{}::pg_lsn").format(Literal(lsn_to_str(lsn))) if lsn is not None else SQL("null")
    ts_default = SQL("null")
    if commit_unix_us is not None:
        stamp = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=commit_unix_us)
        ts_default = SQL("{}::timestamptz").format(Literal(stamp.isoformat()))
    return _text(SQL("alter table {} alter column _cdc_lsn set default {}, alter column _cdc_xid drop default,"
                     " alter column _cdc_commit_ts set default {}").format(work(table), lsn_default, ts_default))


def drop_snapshot_meta_defaults(table: TableConfig) -> str:
    return _text(SQL("alter table {} alter column _cdc_lsn drop default, alter column _cdc_commit_ts drop default")
                 .format(work(table)))


def insert_chunk(table: TableConfig, columns: list[Column], source: str, *, upsert: bool) -> str:
    """Move a chunk from the temp table ``source`` into the work table (``upsert``: chunks may overlap)."""
    names = [c.name for c in columns] + list(STAGING_META)
    select = SQL(", ").join([_cast(c) for c in columns] + [_STAGED_META_SELECT.format(p=SQL(""))])
    statement = SQL("insert into {} ({}) select {} from {}").format(work(table), _names(names), select, Identifier(source))
    if upsert:
        statement += SQL(" on conflict ({}) do update set {}").format(
            _names(table.primary_key), _updates(names, table.primary_key))
    return _text(statement)


def publish_work_table(table: TableConfig) -> list[str]:
    """The first snapshot: the work table becomes the staging table."""
    comment = f"current state of {table.id}, kept by CDC (docs/cdc.md)"
    return [_text(s) for s in (
        SQL("alter table {} rename to {}").format(work(table), Identifier(table.target)),
        SQL("alter table {} set schema staging").format(Identifier("cdc_work", table.target)),
        SQL("comment on table {} is {}").format(staging(table), Literal(comment)),
        SQL("analyze {}").format(staging(table)),
    )]


def merge_work_table(table: TableConfig, columns: list[Column]) -> list[str]:
    """A resnapshot: staging keeps its table (views depend on it); missing keys deleted, changed rows upserted."""
    keys, data = table.primary_key, [c.name for c in columns]
    names = data + list(STAGING_META)
    differs = SQL(" or ").join(SQL("s.{0} is distinct from excluded.{0}").format(Identifier(n))
                               for n in data if n not in keys) or SQL("false")
    return [_text(s) for s in (
        SQL("delete from {} s where not exists (select 1 from {} w where {})").format(
            staging(table), work(table), _match(keys, "w", "s")),
        SQL("insert into {} as s ({}) select {} from {} on conflict ({}) do update set {} where {}").format(
            staging(table), _names(names), _names(names), work(table), _names(keys), _updates(names, keys), differs),
        SQL("drop table {}").format(work(table)),
    )]


# ----------------------------------------------------------------------------- change batches

def append_to_raw(table: TableConfig, columns: list[Column], source: str) -> str:
    """Every change of the batch (not snapshot reads) into the change log, once; ``$1`` is the batch id."""
    names = list(META_NAMES) + ["_batch_id"] + [c.name for c in columns]
    meta = SQL("_op, '0/0'::pg_lsn + _lsn, _seq, _xid, _commit_ts, _detected_by, _unchanged, $1")
    return _text(SQL("insert into {} ({}) select {} from {} where _op <> 'r' on conflict do nothing").format(
        raw(table), _names(names), SQL(", ").join([meta, *(_cast(c) for c in columns)]), Identifier(source)))


def empty_staging(table: TableConfig) -> str:
    return _text(SQL("delete from {}").format(staging(table)))


def last_change_per_key(table: TableConfig, source: str, target: str, after: tuple[int, int] | None) -> str:
    """``target`` := the last insert, update or delete of each key in ``source`` (after the truncate ``after``)."""
    since = SQL(" and (_lsn, _seq) > ({}, {})").format(Literal(after[0]), Literal(after[1])) if after else SQL("")
    keys = _names(table.primary_key)
    return _text(SQL("create temp table {} as select distinct on ({}) * from {} where _op in ('I', 'U', 'D'){}"
                     " order by {}, {}").format(Identifier(target), keys, Identifier(source), since, keys, CHANGE_ORDER))


def delete_from_staging(table: TableConfig, final: str) -> str:
    return _text(SQL("delete from {} s using {} f where f._op = 'D' and {}").format(
        staging(table), Identifier(final), _match(table.primary_key, "s", "f")))


def upsert_into_staging(table: TableConfig, columns: list[Column], final: str) -> str:
    names = [c.name for c in columns] + list(STAGING_META)
    select = SQL(", ").join([_cast(c, "f") for c in columns] + [_STAGED_META_SELECT.format(p=SQL("f."))])
    return _text(SQL("insert into {} ({}) select {} from {} f where f._op in ('I', 'U') on conflict ({})"
                     " do update set {}").format(staging(table), _names(names), select, Identifier(final),
                                                 _names(table.primary_key), _updates(names, table.primary_key)))


def fill_unchanged(table: TableConfig, column: Column, batch: str, final: str) -> str:
    """Give ``column`` its value where an update left it untouched (TOAST): from the key's previous change in
    the batch that carried it, else from staging."""
    col, keys = Identifier(column.name), table.primary_key
    marker = Literal(f",{column.name},")
    current = SQL("s.{}").format(col) if column.loads_directly else SQL("s.{}::text").format(col)
    return _text(SQL(
        "update {final} f set {col} = coalesce("
        "(select b.{col} from {batch} b where {key_batch} and b._op in ('I', 'U')"
        " and (b._lsn, b._seq) < (f._lsn, f._seq)"
        " and (b._unchanged is null or position({marker} in b._unchanged) = 0)"
        " order by b._lsn desc, b._seq desc limit 1),"
        " (select {current} from {staging} s where {key_staging}))"
        " where position({marker} in f._unchanged) > 0"
    ).format(final=Identifier(final), col=col, batch=Identifier(batch), key_batch=_match(keys, "b", "f"),
             marker=marker, current=current, staging=staging(table), key_staging=_match(keys, "s", "f")))
