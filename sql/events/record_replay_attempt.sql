-- A dead letter that still fails the plan in force: its fresh reasons, for the next fix.
update ops.dead_letters
set replay_attempts = replay_attempts + 1, last_replay_reasons = %(reasons)s
where message_id = %(message_id)s
