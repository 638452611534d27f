-- Which of these messageIds raw.events already holds (a dead letter the sender fixed and sent again).
select message_id from raw.events where message_id = any(%(message_ids)s)
