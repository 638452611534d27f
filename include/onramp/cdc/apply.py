"""Step 3 of a cycle: apply the manifest to the warehouse in one transaction, then confirm the slot.

The data and the table's new position commit together, after checking that the position the batch
starts from is still the recorded one (already applied: only the confirm is left). A snapshot's
remaining chunks are loaded first (:mod:`~onramp.cdc.work_table`), then it is published to staging.
The slot's flush position is confirmed only after that commit; a crash in between makes the next drain
re-send what was applied, which the recorded position makes it skip.
"""

from __future__ import annotations

from datetime import UTC, datetime

from onramp.cdc import catalog, drift, logical, state, warehouse
from onramp.cdc.context import Context
from onramp.cdc.errors import StaleBatch
from onramp.cdc.failpoints import crash_point
from onramp.cdc.manifest import ApplyResult, Changes, Manifest, SlotLagReport
from onramp.cdc.pgtypes import Column
from onramp.cdc.slot_lag import record_lag
from onramp.cdc.work_table import load_remaining_chunks

_RESNAPSHOT_ACTIONS = {
    "added": "resnapshot: column added to staging with every row's value",
    "dropped": "kept in staging, nullable; new rows get null",
    "type_widened": "resnapshot: staging column retyped",
}


def apply(ctx: Context, manifest: Manifest) -> ApplyResult:
    """Apply the manifest to the warehouse (idempotent), then confirm the slot; returns what happened."""
    table = ctx.table
    result = ApplyResult(table=table.id, target=table.target, mode=manifest.mode, changes=manifest.changes.rows,
                         asset_uri=f"warehouse://staging/{table.target}")
    # one connection for the apply and the lag record after the confirm; ADBC only when data moves
    moves_data = bool(manifest.snapshot or manifest.changes.files)
    wh = (state.connect_warehouse if moves_data else state.connect_rows)(ctx.warehouse_url)
    try:
        if manifest.snapshot:
            result.snapshot_rows = load_remaining_chunks(ctx, wh, manifest)
        st = _apply_batch(ctx, wh, manifest, result)
        crash_point("before_confirm")
        if manifest.mode == "log":
            _confirm(ctx, wh, st, manifest, result)
    finally:
        wh.close()
    return result


def _confirm(ctx: Context, wh, st: state.TableState, manifest: Manifest, result: ApplyResult) -> None:
    """Tell the slot what the warehouse holds (the source may free that WAL), and record where the slot stands."""
    table = ctx.table
    with catalog.connect(ctx.source_url, autocommit=True) as src:
        logical.advance_slot(src, table.slot_name, st.applied_lsn)
        slot = logical.slot_state(src, table.slot_name)
    record_lag(ctx, wh, slot, "apply")
    before = manifest.slot_lag_at_extract.lag_bytes if manifest.slot_lag_at_extract else 0
    result.slot_lag = SlotLagReport(slot=table.slot_name, before_bytes=before, after_bytes=slot.lag_bytes,
                                    retained_bytes=slot.retained_bytes, limit_bytes=ctx.source.max_slot_lag_bytes)
    result.slot_lag_bytes = slot.lag_bytes


def _apply_batch(ctx: Context, wh, manifest: Manifest, result: ApplyResult) -> state.TableState:
    """Publish the snapshot (if this manifest has one) and apply the changes, in one transaction."""
    table, snapshot = ctx.table, manifest.snapshot
    with wh.cursor() as cur:
        st = state.load(cur, ctx.source.name, table.qualified, lock=True)
        if st is None:
            raise StaleBatch(f"{table.id}: no load state; run the extraction again")
        if snapshot and st.status == "snapshotting" and st.snapshot_id == snapshot.id:
            _publish_snapshot(ctx, cur, st, manifest, result)
        elif st.status == "snapshotting":
            raise StaleBatch(f"{table.id}: a snapshot is in progress that this run did not extract; run the CDC again")
        st.mode_reason = manifest.mode_reason
        if _already_applied(ctx, st, manifest.changes):
            result.already_applied = True  # a retry after the commit: only the confirm is left
            state.save(cur, st)
        else:
            _apply_changes(ctx, cur, st, manifest, result)
    wh.commit()
    return st


