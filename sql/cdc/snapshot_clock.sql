-- Inside the snapshot's transaction: its time (unix microseconds) and the oldest transaction it still sees running.
select (extract(epoch from now()) * 1000000)::bigint, pg_snapshot_xmin(pg_current_snapshot())::text::bigint
