-- Record a slot lag measurement (idempotent per run and phase: a retried task overwrites its row).
-- $1 source, $2 table_name, $3 slot_name, $4 run_id, $5 phase, $6 current_lsn, $7 confirmed_flush_lsn,
-- $8 restart_lsn, $9 lag_bytes, $10 retained_bytes, $11 wal_status, $12 limit_bytes
insert into ops.cdc_slot_lag (source, table_name, slot_name, run_id, phase, current_lsn, confirmed_flush_lsn,
                              restart_lsn, lag_bytes, retained_bytes, wal_status, limit_bytes)
values ($1, $2, $3, $4, $5, $6::pg_lsn, $7::pg_lsn, $8::pg_lsn, $9::bigint, $10::bigint, $11, $12::bigint)
on conflict (source, table_name, run_id, phase) do update set
    slot_name = excluded.slot_name, measured_at = clock_timestamp(), current_lsn = excluded.current_lsn,
    confirmed_flush_lsn = excluded.confirmed_flush_lsn, restart_lsn = excluded.restart_lsn,
    lag_bytes = excluded.lag_bytes, retained_bytes = excluded.retained_bytes, wal_status = excluded.wal_status,
    limit_bytes = excluded.limit_bytes