def _publish_snapshot(ctx: Context, cur, st: state.TableState, manifest: Manifest, result: ApplyResult) -> None:
    """Every chunk is in the work table: make it staging, and move the table's position to the snapshot's."""
    table, snapshot, columns = ctx.table, manifest.snapshot, manifest.columns
    if st.snapshot_next_chunk < (snapshot.total_chunks or 0):
        raise StaleBatch(f"{table.id}: snapshot {snapshot.id} has {st.snapshot_next_chunk} of "
                         f"{snapshot.total_chunks} chunks applied; run the CDC again to resume it")
    events = warehouse.rename_incompatible_raw_columns(cur, table, columns, f"before_{snapshot.id[:8]}")
    events += _resnapshot_drift(st.columns, columns)
    result.published = warehouse.publish_snapshot(cur, table, columns)
    warehouse.ensure_raw_table(cur, table, columns)
    state.record_drift(cur, source=ctx.source.name, table_name=table.qualified, events=events,
                       batch_id=f"snapshot-{snapshot.id}", run_id=ctx.run_id)
    by_lsn = manifest.changes.position == "lsn"
    st.status, st.blocked_reason = "streaming", None
    st.snapshot_completed_at = datetime.now(UTC)
    st.columns = [c.to_dict() for c in columns]
    st.applied_lsn = snapshot.lsn if by_lsn else st.applied_lsn
    st.applied_xid = snapshot.xid if not by_lsn else st.applied_xid
    st.runs_since_reconcile = 0 if snapshot.consistent else ctx.source.reconcile_every


def _already_applied(ctx: Context, st: state.TableState, changes: Changes) -> bool:
    """Whether the batch was committed before (a retry after the commit); a batch from elsewhere is stale."""
    position = st.applied_lsn if changes.position == "lsn" else st.applied_xid
    if position == changes.start:
        return False
    if position is None or not (changes.start < position and position >= changes.end):
        raise StaleBatch(f"{ctx.table.id}: batch {changes.batch_id} starts at {changes.start} but the table is "
                         f"at {position}; another run applied in between. Run the CDC again")
    return True


def _apply_changes(ctx: Context, cur, st: state.TableState, manifest: Manifest, result: ApplyResult) -> None:
    """Drift, the change log, staging and the new position, in the caller's transaction."""
    table, changes, columns = ctx.table, manifest.changes, manifest.columns
    warehouse.ensure_raw_table(cur, table, columns)
    known = {c["name"]: c for c in st.columns}
    events = warehouse.sync_columns(cur, table, columns, known)
    state.record_drift(cur, source=ctx.source.name, table_name=table.qualified, events=events,
                       batch_id=changes.batch_id, run_id=ctx.run_id)
    result.schema_changes = events
    if changes.files:
        counts = warehouse.apply_changes(cur, table, columns, ctx.lake_dir, changes.files, ctx.source.batch_rows,
                                         changes.batch_id, crash_point=crash_point)
        result.raw_appended, result.staging_deleted, result.staging_upserted = counts
    if changes.position == "lsn":
        st.applied_lsn = changes.end
    else:
        st.applied_xid = changes.end
        st.runs_since_reconcile = 0 if changes.reconciled else st.runs_since_reconcile + 1
    st.status, st.blocked_reason = "streaming", None
    st.columns = [c.to_dict() for c in columns]
    st.last_batch_id, st.last_run_id = changes.batch_id, ctx.run_id
    state.save(cur, st)
    if changes.rows or changes.files:
        state.record_batch(cur, source=ctx.source.name, table_name=table.qualified, batch_id=changes.batch_id,
                           kind="changes", mode=manifest.mode, run_id=ctx.run_id,
                           from_position=str(changes.start), to_position=str(changes.end),
                           rows=changes.rows, counts=changes.counts, files=changes.files)


def _resnapshot_drift(known: list[dict], columns: list[Column]) -> list[dict]:
    """How a resnapshot moved the columns of an already loaded table (for ops.cdc_schema_changes)."""
    return [{k: e[k] for k in ("column", "change", "old_type", "new_type")} | {"action": _RESNAPSHOT_ACTIONS[e["change"]]}
            for e in drift.compare_columns(known, columns) if e["change"] in _RESNAPSHOT_ACTIONS] if known else []
