"""One CDC cycle for one table: extract → Parquet → gate → apply → confirm. Runnable with or without Airflow.

The three steps hand over a small *manifest* (JSON-able dict: files, positions, columns), which is
what the DAG passes between its mapped tasks through XCom.

Exactly once, whatever is killed when:

* **extract** reads from the position recorded in ``ops.cdc_tables`` (log mode: the slot re-sends
  everything after its confirmed position; transactions below the applied LSN are skipped) and writes
  files named after that position: a repeated extraction overwrites, never duplicates.
* **apply** moves the data and the new position in one warehouse transaction, after checking that
  the position it starts from is still the recorded one (already applied → only confirm).
* a **snapshot** is loaded chunk by chunk into an unpublished work table, each chunk committed with
  its progress (``snapshot_next_chunk``), mostly by the extraction itself as it reads (and only after
  its gate passed the chunk, see :class:`_EarlyLoad`); apply skips what is counted there, and publishes
  to staging only after the gate task.
* the slot's flush position is confirmed **after** that commit; a crash in between makes the next
  drain re-send what was applied, which the recorded position makes it skip.

Set ``ONRAMP_CDC_CRASH_AT`` to one of :data:`CRASH_POINTS` to have the process SIGKILL itself there
(the crash tests do this).
"""

from __future__ import annotations

import logging
import math
import os
import queue
import re
import secrets
import signal
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa

from onramp import db
from onramp.cdc import catalog, drift, dynamic_sql, logical, state, warehouse
from onramp.cdc.changes import ChangeBatcher, change_schema, with_meta
from onramp.cdc.config import CdcConfig, SourceConfig, TableConfig
from onramp.cdc.errors import CdcError, SchemaDriftBlocked, SlotLagExceeded, SlotLost, SourceError, StaleBatch
from onramp.cdc.lake import LakeWriter
from onramp.cdc.pgoutput import lsn_to_str
from onramp.cdc.pgtypes import Column

log = logging.getLogger(__name__)

CRASH_ENV = "ONRAMP_CDC_CRASH_AT"
CRASH_POINTS = ("mid_extract", "after_parquet", "mid_snapshot_apply", "mid_apply", "before_confirm")
_SNAPSHOT_NAME = re.compile(r"^[0-9A-F]+-[0-9A-F]+-[0-9]+$", re.IGNORECASE)
DEFAULT_ROWS_PER_BLOCK = 60


def crash_point(name: str) -> None:
    """Die here, as a kill -9 would, when the crash tests ask for it."""
    if os.environ.get(CRASH_ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)


@dataclass(frozen=True)
class Context:
    """Where one table's cycle reads and writes."""

    config: CdcConfig
    table: TableConfig
    source_url: str
    warehouse_url: str
    lake_dir: Path
    run_id: str

    @property
    def source(self) -> SourceConfig:
        return self.config.source(self.table.source)


def _columns(manifest: dict) -> list[Column]:
    return [Column.from_dict(c) for c in manifest["columns"]]


def choose_mode(source: SourceConfig, table: TableConfig, info: catalog.SourceInfo) -> tuple[str, str]:
    """Log-based unless the table asks for xmin or the source cannot decode WAL (then say so, or fail)."""
    if table.mode == "xmin":
        return "xmin", "declared mode: xmin"
    problem = info.logical_problem()
    if problem is None:
        return "log", ""
    if source.fallback == "xmin":
        reason = f"log-based CDC is not possible: {problem}; using the xmin-window fallback instead"
        log.warning("%s: %s", table.id, reason)
        return "xmin", reason
    raise SourceError(f"{table.id}: log-based CDC is not possible: {problem}; fix the source, "
                      f"or set fallback: xmin for source {source.name} in the CDC sources file")


# ============================================================================ extract

def extract(ctx: Context, *, resnapshot: bool = False, suite_dir: Path | None = None, early_load: bool = True) -> dict:
    """Capture what changed since the last applied position into lake files; returns the manifest.

    A snapshot's chunks are also gated and loaded into the (unpublished) work table as they are
    written, unless ``early_load`` is off (see :class:`_EarlyLoad`); ``suite_dir`` is the gate's.
    """
    table = ctx.table
    with catalog.connect(ctx.source_url, autocommit=True) as src:
        info = catalog.source_info(src)
        if info.encoding != "UTF8":
            raise SourceError(f"{table.id}: the source database is encoded {info.encoding}; Onramp reads UTF8 only")
        mode, reason = choose_mode(ctx.source, table, info)
        shape = catalog.table_shape(src, table, for_log=mode == "log")
        wh = state.connect_warehouse(ctx.warehouse_url)
        lag = None
        try:
            with wh.cursor() as cur:
                st = state.load(cur, ctx.source.name, table.qualified)
            wh.rollback()
            slot = logical.slot_state(src, table.slot_name) if mode == "log" else None
            if slot is not None and st is not None and st.slot_name == table.slot_name:
                lag = _record_lag(ctx, wh, slot, "extract")
            if resnapshot and st is not None and st.status == "snapshotting" and st.last_run_id == ctx.run_id:
                resnapshot = False  # a retry of the run that asked for it: resume that snapshot, do not restart
            if st is not None and st.snapshot_done and st.mode == mode and not resnapshot:
                _block_on_incompatible_drift(ctx, wh, st, shape.columns)
                resnapshot = _needs_resnapshot_for_defaults(ctx, st, shape)
            early = {"suite_dir": suite_dir, "early": early_load}
            if mode == "log":
                manifest = _extract_log(ctx, src, wh, st, shape, slot, resnapshot, early)
            else:
                manifest = _extract_xmin(ctx, src, wh, st, shape, resnapshot, early)
        except SchemaDriftBlocked as exc:
            _save_blocked(ctx, wh, exc)
            if lag and lag["bytes"] > lag["limit"]:
                raise SchemaDriftBlocked(f"{exc}. Meanwhile slot {table.slot_name} keeps {lag['bytes']:,} bytes of WAL "
                                         f"on the source, over the {lag['limit']:,} limit: fix this soon or drop the "
                                         f"slot (`onramp cdc drop-slot {table.id}`)", exc.event) from None
            raise
        finally:
            wh.close()
    manifest["mode_reason"] = reason
    manifest["slot_lag_at_extract"] = lag
    crash_point("after_parquet")
    return manifest


