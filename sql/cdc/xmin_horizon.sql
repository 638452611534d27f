-- Inside the xmin window's transaction: where the window ends (oldest running transaction) and today's date.
select pg_snapshot_xmin(pg_current_snapshot())::text::bigint, current_date::text
