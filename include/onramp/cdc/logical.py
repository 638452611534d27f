"""Log-based capture, the source side: a publication and a ``pgoutput`` replication slot per table.

* **Slot per table.** Each declared table has its own publication and slot, so tables are
  independent: one table blocked by a schema change, or re-snapshotted, never holds back another.
  (Each slot decodes the whole WAL stream; for hundreds of tables, group them per source instead.)
* **Exported snapshot.** A new slot exports the snapshot of its consistent point (:class:`ExportedSlot`):
  the table's first read sees exactly the data the stream starts after.
* **Confirm after commit.** Reading the slot (:mod:`onramp.cdc.drain`) never confirms a position;
  :func:`advance_slot` is called only after the warehouse committed the batch. Until then the server
  keeps the WAL and re-sends the transactions, which the apply recognises and skips (idempotent by
  commit LSN).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import psycopg
import psycopg2
import psycopg2.errors
import psycopg2.extras

from onramp import db
from onramp.cdc import dynamic_sql
from onramp.cdc.config import TableConfig
from onramp.cdc.errors import CdcError, SlotLost, SourceError
from onramp.cdc.pgoutput import lsn_to_int, lsn_to_str


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


def replication_connection(url: str):
    # output functions run in the walsender with :mod:`onramp.db`'s session settings (UTC, ISO, hex bytea),
    # so values parse the same way everywhere
    return db.connect_replication(url, "cdc")


class ExportedSlot:
    """Create a slot and hold its exported snapshot open: reads with ``SET TRANSACTION SNAPSHOT`` see exactly
    the data as of the slot's consistent point, so snapshot + stream have no gap and no overlap."""

    def __init__(self, url: str, slot: str):
        self.conn = replication_connection(url)
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