def _record_lag(ctx: Context, wh, slot: logical.SlotState, phase: str) -> dict:
    limit = ctx.source.max_slot_lag_bytes
    with wh.cursor() as cur:
        state.record_lag(cur, source=ctx.source.name, table_name=ctx.table.qualified, slot_name=slot.name,
                         run_id=ctx.run_id, phase=phase, slot=slot, limit_bytes=limit)
    wh.commit()
    if slot.lag_bytes > limit:
        log.warning("%s: slot %s is %s bytes behind (limit %s)", ctx.table.id, slot.name, f"{slot.lag_bytes:,}", f"{limit:,}")
    return {"bytes": slot.lag_bytes, "retained": slot.retained_bytes, "limit": limit}


def _block_on_incompatible_drift(ctx: Context, wh, st: state.TableState, columns: list[Column]) -> None:
    bad = drift.incompatible(drift.compare_columns(st.columns, columns))
    if bad:
        raise logical.drift_blocked(ctx.table, bad[0]["old"], bad[0]["new"])


def _needs_resnapshot_for_defaults(ctx: Context, st: state.TableState, shape: catalog.TableShape) -> bool:
    """A column added with a default gives every existing row a value without any change event: reload."""
    added = [e["column"] for e in drift.compare_columns(st.columns, shape.columns) if e["change"] == "added"]
    filled = [name for name in added if name in shape.with_default]
    if filled:
        log.warning("%s: column(s) %s were added with a default; existing rows got values that no change carries, "
                    "so the table is re-snapshotted", ctx.table.id, filled)
    return bool(filled)


def _save_blocked(ctx: Context, wh, exc: SchemaDriftBlocked) -> None:
    wh.rollback()
    with wh.cursor() as cur:
        st = state.load(cur, ctx.source.name, ctx.table.qualified, lock=True)
        if st is not None:
            st.status, st.blocked_reason, st.last_run_id = "blocked", str(exc), ctx.run_id
            state.save(cur, st)
            if exc.event:
                state.record_drift(cur, source=ctx.source.name, table_name=ctx.table.qualified,
                                   events=[{**exc.event, "action": "blocked the table"}],
                                   batch_id=st.last_batch_id or "-", run_id=ctx.run_id)
    wh.commit()


def _new_snapshot_id() -> str:
    return f"{datetime.now(UTC):%Y%m%dT%H%M%S}{secrets.token_hex(2)}"


def _plan_chunks(shape: catalog.TableShape, chunk_rows: int, version: int) -> tuple[int, int]:
    """(blocks per chunk, chunk count): chunks are ranges of heap blocks, read with TID range scans."""
    if version < 140000 or shape.pages == 0:
        return max(1, shape.pages), 1
    per_block = shape.estimated_rows / shape.pages if shape.estimated_rows > 0 else DEFAULT_ROWS_PER_BLOCK
    blocks = max(1, math.ceil(chunk_rows / max(per_block, 1)))
    return blocks, max(1, math.ceil(shape.pages / blocks))


def _prefetch(reader, depth: int = 2):
    """Decode the next record batches in a thread while the caller encodes Parquet (both release the GIL)."""
    slots: queue.Queue = queue.Queue(maxsize=depth)  # bounded: memory stays a few batches
    done = object()

    def pump() -> None:
        try:
            for batch in reader:
                slots.put(batch)
            slots.put(done)
        except BaseException as exc:  # handed to the consumer, raised there
            slots.put(exc)

    thread = threading.Thread(target=pump, name="cdc-prefetch", daemon=True)
    thread.start()
    while True:
        item = slots.get()
        if item is done:
            break
        if isinstance(item, BaseException):
            raise item
        yield item
    thread.join()


def _save_state(wh, st: state.TableState) -> None:
    with wh.cursor() as cur:
        state.save(cur, st)
    wh.commit()


