"""Log-based capture: publication + ``pgoutput`` replication slot per table, read as a bounded drain.

* **Slot per table.** Each declared table has its own publication and slot, so tables are
  independent: one table blocked by a schema change, or re-snapshotted, never holds back another.
  (Each slot decodes the whole WAL stream; for hundreds of tables, group them per source instead.)
* **Bounded drain.** A drain reads up to the WAL flush position seen when it starts and stops: the
  server tells us how far it has decoded (keepalive ``wal_end``), so a table with no change costs
  one round trip. Transactions arrive whole and in commit order.
* **Confirm after commit.** Nothing here confirms a position while draining; :func:`advance_slot` is
  called only after the warehouse committed the batch. Until then the server keeps the WAL and
  re-sends the transactions, which the apply recognises and skips (idempotent by commit LSN).
"""

from __future__ import annotations

import logging
import select
import time
from collections.abc import Callable
from dataclasses import dataclass

import psycopg
import psycopg2
import psycopg2.errors
import psycopg2.extras

from onramp import db
from onramp.cdc import dynamic_sql, pgoutput
from onramp.cdc.changes import ChangeBatcher
from onramp.cdc.config import TableConfig
from onramp.cdc.errors import CdcError, SchemaDriftBlocked, SlotLost, SourceError
from onramp.cdc.pgoutput import (
    Begin,
    Commit,
    Delete,
    Insert,
    Relation,
    Truncate,
    Update,
    lsn_to_int,
    lsn_to_str,
)
from onramp.cdc.pgtypes import Column, compare_types

log = logging.getLogger(__name__)



@dataclass(frozen=True)
class SlotState:
    name: str
    active_pid: int | None
    confirmed_flush: int | None
    restart_lsn: int | None
    wal_status: str | None
    safe_wal_size: int | None
    invalidation_reason: str | None
    current_lsn: int

    @property
    def lost(self) -> bool:
        """The server dropped WAL this slot still needed (or invalidated it): changes are gone."""
        return self.wal_status == "lost" or self.invalidation_reason is not None or self.restart_lsn is None

    @property
    def lag_bytes(self) -> int:
        """WAL written since the last confirmed change: what the next run has to read."""
        return max(0, self.current_lsn - (self.confirmed_flush or self.current_lsn))

    @property
    def retained_bytes(self) -> int:
        """WAL the server keeps on disk for this slot."""
        return max(0, self.current_lsn - (self.restart_lsn or self.current_lsn))

    def describe(self) -> str:
        reason = self.invalidation_reason or self.wal_status
        return f"slot {self.name} ({reason})" if self.lost else f"slot {self.name}"


def slot_state(conn: psycopg.Connection, slot: str) -> SlotState | None:
    row = conn.execute(db.sql("cdc", "slot_state"), {"slot": slot}).fetchone()
    if row is None:
        return None
    name, pid, confirmed, restart, wal_status, safe, invalid, current = row
    return SlotState(name, pid, lsn_to_int(confirmed) if confirmed else None, lsn_to_int(restart) if restart else None,
                     wal_status, safe, invalid, lsn_to_int(current))


def current_flush_lsn(conn: psycopg.Connection) -> int:
    return lsn_to_int(conn.execute(db.sql("cdc", "wal_flush_lsn")).fetchone()[0])


def ensure_publication(conn: psycopg.Connection, table: TableConfig) -> None:
    """A publication holding exactly this table (created once; the table is re-added if someone removed it)."""
    name = table.publication_name
    names = {"publication": name, "schema": table.schema, "name": table.name}
    exists = conn.execute(db.sql("cdc", "publication_exists"), names).fetchone()
    try:
        if not exists:
            conn.execute(dynamic_sql.create_publication(name, table))
        elif not conn.execute(db.sql("cdc", "publication_has_table"), names).fetchone():
            conn.execute(dynamic_sql.add_to_publication(name, table))
    except psycopg.errors.InsufficientPrivilege:
        raise SourceError(f"{table.id}: the source login may not create publication {name}; run as the table's owner: "
                          f"CREATE PUBLICATION {name} FOR TABLE {table.qualified}") from None


def drop_slot(conn: psycopg.Connection, slot: str, wait_seconds: float = 10) -> bool:
    """Drop a slot (waiting for a walsender of a killed process to go away); False when there was none."""
    deadline = time.monotonic() + wait_seconds
    while True:
        row = conn.execute(db.sql("cdc", "slot_active_pid"), {"slot": slot}).fetchone()
        if row is None:
            return False
        if row[0] is None:
            try:
                conn.execute(db.sql("cdc", "slot_drop"), {"slot": slot})
                return True
            except psycopg.errors.ObjectInUse:
                pass
            except psycopg.errors.UndefinedObject:
                return False
        if time.monotonic() > deadline:
            raise CdcError(f"slot {slot} is in use by process {row[0]}; stop that consumer, then retry")
        time.sleep(0.2)


