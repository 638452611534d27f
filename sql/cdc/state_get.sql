-- Load state of one CDC table. $1 source, $2 table_name (schema.table in the source).
select source, table_name, target, mode, mode_reason, status, slot_name, snapshot_id,
       snapshot_lsn::text, snapshot_xid, snapshot_taken_at, snapshot_chunks, snapshot_blocks_per_chunk,
       snapshot_next_chunk, snapshot_consistent, snapshot_completed_at, applied_lsn::text, applied_xid,
       runs_since_reconcile, columns::text, blocked_reason, last_batch_id, last_run_id
from ops.cdc_tables
where source = $1 and table_name = $2