def _read_chunks(ctx: Context, st: state.TableState, columns: list[Column], *, first: int,
                 snapshot_name: str | None, lsn: int | None, early: _EarlyLoad | None = None) -> tuple[list[dict], int, int]:
    """Copy chunks ``first..`` of the table to the lake in one repeatable-read transaction.

    With ``snapshot_name`` the transaction adopts the slot's exported snapshot (exactly the slot's
    start); without, it takes a fresh one (resuming: later than the slot's start, which the stream's
    replay from that start makes whole). Returns (chunks, snapshot time in unix µs, snapshot xmin).
    ``early`` gates and loads each chunk into the work table as it is read (see :class:`_EarlyLoad`).
    """
    table = ctx.table
    schema = change_schema(columns)
    conn = db.connect_arrow(ctx.source_url, "cdc", autocommit=True)
    chunks = []
    try:
        cur = conn.cursor()
        cur.execute("begin isolation level repeatable read read only")
        if snapshot_name:
            if not _SNAPSHOT_NAME.match(snapshot_name):
                raise CdcError(f"unexpected snapshot name {snapshot_name!r}")
            cur.execute(dynamic_sql.set_transaction_snapshot(snapshot_name))
        cur.execute("set local timezone = 'UTC'")
        cur.execute("set local datestyle = 'ISO, YMD'")
        cur.execute("set local intervalstyle = 'postgres'")
        cur.execute(db.sql("cdc", "snapshot_clock"))
        taken_us, xmin = cur.fetchone()
        date = datetime.fromtimestamp(taken_us / 1e6, UTC).strftime("%Y-%m-%d")
        total, per_chunk = st.snapshot_chunks or 1, st.snapshot_blocks_per_chunk or 1
        for index in range(first, total):
            first_block = index * per_chunk if total > 1 else None
            # the last chunk is open-ended: it takes blocks added since the plan
            end_block = (index + 1) * per_chunk if total > 1 and index < total - 1 else None
            cur.execute(dynamic_sql.snapshot_chunk(table, columns, first_block=first_block, end_block=end_block))
            batch_id = f"snapshot-{st.snapshot_id}-c{index:05d}"
            writer = LakeWriter(ctx.lake_dir, table, batch_id, ctx.run_id, default_date=date,
                                row_group_rows=ctx.source.batch_rows)
            job = early.begin(index, {"lsn": lsn, "commit_unix_us": taken_us}) if early is not None else None
            try:
                for batch in _prefetch(cur.fetch_record_batch()):
                    batch = with_meta(batch, schema, op="r", detected_by="snapshot", lsn=lsn, commit_unix_us=taken_us)
                    writer.write(batch)
                    if job is not None:
                        job.feed(batch)
                files = writer.close()
            except BaseException:
                writer.abort()
                if job is not None:
                    job.end(None)
                raise
            chunk = {"index": index, "batch_id": batch_id, "files": [f.to_dict() for f in files],
                     "rows": sum(f.rows for f in files), "lsn": lsn, "commit_unix_us": taken_us}
            chunks.append(chunk)
            if early is not None:
                early.end(chunk, job)
            crash_point("mid_extract")
        cur.execute("commit")
        cur.close()
    finally:
        conn.close()
    return chunks, taken_us, xmin


def _start_snapshot(ctx: Context, src, wh, st: state.TableState | None, mode: str, shape: catalog.TableShape) -> state.TableState:
    """Record the intent to snapshot (so a crash right after is recognised), then reset slot and state."""
    table = ctx.table
    fresh = state.TableState(source=ctx.source.name, table_name=table.qualified, target=table.target, mode=mode)
    if st is not None:  # keep what describes the published staging table until the new snapshot replaces it
        fresh.columns, fresh.applied_lsn, fresh.applied_xid = st.columns, st.applied_lsn, st.applied_xid
    fresh.snapshot_id = _new_snapshot_id()
    fresh.slot_name = table.slot_name if mode == "log" else None
    fresh.last_run_id = ctx.run_id
    blocks, count = _plan_chunks(shape, ctx.source.snapshot_chunk_rows, src.info.server_version)
    fresh.snapshot_blocks_per_chunk, fresh.snapshot_chunks = blocks, count
    _save_state(wh, fresh)
    return fresh


def _manifest(ctx: Context, mode: str, columns: list[Column], snapshot: dict | None, changes: dict) -> dict:
    return {
        "version": 1, "table": ctx.table.id, "source": ctx.source.name, "target": ctx.table.target,
        "mode": mode, "run_id": ctx.run_id, "columns": [c.to_dict() for c in columns],
        "snapshot": snapshot, "changes": changes,
    }


def _extract_log(ctx: Context, src, wh, st: state.TableState | None, shape: catalog.TableShape,
                 slot: logical.SlotState | None, resnapshot: bool, early: dict) -> dict:
    table, source = ctx.table, ctx.source
    resume = False
    if st is not None and st.mode == "log" and not resnapshot:
        if st.status == "snapshotting":
            resume = st.snapshot_lsn is not None and slot is not None and not slot.lost
        elif slot is None or slot.lost:
            what = "does not exist" if slot is None else f"was invalidated ({slot.invalidation_reason or slot.wal_status})"
            message = (f"{table.id}: replication slot {table.slot_name} {what}: changes since the last run may be lost. "
                       f"Run `onramp cdc resnapshot {table.id}` (or trigger cdc_app_db with backfill_table={table.id}); "
                       "set on_slot_lost: resnapshot to do this automatically")
            if source.on_slot_lost != "resnapshot":
                raise SlotLost(message)
            log.warning("%s; resnapshotting automatically (on_slot_lost: resnapshot)", message)
            resnapshot = True
    fresh = resnapshot or st is None or st.mode != "log" or (st.status == "snapshotting" and not resume)

    snapshot = None
    columns = shape.columns
    if fresh:
        if slot is not None and st is None:
            raise CdcError(
                f"{table.id}: replication slot {table.slot_name} already exists but this warehouse has no record of "
                "it, so another Onramp deployment may own it. If it is a leftover, drop it on the source: "
                f"select pg_drop_replication_slot('{table.slot_name}'); otherwise set slot_prefix for this source"
            )
        st = _start_snapshot(ctx, src, wh, st, "log", shape)
        logical.drop_slot(src, table.slot_name)
        logical.ensure_publication(src, table)
        with logical.ExportedSlot(ctx.source_url, table.slot_name) as exported:
            st.snapshot_lsn = exported.consistent_lsn
            _save_state(wh, st)
            chunks, taken_us, _ = _read_snapshot(ctx, st, columns, mode="log", consistent=True, **early, first=0,
                                                 snapshot_name=exported.snapshot_name, lsn=exported.consistent_lsn)
        snapshot = {"id": st.snapshot_id, "lsn": st.snapshot_lsn, "xid": None, "taken_unix_us": taken_us,
                    "chunks": chunks, "total_chunks": st.snapshot_chunks, "consistent": True}
        start = st.snapshot_lsn
    elif resume:
        logical.ensure_publication(src, table)
        chunks, taken_us, _ = _read_snapshot(ctx, st, columns, mode="log", consistent=False, **early,
                                             first=st.snapshot_next_chunk, snapshot_name=None, lsn=st.snapshot_lsn)
        snapshot = {"id": st.snapshot_id, "lsn": st.snapshot_lsn, "xid": None, "taken_unix_us": taken_us,
                    "chunks": chunks, "total_chunks": st.snapshot_chunks,
                    "consistent": False}  # a fresh snapshot, later than the slot's start: chunks may overlap
        start = st.snapshot_lsn
    else:
        start = st.applied_lsn
        if slot.confirmed_flush is not None and slot.confirmed_flush < start:
            # the last run committed but died before confirming: confirm now, the server can free that WAL
            logical.advance_slot(src, table.slot_name, start)
    changes, columns = _drain_changes(ctx, src, shape, columns, start)
    return _manifest(ctx, "log", columns, snapshot, changes)