def _replication_connection(url: str):
    # output functions run in the walsender with :mod:`onramp.db`'s session settings (UTC, ISO, hex bytea),
    # so values parse the same way everywhere
    return db.connect_replication(url, "cdc")


class ExportedSlot:
    """Create a slot and hold its exported snapshot open: reads with ``SET TRANSACTION SNAPSHOT`` see exactly
    the data as of the slot's consistent point, so snapshot + stream have no gap and no overlap."""

    def __init__(self, url: str, slot: str):
        self.conn = _replication_connection(url)
        cursor = self.conn.cursor()
        try:
            cursor.execute(dynamic_sql.create_replication_slot(slot))
        except psycopg2.errors.DuplicateObject:
            self.conn.close()
            raise CdcError(f"replication slot {slot} already exists; it was not created by this load") from None
        except psycopg2.Error as exc:
            self.conn.close()
            first = str(exc).strip().splitlines()[0]
            if "max_replication_slots" in first or "all replication slots are in use" in first:
                raise SourceError(f"cannot create slot {slot}: {first}; raise max_replication_slots on the source "
                                  "(one slot per replicated table) or drop unused slots") from None
            raise SourceError(f"cannot create slot {slot}: {first}") from None
        _name, consistent_point, snapshot_name, _plugin = cursor.fetchone()
        self.consistent_lsn = lsn_to_int(consistent_point)
        self.snapshot_name = snapshot_name

    def close(self) -> None:
        """Ends the exported snapshot (the slot itself stays)."""
        self.conn.close()

    def __enter__(self) -> ExportedSlot:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def advance_slot(conn: psycopg.Connection, slot: str, lsn: int, wait_seconds: float = 15) -> int:
    """Confirm ``lsn`` to the slot (after the warehouse commit): the server may then recycle older WAL."""
    deadline = time.monotonic() + wait_seconds
    while True:
        state = slot_state(conn, slot)
        if state is None:
            raise SlotLost(f"slot {slot} disappeared before the position {lsn_to_str(lsn)} could be confirmed; "
                           "the data is committed, run `onramp cdc resnapshot` for the table")
        if state.confirmed_flush is not None and state.confirmed_flush >= lsn:
            return state.confirmed_flush
        if state.active_pid is None:
            try:
                conn.execute(db.sql("cdc", "slot_advance"), {"slot": slot, "lsn": lsn_to_str(lsn)})
                continue
            except psycopg.errors.ObjectInUse:
                pass
        if time.monotonic() > deadline:
            raise CdcError(f"slot {slot} stayed in use by process {state.active_pid}; its position was not confirmed "
                           "(harmless: the next run re-reads and skips the applied changes)")
        time.sleep(0.1)


@dataclass
class DrainResult:
    confirm_lsn: int  # everything before it has been read (or skipped as already applied)
    target_lsn: int
    transactions: int = 0
    skipped_transactions: int = 0
    first_commit_lsn: int | None = None
    last_commit_lsn: int | None = None


class _Shape:
    """Maps the stream's Relation messages onto the batch's columns: new columns are added, widened types
    replace the old ones (the warehouse follows at apply time), an incompatible type change blocks the table."""

    def __init__(self, table: TableConfig, batcher: ChangeBatcher, describe: Callable[[list], list[Column]]):
        self.table = table
        self.batcher = batcher
        self.describe = describe
        self.mapping: list[int] = []
        self.key_positions: list[int] = []

    def relation(self, rel: Relation) -> None:
        described = self.describe([(c.name, c.type_oid, c.typmod, c.name in self.table.primary_key)
                                   for c in rel.columns if self.table.keeps(c.name)])
        current = {c.name: c for c in self.batcher.columns}
        columns = list(self.batcher.columns)
        for new in described:
            old = current.get(new.name)
            if old is None:
                columns.append(new)
                continue
            verdict = compare_types(old, new)
            if verdict == "incompatible":
                raise drift_blocked(self.table, old, new)
            if verdict == "widened":
                columns[columns.index(old)] = new
        self.batcher.set_columns(columns)  # a dropped column stays, and gets nulls from now on
        positions = {c.name: i for i, c in enumerate(rel.columns)}
        self.mapping = [positions.get(c.name, -1) for c in self.batcher.columns]
        self.key_positions = [positions[k] for k in self.table.primary_key]

    def values(self, tuple_values: list) -> list:
        return [tuple_values[i] if i >= 0 else None for i in self.mapping]

    def key(self, tuple_values: list) -> tuple:
        return tuple(tuple_values[i] for i in self.key_positions)


def drift_blocked(table: TableConfig, old: Column, new: Column) -> SchemaDriftBlocked:
    """The error that blocks a table whose column changed type incompatibly (names the column and the fix)."""
    event = {"column": old.name, "change": "type_incompatible", "old_type": old.source_type, "new_type": new.source_type}
    return SchemaDriftBlocked(incompatible_message(table, old, new), event)


