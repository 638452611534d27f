-- Idempotent on (run_id, check_name): a retried task rewrites its own rows, never duplicates them.
insert into ops.platform_checks (run_id, check_name, ok, detail, checked_at)
values (%(run_id)s, %(check_name)s, %(ok)s, %(detail)s, %(checked_at)s)
on conflict (run_id, check_name) do update
set ok = excluded.ok, detail = excluded.detail, checked_at = excluded.checked_at;