def _drain_changes(ctx: Context, src, shape: catalog.TableShape, columns: list[Column], start: int) -> tuple[dict, list[Column]]:
    table, source = ctx.table, ctx.source
    batch_id = f"lsn-{start:016X}"
    target = logical.current_flush_lsn(src)
    writer = LakeWriter(ctx.lake_dir, table, batch_id, ctx.run_id,
                        default_date=datetime.now(UTC).strftime("%Y-%m-%d"), row_group_rows=source.batch_rows)
    batcher = ChangeBatcher(columns, source.batch_rows, writer.write)

    def progress() -> None:
        if batcher.rows:
            crash_point("mid_extract")

    try:
        result = logical.drain(ctx.source_url, table, relid=shape.relid, target_lsn=target, skip_before_lsn=start,
                               batcher=batcher, describe=lambda items: catalog.describe_columns(src, items),
                               timeout_seconds=source.drain_timeout_seconds, on_progress=progress)
        files = writer.close()
    except BaseException:
        writer.abort()
        raise
    changes = {"batch_id": batch_id, "position": "lsn", "from": start, "to": result.confirm_lsn,
               "files": [f.to_dict() for f in files], "rows": batcher.rows, "counts": batcher.counts,
               "transactions": result.transactions, "skipped_transactions": result.skipped_transactions}
    log.info("%s: %d changes in %d transactions from %s to %s", table.id, batcher.rows, result.transactions,
             lsn_to_str(start), lsn_to_str(result.confirm_lsn))
    return changes, batcher.columns


# ---------------------------------------------------------------------------- xmin fallback

def _extract_xmin(ctx: Context, src, wh, st: state.TableState | None, shape: catalog.TableShape, resnapshot: bool,
                  early: dict) -> dict:
    columns = shape.columns
    resume = (st is not None and st.mode == "xmin" and st.status == "snapshotting" and not resnapshot
              and st.snapshot_xid is not None)
    if resnapshot or st is None or st.mode != "xmin" or (st.status == "snapshotting" and not resume):
        if st is not None and st.mode == "log" and st.slot_name:
            logical.drop_slot(src, st.slot_name)  # the table left log mode: its slot would only hold WAL
        st = _start_snapshot(ctx, src, wh, st, "xmin", shape)
        chunks, taken_us, xmin = _read_snapshot(ctx, st, columns, mode="xmin", consistent=True, **early, first=0,
                                                snapshot_name=None, lsn=None)
        # the early load committed progress meanwhile: set the snapshot's xid on the stored state, not ours
        with wh.cursor() as cur:
            stored = state.load(cur, ctx.source.name, ctx.table.qualified, lock=True)
            if stored is None or stored.snapshot_id != st.snapshot_id:
                wh.rollback()
                raise StaleBatch(f"{ctx.table.id}: snapshot {st.snapshot_id} was replaced while it was read; "
                                 "run the CDC again")
            stored.snapshot_xid = st.snapshot_xid = xmin
            state.save(cur, stored)
        wh.commit()
        consistent = True
    elif resume:
        chunks, taken_us, _ = _read_snapshot(ctx, st, columns, mode="xmin", consistent=False, **early,
                                             first=st.snapshot_next_chunk, snapshot_name=None, lsn=None)
        consistent = False
    else:
        return _extract_xmin_window(ctx, wh, st, columns)
    snapshot = {"id": st.snapshot_id, "lsn": None, "xid": st.snapshot_xid, "taken_unix_us": taken_us,
                "chunks": chunks, "total_chunks": st.snapshot_chunks, "consistent": consistent}
    changes = {"batch_id": f"xid-{st.snapshot_xid:016X}", "position": "xid", "from": st.snapshot_xid,
               "to": st.snapshot_xid, "files": [], "rows": 0, "counts": {},
               "reconciled": consistent}  # one snapshot holds every key: as good as a reconciliation
    return _manifest(ctx, "xmin", columns, snapshot, changes)


def _extract_xmin_window(ctx: Context, wh, st: state.TableState, columns: list[Column]) -> dict:
    """Row versions written by transactions in [applied_xid, oldest running xid), plus reconciled deletes."""
    table, source = ctx.table, ctx.source
    lo = st.applied_xid
    batch_id = f"xid-{lo:016X}"
    schema = change_schema(columns)
    reconcile = st.runs_since_reconcile + 1 >= source.reconcile_every
    conn = db.connect_arrow(ctx.source_url, "cdc", autocommit=True)
    try:
        cur = conn.cursor()
        cur.execute("begin isolation level repeatable read read only")
        cur.execute("set local timezone = 'UTC'")
        cur.execute("set local datestyle = 'ISO, YMD'")
        cur.execute(db.sql("cdc", "xmin_horizon"))
        hi, today = cur.fetchone()
        writer = LakeWriter(ctx.lake_dir, table, batch_id, ctx.run_id, default_date=today, row_group_rows=source.batch_rows)
        counts = {"U": 0, "D": 0}
        try:
            cur.execute(dynamic_sql.xmin_window(table, columns, lo, hi))
            for batch in cur.fetch_record_batch():
                xids = batch.column(batch.num_columns - 1)
                data = batch.drop_columns(["_onramp_xid"])
                writer.write(with_meta(data, schema, op="U", detected_by="xmin", xid=xids))
                counts["U"] += batch.num_rows
                crash_point("mid_extract")
            if reconcile:
                counts["D"] = _reconcile(ctx, cur, writer, schema)
            files = writer.close()
        except BaseException:
            writer.abort()
            raise
        cur.execute("commit")
        cur.close()
    finally:
        conn.close()
    changes = {"batch_id": batch_id, "position": "xid", "from": lo, "to": hi, "files": [f.to_dict() for f in files],
               "rows": counts["U"] + counts["D"], "counts": {"U": counts["U"], "reconciled": counts["D"], "D": counts["D"]},
               "reconciled": reconcile}
    log.info("%s: xmin window [%d, %d): %d upserts, %d deletes found by key reconciliation%s", table.id, lo, hi,
             counts["U"], counts["D"], "" if reconcile else " (not due this run)")
    return _manifest(ctx, "xmin", columns, None, changes)


