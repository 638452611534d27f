-- Publish one micro-batch from its temp table into raw.events; a messageId already there is a duplicate.
-- The loader removed repeats within the batch; returns the messageIds actually inserted (the lake gets those).
insert into raw.events (
    message_id, type, event_name, event, name, user_id, anonymous_id, group_id, previous_id,
    event_at, event_date, original_at, sent_at, received_at, properties, traits, context,
    source, schema_version, is_planned, browser, browser_version, os, os_version, device,
    country, region, city, utm_source, utm_medium, utm_campaign, utm_term, utm_content,
    referrer_host, referrer_type, stream_id, load_batch_id
)
select
    message_id, type, event_name, event, name, user_id, anonymous_id, group_id, previous_id,
    event_at, event_date, original_at, sent_at, received_at,
    properties::jsonb, traits::jsonb, context::jsonb,
    source, schema_version, is_planned, browser, browser_version, os, os_version, device,
    country, region, city, utm_source, utm_medium, utm_campaign, utm_term, utm_content,
    referrer_host, referrer_type, stream_id, load_batch_id
from events_batch
on conflict (message_id) do nothing
returning message_id
