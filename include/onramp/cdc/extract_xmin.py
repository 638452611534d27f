"""The xmin-window fallback, for sources that cannot decode WAL: rows by the transaction that wrote them.

After a snapshot, each run reads the row versions written by transactions in ``[applied_xid, oldest
running xid)``: a transaction still running when the window closes is caught by the next window, so
rows are never lost to out-of-order commits (``updated_at`` or id high-water marks would lose them).
Deletes leave no row version: a reconciliation compares the source's keys with staging's every
``reconcile_every`` runs. Reading by xmin scans the table by nature (log mode does not).
"""

from __future__ import annotations

import logging

from onramp import db
from onramp.cdc import catalog, dynamic_sql, logical, state
from onramp.cdc.changes import change_schema, with_meta
from onramp.cdc.context import Context
from onramp.cdc.errors import StaleBatch
from onramp.cdc.failpoints import crash_point
from onramp.cdc.lake import LakeWriter
from onramp.cdc.manifest import Changes, Chunk, Manifest, Snapshot
from onramp.cdc.pgtypes import Column
from onramp.cdc.snapshot import read_snapshot, start_snapshot

log = logging.getLogger(__name__)


def _new_snapshot(ctx: Context, src, wh, st: state.TableState | None, shape: catalog.TableShape,
                  early: dict) -> tuple[state.TableState, list[Chunk], int]:
    """Read the whole table, then record the snapshot's xmin: where the first window starts."""
    if st is not None and st.mode == "log" and st.slot_name:
        logical.drop_slot(src, st.slot_name)  # the table left log mode: its slot would only hold WAL
    st = start_snapshot(ctx, src, wh, st, "xmin", shape)
    chunks, taken_us, xmin = read_snapshot(ctx, st, shape.columns, mode="xmin", consistent=True, **early, first=0,
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
    return st, chunks, taken_us


def extract_xmin(ctx: Context, src, wh, st: state.TableState | None, shape: catalog.TableShape, resnapshot: bool,
                 early: dict) -> Manifest:
    """A snapshot (new or resumed) or the next window; returns the manifest."""
    columns = shape.columns
    resume = (st is not None and st.mode == "xmin" and st.status == "snapshotting" and not resnapshot
              and st.snapshot_xid is not None)
    if resnapshot or st is None or st.mode != "xmin" or (st.status == "snapshotting" and not resume):
        st, chunks, taken_us = _new_snapshot(ctx, src, wh, st, shape, early)
        consistent = True
    elif resume:
        chunks, taken_us, _ = read_snapshot(ctx, st, columns, mode="xmin", consistent=False, **early,
                                            first=st.snapshot_next_chunk, snapshot_name=None, lsn=None)
        consistent = False
    else:
        return _extract_window(ctx, st, columns)
    snapshot = Snapshot(id=st.snapshot_id, lsn=None, xid=st.snapshot_xid, taken_unix_us=taken_us, chunks=chunks,
                        total_chunks=st.snapshot_chunks, consistent=consistent)
    changes = Changes(batch_id=f"xid-{st.snapshot_xid:016X}", position="xid", start=st.snapshot_xid,
                      end=st.snapshot_xid, files=[], rows=0, counts={},
                      reconciled=consistent)  # one snapshot holds every key: as good as a reconciliation
    return ctx.manifest("xmin", columns, snapshot, changes)


def _extract_window(ctx: Context, st: state.TableState, columns: list[Column]) -> Manifest:
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
    changes = Changes(batch_id=batch_id, position="xid", start=lo, end=hi, files=files, rows=counts["U"] + counts["D"],
                      counts={"U": counts["U"], "reconciled": counts["D"], "D": counts["D"]}, reconciled=reconcile)
    log.info("%s: xmin window [%d, %d): %d upserts, %d deletes found by key reconciliation%s", table.id, lo, hi,
             counts["U"], counts["D"], "" if reconcile else " (not due this run)")
    return ctx.manifest("xmin", columns, None, changes)


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