def _reconcile(ctx: Context, source_cur, writer: LakeWriter, schema) -> int:
    """Deletes in xmin mode: keys in staging that the source (same snapshot as the window) no longer has."""
    table = ctx.table
    source_cur.execute(dynamic_sql.source_keys(table))
    wh = db.connect_arrow(ctx.warehouse_url, "cdc")
    found = 0
    try:
        with wh.cursor() as cur:
            cur.adbc_ingest("_cdc_source_keys", source_cur.fetch_record_batch(), mode="create", temporary=True)
            cur.execute(dynamic_sql.staging_keys_missing_from(table, "_cdc_source_keys"))
            for batch in cur.fetch_record_batch():
                writer.write(with_meta(batch, schema, op="D", detected_by="reconciliation"))
                found += batch.num_rows
        wh.rollback()
    finally:
        wh.close()
    return found


# ============================================================================ gate

def gate(ctx: Context, manifest: dict, suite_dir: Path | None = None) -> dict:
    """Validate every file of the manifest with GX (raises GateFailed after quarantining)."""
    from onramp.cdc.gate import gate_files, suite_for

    suite = suite_for(ctx.table, suite_dir)
    chunks = (manifest["snapshot"] or {}).get("chunks", [])
    early = [c["gated"] for c in chunks if (c.get("gated") or {}).get("suite") == suite]  # gated while extracted
    files = [f for c in chunks if (c.get("gated") or {}).get("suite") != suite for f in c["files"]]
    files += manifest["changes"]["files"]
    results = gate_files(ctx.table, files, lake_dir=ctx.lake_dir, warehouse_url=ctx.warehouse_url, suite_dir=suite_dir)
    return {**manifest, "gated": {"batches": len(results) + sum(g["batches"] for g in early),
                                  "rows": sum(r.rows for r in results) + sum(g["rows"] for g in early),
                                  "chunks_gated_during_extract": len(early)}}


# ============================================================================ apply

def apply(ctx: Context, manifest: dict) -> dict:
    """Apply the manifest to the warehouse (idempotent), then confirm the slot; returns what happened."""
    table, source = ctx.table, ctx.source
    columns = _columns(manifest)
    result = {"table": table.id, "target": table.target, "mode": manifest["mode"], "snapshot_rows": 0,
              "changes": manifest["changes"]["rows"], "asset_uri": f"warehouse://staging/{table.target}"}
    wh = state.connect_warehouse(ctx.warehouse_url)  # one connection for the apply and the lag record after the confirm
    try:
        if manifest["snapshot"]:
            result["snapshot_rows"] = _apply_snapshot_chunks(ctx, wh, manifest, columns)
        st = _apply_changes(ctx, wh, manifest, columns, result)
        crash_point("before_confirm")
        if manifest["mode"] == "log":
            with catalog.connect(ctx.source_url, autocommit=True) as src:
                logical.advance_slot(src, table.slot_name, st.applied_lsn)
                slot = logical.slot_state(src, table.slot_name)
            _record_lag(ctx, wh, slot, "apply")
            before = (manifest.get("slot_lag_at_extract") or {}).get("bytes", 0)
            result["slot_lag"] = {"slot": table.slot_name, "before_bytes": before, "after_bytes": slot.lag_bytes,
                                  "retained_bytes": slot.retained_bytes, "limit_bytes": source.max_slot_lag_bytes}
            result["slot_lag_bytes"] = slot.lag_bytes
    finally:
        wh.close()
    return result


def enforce_slot_lag(result: dict) -> None:
    """Fail loudly when a slot was or is further behind than its limit (after the data was applied)."""
    lag = result.get("slot_lag")
    if not lag:
        return
    before, after, limit = lag["before_bytes"], lag["after_bytes"], lag["limit_bytes"]
    if max(before, after) <= limit:
        return
    when = (f"is {after:,} bytes of WAL behind after this run" if after > limit else
            f"was {before:,} bytes of WAL behind when this run started (now {after:,})")
    raise SlotLagExceeded(
        f"{result['table']}: slot {lag['slot']} {when}, over the limit of {limit:,} (max_slot_lag_bytes). "
        "The source keeps that WAL on disk until the slot catches up: run the CDC more often or find what "
        f"held it back; if the source disk is at risk, drop the slot (`onramp cdc drop-slot {result['table']}`) and "
        "resnapshot later. This run's data is applied."
    )


_PUBLISHED = object()


