-- One gate's outcome, idempotent per suite and batch (a re-run of the same batch replaces its row).
insert into ops.quality_results (suite, batch_id, stage, success, rows_checked, expectations_evaluated, failures,
                                 details, quarantine_path)
values (%(suite)s, %(batch_id)s, %(stage)s, %(success)s, %(rows)s, %(evaluated)s, %(failures)s, %(details)s,
        %(quarantine_path)s)
on conflict (suite, batch_id) do update
set stage = excluded.stage, success = excluded.success, rows_checked = excluded.rows_checked,
    expectations_evaluated = excluded.expectations_evaluated, failures = excluded.failures,
    details = excluded.details, quarantine_path = excluded.quarantine_path, checked_at = clock_timestamp()
