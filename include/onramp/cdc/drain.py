"""Reading a table's slot as a bounded drain: ``pgoutput`` messages → change records in a :class:`ChangeBatcher`.

* **Bounded.** A drain reads up to the WAL flush position seen when it starts and stops: the server tells
  us how far it has decoded (keepalive ``wal_end``), so a table with no change costs one round trip.
  Transactions arrive whole and in commit order.
* **Never confirms.** Nothing here tells the slot what was read; :func:`onramp.cdc.logical.advance_slot`
  is called only after the warehouse committed the batch. Transactions below ``skip_before_lsn`` (applied
  before the last confirm, re-sent by the server) are read past and not recorded.
* **Shape changes.** Relation messages announce a table's columns; new columns join the batch, widened
  types replace old ones, an incompatible type change blocks the table (:func:`onramp.cdc.drift.drift_blocked`).
"""

from __future__ import annotations

import select
import time
from collections.abc import Callable
from dataclasses import dataclass

import psycopg2

from onramp.cdc import pgoutput
from onramp.cdc.changes import ChangeBatcher
from onramp.cdc.config import TableConfig
from onramp.cdc.drift import drift_blocked
from onramp.cdc.errors import CdcError, SlotLost, SourceError
from onramp.cdc.logical import replication_connection
from onramp.cdc.pgoutput import Begin, Commit, Delete, Insert, Relation, Truncate, Update, lsn_to_str
from onramp.cdc.pgtypes import Column, compare_types


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


class _Transactions:
    """What a drain keeps between messages: the open transaction, a change's place in it, and the tally.

    One handler per message type; only a Begin can end the drain (a transaction that committed after the
    drain's target is the next run's).
    """

    def __init__(self, table: TableConfig, relid: int, target_lsn: int, skip_before_lsn: int,
                 batcher: ChangeBatcher, shape: _Shape, on_progress: Callable[[], None] | None):
        self.table, self.relid, self.target_lsn, self.skip_before_lsn = table, relid, target_lsn, skip_before_lsn
        self.batcher, self.shape, self.on_progress = batcher, shape, on_progress
        self.result = DrainResult(confirm_lsn=target_lsn, target_lsn=target_lsn)
        self.in_txn = self.skip = False
        self.begin: Begin | None = None
        self.seq = 0
        self.last_end = 0
        self.handlers: dict[type, Callable[[object], bool | None]] = {
            Begin: self._begin, Commit: self._commit, Relation: self._relation, Insert: self._insert,
            Update: self._update, Delete: self._delete, Truncate: self._truncate, pgoutput.Other: lambda _: None,
        }

    def _begin(self, change: Begin) -> bool:
        if change.final_lsn >= self.target_lsn:
            return True  # committed after this drain started: the next run takes it
        self.in_txn, self.begin, self.seq = True, change, 0
        self.skip = change.final_lsn < self.skip_before_lsn  # re-sent: applied before the last confirm
        return False

    def _commit(self, change: Commit) -> None:
        self.in_txn = False
        self.last_end = max(self.last_end, change.end_lsn)
        result = self.result
        if self.skip:
            result.skipped_transactions += 1
        else:
            result.transactions += 1
            result.first_commit_lsn = result.first_commit_lsn or change.commit_lsn
            result.last_commit_lsn = change.commit_lsn
        if self.on_progress:
            self.on_progress()

    def _relation(self, change: Relation) -> None:
        if change.relid == self.relid or (change.namespace, change.name) == (self.table.schema, self.table.name):
            self.relid = change.relid
            self.shape.relation(change)

    def _add(self, op: str, values: list) -> None:
        begin = self.begin
        self.batcher.add(op, values, seq=self.seq, lsn=begin.final_lsn, xid=begin.xid,
                         commit_unix_us=pgoutput.pg_time_to_unix_us(begin.commit_time_us))
        self.seq += 1

    def _takes(self) -> bool:
        """Whether this transaction's changes are read (not re-sent ones); a change needs a transaction."""
        if self.skip:
            return False
        if self.begin is None:
            raise CdcError(f"{self.table.id}: a change arrived outside a transaction; the stream is corrupt")
        return True

    def _insert(self, change: Insert) -> None:
        if self._takes():
            self._add("I", self.shape.values(change.new))

    def _update(self, change: Update) -> None:
        if not self._takes():
            return
        if change.old is not None and self.shape.key(change.old) != self.shape.key(change.new):
            # the key changed: the old row is gone, logged as its delete, then the new row
            self._add("D", self.shape.values(change.old))
        self._add("U", self.shape.values(change.new))

    def _delete(self, change: Delete) -> None:
        if self._takes():
            self._add("D", self.shape.values(change.old))

    def _truncate(self, change: Truncate) -> None:
        if self._takes() and self.relid in change.relids:
            self._add("T", [None] * len(self.batcher.columns))


def _start_replication(cursor, table: TableConfig) -> None:
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


def _wait(cursor, table: TableConfig, target_lsn: int, deadline: float, timeout_seconds: float, last_ping: float) -> float:
    """Nothing to read yet: ask the server where it is (every half second), wait a little; returns the last ping."""
    now = time.monotonic()
    if now > deadline:
        raise CdcError(
            f"{table.id}: slot {table.slot_name} did not reach {lsn_to_str(target_lsn)} within "
            f"{timeout_seconds}s (server decoded up to {lsn_to_str(cursor.wal_end)}); the source may be "
            "decoding a large backlog: raise drain_timeout_seconds or re-run"
        )
    if now - last_ping > 0.5:  # a keepalive with wal_end comes back
        cursor.send_feedback(reply=True, force=True)
        last_ping = now
    select.select([cursor], [], [], 0.5)
    return last_ping


def drain(url: str, table: TableConfig, *, relid: int, target_lsn: int, skip_before_lsn: int,
          batcher: ChangeBatcher, describe: Callable[[list], list[Column]], timeout_seconds: float,
          on_progress: Callable[[], None] | None = None) -> DrainResult:
    """Read the table's slot up to ``target_lsn`` into ``batcher``; never confirms anything."""
    conn = replication_connection(url)
    txns = _Transactions(table, relid, target_lsn, skip_before_lsn, batcher, _Shape(table, batcher, describe),
                         on_progress)
    handlers, decode = txns.handlers, pgoutput.decode
    try:
        cursor = conn.cursor()
        _start_replication(cursor, table)
        deadline = time.monotonic() + timeout_seconds
        last_ping = 0.0
        while True:
            message = cursor.read_message()
            if message is not None:
                change = decode(message.payload)
                if handlers[type(change)](change):
                    break
            elif not txns.in_txn and cursor.wal_end >= target_lsn:
                break
            else:
                last_ping = _wait(cursor, table, target_lsn, deadline, timeout_seconds, last_ping)
        result = txns.result
        result.confirm_lsn = max(target_lsn, txns.last_end)
        batcher.flush()
        return result
    finally:
        conn.close()