def _chunk_start(ctx: Context, wh, cur, snapshot: dict, index: int, columns: list[Column]):
    """Lock the state, check chunk ``index`` is the next one, make the work table ready for it.

    Returns the locked state, None when the chunk was loaded before (by the extraction or an earlier
    attempt) or ``_PUBLISHED`` when the whole snapshot is published already (a retry after the final
    commit); in those two cases the transaction is rolled back.
    """
    table = ctx.table
    st = state.load(cur, ctx.source.name, table.qualified, lock=True)
    if st is None or st.snapshot_id != snapshot["id"] or st.status != "snapshotting":
        wh.rollback()
        if st is not None and st.snapshot_id == snapshot["id"]:
            return _PUBLISHED
        raise StaleBatch(f"{table.id}: snapshot {snapshot['id']} is no longer the table's current snapshot; "
                         "this run's files are obsolete, run the CDC again")
    if index < st.snapshot_next_chunk:
        wh.rollback()
        return None
    if index != st.snapshot_next_chunk:
        raise StaleBatch(f"{table.id}: snapshot chunk {index} arrived but chunk {st.snapshot_next_chunk} is next")
    if index == 0 or not warehouse.table_exists(cur, "cdc_work", table.work_table):
        if index != 0:
            raise CdcError(f"{table.id}: the snapshot work table cdc_work.{table.work_table} is gone; "
                           f"run `onramp cdc resnapshot {table.id}`")
        warehouse.create_work_table(cur, table, columns, with_key=not snapshot["consistent"])
    elif not snapshot["consistent"]:
        warehouse.add_work_key(cur, table)
    return st


def _chunk_finish(ctx: Context, cur, st: state.TableState, mode: str, snapshot: dict, chunk: dict) -> None:
    """Record the chunk's progress in the same transaction as its rows (the caller commits)."""
    st.snapshot_next_chunk = chunk["index"] + 1
    st.snapshot_consistent = st.snapshot_consistent and snapshot["consistent"]
    st.last_run_id = ctx.run_id
    state.save(cur, st)
    state.record_batch(cur, source=ctx.source.name, table_name=ctx.table.qualified, batch_id=chunk["batch_id"],
                       kind="snapshot", mode=mode, run_id=ctx.run_id, from_position=None,
                       to_position=None, rows=chunk["rows"], counts={"r": chunk["rows"]}, files=chunk["files"])


def _chunk_meta(chunk: dict) -> dict | None:
    """The metadata every row of a snapshot chunk shares (manifests of older versions do not say)."""
    return {"lsn": chunk["lsn"], "commit_unix_us": chunk["commit_unix_us"]} if "commit_unix_us" in chunk else None


def _load_snapshot_chunk(ctx: Context, wh, mode: str, snapshot: dict, chunk: dict, columns: list[Column]) -> int | object | None:
    """Load one chunk from its files into the work table and commit it with its progress; returns rows loaded.

    None when the chunk was loaded before, ``_PUBLISHED`` when the snapshot is published already.
    """
    with wh.cursor() as cur:
        st = _chunk_start(ctx, wh, cur, snapshot, chunk["index"], columns)
        if st is None or st is _PUBLISHED:
            return st
        loaded = warehouse.load_chunk(cur, ctx.table, columns, ctx.lake_dir, chunk["files"],
                                      upsert=not snapshot["consistent"], batch_rows=ctx.source.batch_rows,
                                      meta=_chunk_meta(chunk))
        _chunk_finish(ctx, cur, st, mode, snapshot, chunk)
    wh.commit()
    return loaded


def _apply_snapshot_chunks(ctx: Context, wh, manifest: dict, columns: list[Column]) -> int:
    """Load the chunks the extraction did not load already; returns the rows this run loaded."""
    loaded = 0
    for chunk in manifest["snapshot"]["chunks"]:
        rows = _load_snapshot_chunk(ctx, wh, manifest["mode"], manifest["snapshot"], chunk, columns)
        if rows is _PUBLISHED:
            return loaded
        if rows is None:  # loaded before: by this run's extraction (counted), or by an earlier attempt
            loaded += chunk.get("loaded") or 0
            continue
        loaded += rows
        crash_point("mid_snapshot_apply")
    return loaded


class _Job:
    """One chunk streamed to the loader while it is read: its record batches, then the gate's verdict.

    The extraction feeds and ends it; the loader takes batches, then the verdict (``decision``, which
    also consumes whatever batches are left, so the extraction never waits on a loader that gave up).
    """

    def __init__(self, index: int, meta: dict):
        self.index, self.meta = index, meta
        self.batches: queue.Queue = queue.Queue(maxsize=4)  # bounded: a few record batches in memory
        self.verdict: queue.Queue = queue.Queue(maxsize=1)  # the chunk dict once gated, None to roll back
        self.ended = self.exhausted = self.decided = False
        self._decision: dict | None = None

    def feed(self, batch) -> None:
        self.batches.put(batch)

    def end(self, chunk: dict | None) -> None:
        """No more batches; ``chunk`` (gated) lets the load commit, None rolls it back."""
        if not self.ended:
            self.ended = True
            self.batches.put(None)
            self.verdict.put(chunk)

    def next_batch(self):
        if self.exhausted:
            return None
        batch = self.batches.get()
        self.exhausted = batch is None
        return batch

    def decision(self) -> dict | None:
        while self.next_batch() is not None:
            pass
        if not self.decided:
            self.decided, self._decision = True, self.verdict.get()
        return self._decision


