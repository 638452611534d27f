-- Every CDC table's state with its latest slot lag, for `onramp cdc status` and monitoring.
select t.source, t.table_name, t.target, t.mode, t.status, t.applied_lsn::text, t.applied_xid,
       t.snapshot_next_chunk, t.snapshot_chunks, l.lag_bytes, l.limit_bytes, l.measured_at,
       t.blocked_reason, t.mode_reason, t.last_run_id, t.updated_at
from ops.cdc_tables t
left join ops.cdc_slot_lag_latest l using (source, table_name)
order by t.source, t.table_name
