-- Dead letters re-injected into the events stream by replay run %(run_id)s.
update ops.dead_letters
set status = 'replayed', replayed_at = clock_timestamp(), replay_run_id = %(run_id)s,
    replay_attempts = replay_attempts + 1
where message_id = any(%(message_ids)s) and status = 'pending'
