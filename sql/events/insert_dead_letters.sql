-- Dead letters from their temp table; a messageId already dead-lettered is kept as first seen.
insert into ops.dead_letters (
    message_id, received_at, sent_at, source, type, event_name, schema_version, reason_codes, reasons,
    payload, enrichment, stream_id, events
)
select distinct on (message_id)
    message_id, received_at, sent_at, source, type, event_name, schema_version, reason_codes::text[], reasons::jsonb,
    payload::jsonb, enrichment::jsonb, stream_id, events
from dead_letters_batch
order by message_id, stream_id
on conflict (message_id) do nothing
