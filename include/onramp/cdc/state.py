"""Load state of each CDC table in ``ops`` (SQL in ``sql/cdc/``, ``$N`` placeholders).

The state row is saved in the same warehouse transaction as the data it describes, so the two can
never disagree: that, plus confirming the slot only after the commit, is what makes a killed run
safe to repeat. When data moves, that transaction is an ADBC one (:func:`connect_warehouse`: binary COPY
beside the state); when only state moves (an extraction, an apply with nothing to load) it is a psycopg
one (:func:`connect_rows`), which runs the same ``$N`` statements and spares a task ADBC's import of
pyarrow.dataset and pandas (seconds per task process in a DAG run; bench/cdc_dag.py).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from datetime import datetime

import adbc_driver_manager
import psycopg

from onramp import db
from onramp.cdc.errors import CdcError
from onramp.cdc.manifest import LakeFile
from onramp.cdc.pgoutput import lsn_to_int, lsn_to_str
from onramp.settings import redact


def sql(name: str) -> str:
    """The statement in ``sql/cdc/<name>.sql`` (run through ADBC: ``$N`` placeholders)."""
    return db.sql("cdc", name)


def connect_warehouse(url: str):
    """An ADBC connection (autocommit off, UTC): bulk COPY and the state update share one transaction."""
    return db.connect_arrow(url, "cdc")


def connect_rows(url: str) -> psycopg.Connection:
    """A psycopg connection whose cursors take the same ``$N`` statements, for state alone (no bulk data)."""
    return db.connect(url, "cdc", cursor_factory=psycopg.RawCursor)


_MISSING_TABLE = (adbc_driver_manager.ProgrammingError, psycopg.errors.UndefinedTable)


def _missing_table(exc: Exception) -> bool:
    return isinstance(exc, psycopg.errors.UndefinedTable) or "42P01" in str(exc)


def _lsn(value: str | None) -> int | None:
    return lsn_to_int(value) if value else None


def _lsn_text(value: int | None) -> str | None:
    return lsn_to_str(value) if value is not None else None


@dataclass
class TableState:
    source: str
    table_name: str
    target: str
    mode: str
    mode_reason: str = ""
    status: str = "snapshotting"
    slot_name: str | None = None
    snapshot_id: str | None = None
    snapshot_lsn: int | None = None
    snapshot_xid: int | None = None
    snapshot_taken_at: datetime | None = None
    snapshot_chunks: int | None = None
    snapshot_blocks_per_chunk: int | None = None
    snapshot_next_chunk: int = 0
    snapshot_consistent: bool = True
    snapshot_completed_at: datetime | None = None
    applied_lsn: int | None = None
    applied_xid: int | None = None
    runs_since_reconcile: int = 0
    columns: list[dict] = field(default_factory=list)
    blocked_reason: str | None = None
    last_batch_id: str | None = None
    last_run_id: str | None = None

    @property
    def snapshot_done(self) -> bool:
        return self.snapshot_completed_at is not None and self.status != "snapshotting"

    def params(self) -> tuple:
        return (
            self.source, self.table_name, self.target, self.mode, self.mode_reason, self.status, self.slot_name,
            self.snapshot_id, _lsn_text(self.snapshot_lsn), self.snapshot_xid, self.snapshot_taken_at,
            self.snapshot_chunks, self.snapshot_blocks_per_chunk, self.snapshot_next_chunk, self.snapshot_consistent,
            self.snapshot_completed_at, _lsn_text(self.applied_lsn), self.applied_xid, self.runs_since_reconcile,
            json.dumps(self.columns), self.blocked_reason, self.last_batch_id, self.last_run_id,
        )


_FIELDS = [f.name for f in fields(TableState)]


def load(cur, source: str, table_name: str, lock: bool = False) -> TableState | None:
    """The table's state; ``lock`` holds its row until the transaction ends (one applier at a time)."""
    try:
        cur.execute(sql("state_get") + (" for update" if lock else ""), (source, table_name))
    except _MISSING_TABLE as exc:
        if _missing_table(exc):
            raise CdcError("the warehouse has no CDC tables yet (ops.cdc_tables is missing); run `onramp migrate`") from None
        raise
    row = cur.fetchone()
    if row is None:
        return None
    values = dict(zip(_FIELDS, row, strict=True))
    values["snapshot_lsn"] = _lsn(values["snapshot_lsn"])
    values["applied_lsn"] = _lsn(values["applied_lsn"])
    values["columns"] = json.loads(values["columns"] or "[]")
    return TableState(**values)


def save(cur, state: TableState) -> None:
    cur.execute(sql("state_save"), state.params())


def save_committed(conn, state: TableState) -> None:
    """Save the state in a transaction of its own (progress that must survive what comes next)."""
    with conn.cursor() as cur:
        save(cur, state)
    conn.commit()


def record_lag(cur, *, source: str, table_name: str, slot_name: str, run_id: str, phase: str, slot, limit_bytes: int) -> None:
    cur.execute(sql("slot_lag_record"), (
        source, table_name, slot_name, run_id, phase, lsn_to_str(slot.current_lsn), _lsn_text(slot.confirmed_flush),
        _lsn_text(slot.restart_lsn), slot.lag_bytes, slot.retained_bytes, slot.wal_status, limit_bytes,
    ))


def record_drift(cur, *, source: str, table_name: str, events: list[dict], batch_id: str, run_id: str) -> None:
    for event in events:
        cur.execute(sql("schema_change_record"), (
            source, table_name, event["column"], event["change"], event.get("old_type"), event.get("new_type"),
            event["action"], batch_id, run_id,
        ))


def record_batch(cur, *, source: str, table_name: str, batch_id: str, kind: str, mode: str, run_id: str,
                 from_position: str | None, to_position: str | None, rows: int, counts: dict, files: list[LakeFile]) -> None:
    cur.execute(sql("batch_record"), (
        source, table_name, batch_id, kind, mode, run_id, from_position, to_position, rows,
        counts.get("I", 0), counts.get("U", 0), counts.get("D", 0), counts.get("T", 0),
        counts.get("reconciled", 0), json.dumps([f.to_dict() for f in files]),
    ))


def status_rows(url: str) -> list[dict]:
    conn = connect_rows(url)
    try:
        with conn.cursor() as cur:
            try:
                cur.execute(sql("status"))
            except _MISSING_TABLE as exc:
                if not _missing_table(exc):
                    raise
                raise CdcError(f"the warehouse {redact(url)} has no CDC tables yet (ops.cdc_tables is missing); "
                               "run `onramp migrate`") from None
            names = [d[0] for d in cur.description]
            return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
    finally:
        conn.close()
