-- The loader's own dead letters of batch $1 (temp table loader_dead_letters), in the batch's transaction; a
-- messageId already dead-lettered is kept as first seen. Returns the events the inserted ones stand for.
with inserted as (
    insert into ops.dead_letters (
        message_id, received_at, sent_at, source, type, event_name, schema_version, reason_codes, reasons, payload,
        stream_id, events, load_batch_id
    )
    select distinct on (message_id)
        message_id, received_at, sent_at, source, type, event_name, schema_version, array[reason_code],
        reasons::jsonb, payload::jsonb, stream_id, events, $1
    from loader_dead_letters
    order by message_id, stream_id
    on conflict (message_id) do nothing
    returning events
)
select coalesce(sum(events), 0)::bigint as events
from inserted
