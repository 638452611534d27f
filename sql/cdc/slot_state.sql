-- A replication slot and the server's current WAL position (logical.SlotState).
-- invalidation_reason exists from PostgreSQL 17 on; read through to_jsonb so that older servers give null.
select s.slot_name, s.active_pid, s.confirmed_flush_lsn::text, s.restart_lsn::text, s.wal_status, s.safe_wal_size,
       to_jsonb(s) ->> 'invalidation_reason', pg_current_wal_lsn()::text
from pg_replication_slots s
where s.slot_name = %(slot)s
