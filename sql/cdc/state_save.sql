-- Save the load state of one CDC table (insert or overwrite); run in the transaction that moved the data.
insert into ops.cdc_tables (
    source, table_name, target, mode, mode_reason, status, slot_name, snapshot_id,
    snapshot_lsn, snapshot_xid, snapshot_taken_at, snapshot_chunks, snapshot_blocks_per_chunk,
    snapshot_next_chunk, snapshot_consistent, snapshot_completed_at, applied_lsn, applied_xid,
    runs_since_reconcile, columns, blocked_reason, last_batch_id, last_run_id, updated_at
) values (
    $1, $2, $3, $4, $5, $6, $7, $8,
    $9::pg_lsn, $10::bigint, $11::timestamptz, $12::int, $13::bigint,
    $14::int, $15::boolean, $16::timestamptz, $17::pg_lsn, $18::bigint,
    $19::int, $20::jsonb, $21, $22, $23, clock_timestamp()
)
on conflict (source, table_name) do update set
    target = excluded.target, mode = excluded.mode, mode_reason = excluded.mode_reason, status = excluded.status,
    slot_name = excluded.slot_name, snapshot_id = excluded.snapshot_id, snapshot_lsn = excluded.snapshot_lsn,
    snapshot_xid = excluded.snapshot_xid, snapshot_taken_at = excluded.snapshot_taken_at,
    snapshot_chunks = excluded.snapshot_chunks, snapshot_blocks_per_chunk = excluded.snapshot_blocks_per_chunk,
    snapshot_next_chunk = excluded.snapshot_next_chunk, snapshot_consistent = excluded.snapshot_consistent,
    snapshot_completed_at = excluded.snapshot_completed_at, applied_lsn = excluded.applied_lsn,
    applied_xid = excluded.applied_xid, runs_since_reconcile = excluded.runs_since_reconcile,
    columns = excluded.columns, blocked_reason = excluded.blocked_reason, last_batch_id = excluded.last_batch_id,
    last_run_id = excluded.last_run_id, updated_at = excluded.updated_at
