-- Dead letters whose messageId is in raw.events already: nothing to replay.
update ops.dead_letters
set status = 'duplicate', replay_run_id = %(run_id)s
where message_id = any(%(message_ids)s) and status = 'pending'