class _EarlyLoad:
    """Gate and load each snapshot chunk while the extraction reads on (the two cores overlap).

    For a consistent snapshot whose columns all load directly, each chunk's record batches are copied
    into the unpublished work table by a loader thread *while* they are written to Parquet (one
    transaction per chunk, held open); when the chunk's files close, the extraction validates them
    with the table's suite and only then lets the loader commit the chunk, together with its progress,
    exactly as the apply step would (a failing gate rolls it back). Otherwise (a resumed snapshot loads
    as upserts) the chunk is handed to the loader once its files are closed and gated, and loaded from
    them. A failing chunk is not quarantined here: the early work stops at it, and the gate task
    validates it again, quarantines it and fails as for any other batch. The gate task skips chunks
    marked ``gated`` (same suite) and the apply step skips chunks counted in ``snapshot_next_chunk``;
    publishing to staging stays in apply, after the gate task. Any trouble (gate, suite, load) only
    stops the early work: the later tasks do the rest and raise there if the problem persists.
    """

    def __init__(self, ctx: Context, columns: list[Column], *, mode: str, snapshot: dict, suite_dir: Path | None):
        self.ctx, self.columns, self.mode, self.suite_dir = ctx, columns, mode, suite_dir
        self.snapshot = snapshot  # id and consistent: what the loads check against the state
        self.streaming = snapshot["consistent"] and all(c.loads_directly for c in columns)
        self.jobs: queue.Queue = queue.Queue(maxsize=1)
        self.stopped: str | None = None
        self.thread: threading.Thread | None = None

    def _stop(self, why: str) -> None:
        if self.stopped is None:
            self.stopped = why
            log.warning("%s: snapshot chunks are no longer gated and loaded during the extraction (%s); "
                        "the gate and apply tasks take over", self.ctx.table.id, why)

    def _put(self, item) -> None:
        if self.thread is None:
            self.thread = threading.Thread(target=self._run, name="cdc-snapshot-load", daemon=True)
            self.thread.start()
        self.jobs.put(item)

    def begin(self, index: int, meta: dict) -> _Job | None:
        """Before chunk ``index`` is read: a job to stream its batches to, when streaming."""
        if self.stopped or not self.streaming:
            return None
        job = _Job(index, meta)
        self._put(job)
        return job

    def end(self, chunk: dict, job: _Job | None) -> None:
        """The chunk's files are closed: gate them (in this thread: GX wants the GIL anyway), then commit or load."""
        if self.stopped:
            if job is not None:
                job.end(None)
            return
        from onramp.cdc.gate import gate_files, suite_for

        try:
            results = gate_files(self.ctx.table, chunk["files"], lake_dir=self.ctx.lake_dir,
                                 warehouse_url=self.ctx.warehouse_url, suite_dir=self.suite_dir, quarantine=False)
        except Exception as exc:  # noqa: BLE001 - the gate task meets it again and reports it properly
            self._stop(f"chunk {chunk['index']} did not pass the gate: {str(exc).strip().splitlines()[0]}")
            if job is not None:
                job.end(None)
            return
        chunk["gated"] = {"suite": suite_for(self.ctx.table, self.suite_dir), "batches": len(results),
                          "rows": sum(r.rows for r in results)}
        if job is not None:
            job.end(chunk)
        else:
            self._put(chunk)

    def _run(self) -> None:
        wh = None
        while (item := self.jobs.get()) is not None:
            try:
                if self.stopped:
                    raise _Skip
                if wh is None:
                    wh = state.connect_warehouse(self.ctx.warehouse_url)
                if isinstance(item, _Job):
                    chunk, rows = self._stream(wh, item)
                else:
                    chunk, rows = item, _load_snapshot_chunk(self.ctx, wh, self.mode, self.snapshot, item, self.columns)
                if rows is None or rows is _PUBLISHED:
                    self._stop(f"chunk {chunk['index']} is loaded already")
                    continue
            except _Skip:
                if isinstance(item, _Job):
                    item.decision()
                continue
            except Exception as exc:  # noqa: BLE001 - the apply step meets it again and reports it properly
                self._stop(f"loading a chunk failed: {str(exc).strip().splitlines()[0] if str(exc).strip() else exc!r}")
                if wh is not None:
                    wh.close()
                    wh = None
                if isinstance(item, _Job):
                    item.decision()
                continue
            chunk["loaded"] = rows
            crash_point("mid_snapshot_apply")
        if wh is not None:
            wh.close()

    def _stream(self, wh, job: _Job):
        """COPY the job's batches into the work table as they come; commit once the gate passed the chunk."""
        table, data = self.ctx.table, [c.name for c in self.columns]
        with wh.cursor() as cur:
            st = _chunk_start(self.ctx, wh, cur, self.snapshot, job.index, self.columns)
            if st is None or st is _PUBLISHED:
                chunk = job.decision()
                if chunk is None:
                    raise _Skip
                return chunk, st
            loaded = 0
            first = job.next_batch()
            if first is not None:
                # every row of the chunk has the same metadata: column defaults, not COPY data (see load_chunk)
                warehouse.set_snapshot_meta_defaults(cur, table, job.meta["lsn"], job.meta["commit_unix_us"])

                def rows():
                    batch = first
                    while batch is not None:
                        yield batch.select(data)
                        batch = job.next_batch()

                reader = pa.RecordBatchReader.from_batches(first.select(data).schema, rows())
                loaded = cur.adbc_ingest(table.work_table, reader, mode="append", db_schema_name="cdc_work")
            chunk = job.decision()
            if chunk is None or chunk["rows"] != loaded:
                wh.rollback()
                if chunk is not None:
                    raise CdcError(f"chunk {job.index}: {loaded} rows streamed, {chunk['rows']} written")
                raise _Skip
            _chunk_finish(self.ctx, cur, st, self.mode, self.snapshot, chunk)
        wh.commit()
        return chunk, loaded

    def close(self) -> None:
        """Wait for the chunk being loaded (its commit is whole either way)."""
        if self.thread is not None:
            self.jobs.put(None)
            self.thread.join()
            self.thread = None


class _Skip(Exception):
    """The loader passes on a job (early work stopped, or the gate failed the chunk)."""


