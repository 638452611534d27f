-- How far the source has flushed WAL: a bounded drain reads up to here and stops.
select pg_current_wal_flush_lsn()::text