def incompatible_message(table: TableConfig, old: Column, new: Column) -> str:
    return (
        f"{table.id}: column {old.name!r} changed type in the source from {old.source_type} to {new.source_type}, "
        f"which staging.{table.target}.{old.name} ({old.warehouse_type}) cannot take without changing values. "
        f"Table {table.id} is blocked (other tables go on). Fix: run `onramp cdc resnapshot {table.id}` "
        f"(or trigger cdc_app_db with backfill_table={table.id}) to rebuild it with the new type, "
        f"or change the source column back"
    )


def drain(url: str, table: TableConfig, *, relid: int, target_lsn: int, skip_before_lsn: int,
          batcher: ChangeBatcher, describe: Callable[[list], list[Column]], timeout_seconds: float,
          on_progress: Callable[[], None] | None = None) -> DrainResult:
    """Read the table's slot up to ``target_lsn`` into ``batcher``; never confirms anything."""
    conn = _replication_connection(url)
    shape = _Shape(table, batcher, describe)
    result = DrainResult(confirm_lsn=target_lsn, target_lsn=target_lsn)
    try:
        cursor = conn.cursor()
        try:
            cursor.start_replication(slot_name=table.slot_name, decode=False, status_interval=10,
                                     options={"proto_version": "1", "publication_names": table.publication_name})
        except psycopg2.Error as exc:
            first = str(exc).strip().splitlines()[0]
            if "does not exist" in first:
                raise SlotLost(f"{table.id}: replication slot {table.slot_name} does not exist; "
                               f"run `onramp cdc resnapshot {table.id}`") from None
            if "is active" in first:
                raise CdcError(f"{table.id}: slot {table.slot_name} is in use by another process "
                               "(a previous run still draining?); retry when it has finished") from None
            raise SourceError(f"{table.id}: cannot start replication on slot {table.slot_name}: {first}") from None
        deadline = time.monotonic() + timeout_seconds
        in_txn = skip = False
        begin: Begin | None = None
        seq = 0
        last_end = 0
        last_ping = 0.0
        while True:
            message = cursor.read_message()
            if message is None:
                if not in_txn and cursor.wal_end >= target_lsn:
                    break
                now = time.monotonic()
                if now > deadline:
                    raise CdcError(
                        f"{table.id}: slot {table.slot_name} did not reach {lsn_to_str(target_lsn)} within "
                        f"{timeout_seconds}s (server decoded up to {lsn_to_str(cursor.wal_end)}); the source may be "
                        "decoding a large backlog: raise drain_timeout_seconds or re-run"
                    )
                if now - last_ping > 0.5:  # ask the server where it is (a keepalive with wal_end comes back)
                    cursor.send_feedback(reply=True, force=True)
                    last_ping = now
                select.select([cursor], [], [], 0.5)
                continue
            change = pgoutput.decode(message.payload)
            kind = type(change)
            if kind is Begin:
                if change.final_lsn >= target_lsn:
                    break  # committed after this drain started: the next run takes it
                in_txn, begin, seq = True, change, 0
                skip = change.final_lsn < skip_before_lsn  # re-sent: applied before the last confirm
                continue
            if kind is Commit:
                in_txn = False
                last_end = max(last_end, change.end_lsn)
                if skip:
                    result.skipped_transactions += 1
                else:
                    result.transactions += 1
                    result.first_commit_lsn = result.first_commit_lsn or change.commit_lsn
                    result.last_commit_lsn = change.commit_lsn
                if on_progress:
                    on_progress()
                continue
            if kind is Relation:
                if change.relid == relid or (change.namespace, change.name) == (table.schema, table.name):
                    relid = change.relid
                    shape.relation(change)
                continue
            if skip or kind is pgoutput.Other:
                continue
            if begin is None:
                raise CdcError(f"{table.id}: a change arrived outside a transaction; the stream is corrupt")
            stamp = pgoutput.pg_time_to_unix_us(begin.commit_time_us)
            common = {"lsn": begin.final_lsn, "xid": begin.xid, "commit_unix_us": stamp}
            if kind is Insert:
                batcher.add("I", shape.values(change.new), seq=seq, **common)
                seq += 1
            elif kind is Update:
                if change.old is not None and shape.key(change.old) != shape.key(change.new):
                    # the key changed: the old row is gone, logged as its delete, then the new row
                    batcher.add("D", shape.values(change.old), seq=seq, **common)
                    seq += 1
                batcher.add("U", shape.values(change.new), seq=seq, **common)
                seq += 1
            elif kind is Delete:
                batcher.add("D", shape.values(change.old), seq=seq, **common)
                seq += 1
            elif kind is Truncate:
                if relid in change.relids:
                    batcher.add("T", [None] * len(batcher.columns), seq=seq, **common)
                    seq += 1
        result.confirm_lsn = max(target_lsn, last_end)
        batcher.flush()
        return result
    finally:
        conn.close()