def _read_snapshot(ctx: Context, st: state.TableState, columns: list[Column], *, mode: str, consistent: bool,
                   suite_dir: Path | None, early: bool, **read) -> tuple[list[dict], int, int]:
    """:func:`_read_chunks`, with each chunk gated and loaded into the work table as it is read."""
    if not early:
        return _read_chunks(ctx, st, columns, **read)
    loader = _EarlyLoad(ctx, columns, mode=mode, snapshot={"id": st.snapshot_id, "consistent": consistent},
                        suite_dir=suite_dir)
    try:
        return _read_chunks(ctx, st, columns, early=loader, **read)
    finally:
        loader.close()


def _apply_changes(ctx: Context, wh, manifest: dict, columns: list[Column], result: dict) -> state.TableState:
    table, changes = ctx.table, manifest["changes"]
    by_lsn = changes["position"] == "lsn"
    with wh.cursor() as cur:
        st = state.load(cur, ctx.source.name, table.qualified, lock=True)
        if st is None:
            raise StaleBatch(f"{table.id}: no load state; run the extraction again")
        snapshot = manifest["snapshot"]
        if snapshot and st.status == "snapshotting" and st.snapshot_id == snapshot["id"]:
            if st.snapshot_next_chunk < (snapshot["total_chunks"] or 0):
                raise StaleBatch(f"{table.id}: snapshot {snapshot['id']} has {st.snapshot_next_chunk} of "
                                 f"{snapshot['total_chunks']} chunks applied; run the CDC again to resume it")
            events = warehouse.rename_incompatible_raw_columns(cur, table, columns, f"before_{snapshot['id'][:8]}")
            events += _resnapshot_drift(st.columns, columns)
            result["published"] = warehouse.publish_snapshot(cur, table, columns)
            warehouse.ensure_raw_table(cur, table, columns)
            state.record_drift(cur, source=ctx.source.name, table_name=table.qualified, events=events,
                               batch_id=f"snapshot-{snapshot['id']}", run_id=ctx.run_id)
            st.status, st.blocked_reason = "streaming", None
            st.snapshot_completed_at = datetime.now(UTC)
            st.columns = [c.to_dict() for c in columns]
            st.applied_lsn = snapshot["lsn"] if by_lsn else st.applied_lsn
            st.applied_xid = snapshot["xid"] if not by_lsn else st.applied_xid
            st.runs_since_reconcile = 0 if snapshot["consistent"] else ctx.source.reconcile_every
        elif st.status == "snapshotting":
            raise StaleBatch(f"{table.id}: a snapshot is in progress that this run did not extract; run the CDC again")
        st.mode_reason = manifest.get("mode_reason", "")
        position = st.applied_lsn if by_lsn else st.applied_xid
        if position != changes["from"]:
            if position is None or not (changes["from"] < position and position >= changes["to"]):
                raise StaleBatch(f"{table.id}: batch {changes['batch_id']} starts at {changes['from']} but the table is "
                                 f"at {position}; another run applied in between. Run the CDC again")
            result["already_applied"] = True  # a retry after the commit: only the confirm is left
        if not result.get("already_applied"):
            warehouse.ensure_raw_table(cur, table, columns)
            known = {c["name"]: c for c in st.columns}
            events = warehouse.sync_columns(cur, table, columns, known)
            state.record_drift(cur, source=ctx.source.name, table_name=table.qualified, events=events,
                               batch_id=changes["batch_id"], run_id=ctx.run_id)
            result["schema_changes"] = events
            if changes["files"]:
                result.update(warehouse.apply_changes(cur, table, columns, ctx.lake_dir, changes["files"],
                                                      ctx.source.batch_rows, changes["batch_id"], crash_point=crash_point))
            if by_lsn:
                st.applied_lsn = changes["to"]
            else:
                st.applied_xid = changes["to"]
                st.runs_since_reconcile = 0 if changes.get("reconciled") else st.runs_since_reconcile + 1
            st.status, st.blocked_reason = "streaming", None
            st.columns = [c.to_dict() for c in columns]
            st.last_batch_id, st.last_run_id = changes["batch_id"], ctx.run_id
            state.save(cur, st)
            if changes["rows"] or changes["files"]:
                state.record_batch(cur, source=ctx.source.name, table_name=table.qualified, batch_id=changes["batch_id"],
                                   kind="changes", mode=manifest["mode"], run_id=ctx.run_id,
                                   from_position=str(changes["from"]), to_position=str(changes["to"]),
                                   rows=changes["rows"], counts=changes["counts"], files=changes["files"])
        else:
            state.save(cur, st)
    wh.commit()
    return st


_RESNAPSHOT_ACTIONS = {
    "added": "resnapshot: column added to staging with every row's value",
    "dropped": "kept in staging, nullable; new rows get null",
    "type_widened": "resnapshot: staging column retyped",
}


def _resnapshot_drift(known: list[dict], columns: list[Column]) -> list[dict]:
    """How a resnapshot moved the columns of an already loaded table (for ops.cdc_schema_changes)."""
    return [{k: e[k] for k in ("column", "change", "old_type", "new_type")} | {"action": _RESNAPSHOT_ACTIONS[e["change"]]}
            for e in drift.compare_columns(known, columns) if e["change"] in _RESNAPSHOT_ACTIONS] if known else []


# ============================================================================ one cycle

def run_table(ctx: Context, *, resnapshot: bool = False, suite_dir: Path | None = None) -> dict:
    """extract → gate → apply for one table (what the DAG does in three tasks)."""
    manifest = extract(ctx, resnapshot=resnapshot, suite_dir=suite_dir)
    manifest = gate(ctx, manifest, suite_dir)
    result = apply(ctx, manifest)
    enforce_slot_lag(result)
    return result


def drop_table_slot(source_url: str, table: TableConfig) -> bool:
    with catalog.connect(source_url, autocommit=True) as src:
        return logical.drop_slot(src, table.slot_name)


__all__ = ["CRASH_POINTS", "Context", "apply", "enforce_slot_lag", "extract", "gate", "run_table", "SlotLost"]
