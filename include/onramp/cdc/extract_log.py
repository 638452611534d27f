"""Log-based extraction: snapshot once through a new slot, then drain the slot from the applied position.

The slot re-sends everything after its confirmed position; transactions the warehouse already holds
(below the applied LSN) are skipped while draining, so a repeated extraction never duplicates. The
batch is named after its start position: re-extracting it overwrites its files.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from onramp.cdc import catalog, drain, logical, state
from onramp.cdc.changes import ChangeBatcher
from onramp.cdc.context import Context
from onramp.cdc.errors import CdcError, SlotLost
from onramp.cdc.failpoints import crash_point
from onramp.cdc.lake import LakeWriter
from onramp.cdc.manifest import Changes, Manifest, Snapshot
from onramp.cdc.pgoutput import lsn_to_str
from onramp.cdc.pgtypes import Column
from onramp.cdc.snapshot import read_snapshot, start_snapshot

log = logging.getLogger(__name__)


def _resnapshot_for_lost_slot(ctx: Context, slot: logical.SlotState | None) -> bool:
    """A streaming table whose slot is gone: resnapshot when configured to, else fail naming the fix."""
    table = ctx.table
    what = "does not exist" if slot is None else f"was invalidated ({slot.invalidation_reason or slot.wal_status})"
    message = (f"{table.id}: replication slot {table.slot_name} {what}: changes since the last run may be lost. "
               f"Run `onramp cdc resnapshot {table.id}` (or trigger cdc_app_db with backfill_table={table.id}); "
               "set on_slot_lost: resnapshot to do this automatically")
    if ctx.source.on_slot_lost != "resnapshot":
        raise SlotLost(message)
    log.warning("%s; resnapshotting automatically (on_slot_lost: resnapshot)", message)
    return True


def _snapshot_through_new_slot(ctx: Context, src, wh, st: state.TableState | None, shape: catalog.TableShape,
                               slot: logical.SlotState | None, early: dict) -> tuple[Snapshot, int]:
    """A new slot, and the table read on the snapshot it exports; returns the snapshot and where the stream starts."""
    table = ctx.table
    if slot is not None and st is None:
        raise CdcError(
            f"{table.id}: replication slot {table.slot_name} already exists but this warehouse has no record of "
            "it, so another Onramp deployment may own it. If it is a leftover, drop it on the source: "
            f"select pg_drop_replication_slot('{table.slot_name}'); otherwise set slot_prefix for this source"
        )
    st = start_snapshot(ctx, src, wh, st, "log", shape)
    logical.drop_slot(src, table.slot_name)
    logical.ensure_publication(src, table)
    with logical.ExportedSlot(ctx.source_url, table.slot_name) as exported:
        st.snapshot_lsn = exported.consistent_lsn
        state.save_committed(wh, st)
        chunks, taken_us, _ = read_snapshot(ctx, st, shape.columns, mode="log", consistent=True, **early, first=0,
                                            snapshot_name=exported.snapshot_name, lsn=exported.consistent_lsn)
    snapshot = Snapshot(id=st.snapshot_id, lsn=st.snapshot_lsn, xid=None, taken_unix_us=taken_us, chunks=chunks,
                        total_chunks=st.snapshot_chunks, consistent=True)
    return snapshot, st.snapshot_lsn


def _resume_snapshot(ctx: Context, src, st: state.TableState, shape: catalog.TableShape,
                     early: dict) -> tuple[Snapshot, int]:
    """Read the chunks an interrupted snapshot still lacks (a fresh snapshot, later than the slot's start)."""
    logical.ensure_publication(src, ctx.table)
    chunks, taken_us, _ = read_snapshot(ctx, st, shape.columns, mode="log", consistent=False, **early,
                                        first=st.snapshot_next_chunk, snapshot_name=None, lsn=st.snapshot_lsn)
    snapshot = Snapshot(id=st.snapshot_id, lsn=st.snapshot_lsn, xid=None, taken_unix_us=taken_us, chunks=chunks,
                        total_chunks=st.snapshot_chunks,
                        consistent=False)  # a fresh snapshot, later than the slot's start: chunks may overlap
    return snapshot, st.snapshot_lsn


def extract_log(ctx: Context, src, wh, st: state.TableState | None, shape: catalog.TableShape,
                slot: logical.SlotState | None, resnapshot: bool, early: dict) -> Manifest:
    """Snapshot (new, resumed) or not, then the changes since; returns the manifest."""
    resume = False
    if st is not None and st.mode == "log" and not resnapshot:
        if st.status == "snapshotting":
            resume = st.snapshot_lsn is not None and slot is not None and not slot.lost
        elif slot is None or slot.lost:
            resnapshot = _resnapshot_for_lost_slot(ctx, slot)
    fresh = resnapshot or st is None or st.mode != "log" or (st.status == "snapshotting" and not resume)
    snapshot = None
    if fresh:
        snapshot, start = _snapshot_through_new_slot(ctx, src, wh, st, shape, slot, early)
    elif resume:
        snapshot, start = _resume_snapshot(ctx, src, st, shape, early)
    else:
        start = st.applied_lsn
        if slot.confirmed_flush is not None and slot.confirmed_flush < start:
            # the last run committed but died before confirming: confirm now, the server can free that WAL
            logical.advance_slot(src, ctx.table.slot_name, start)
    changes, columns = _drain_changes(ctx, src, shape, shape.columns, start)
    return ctx.manifest("log", columns, snapshot, changes)


def _drain_changes(ctx: Context, src, shape: catalog.TableShape, columns: list[Column],
                   start: int) -> tuple[Changes, list[Column]]:
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
        result = drain.drain(ctx.source_url, table, relid=shape.relid, target_lsn=target, skip_before_lsn=start,
                               batcher=batcher, describe=lambda items: catalog.describe_columns(src, items),
                               timeout_seconds=source.drain_timeout_seconds, on_progress=progress)
        files = writer.close()
    except BaseException:
        writer.abort()
        raise
    changes = Changes(batch_id=batch_id, position="lsn", start=start, end=result.confirm_lsn, files=files,
                      rows=batcher.rows, counts=batcher.counts, transactions=result.transactions,
                      skipped_transactions=result.skipped_transactions)
    log.info("%s: %d changes in %d transactions from %s to %s", table.id, batcher.rows, result.transactions,
             lsn_to_str(start), lsn_to_str(result.confirm_lsn))
    return changes, batcher.columns
