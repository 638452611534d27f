-- One dlq_replay run: what matched its filters and what became of it (a re-run of the same run id overwrites).
insert into ops.dead_letter_replays (run_id, filters, matched, reinjected, still_invalid, duplicates)
values (%(run_id)s, %(filters)s, %(matched)s, %(reinjected)s, %(still_invalid)s, %(duplicates)s)
on conflict (run_id) do update
set filters = excluded.filters, matched = excluded.matched, reinjected = excluded.reinjected,
    still_invalid = excluded.still_invalid, duplicates = excluded.duplicates, replayed_at = clock_timestamp()
