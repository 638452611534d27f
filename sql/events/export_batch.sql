-- Re-export one committed batch for the lake, in the column layout the loader writes.
select message_id, type, event_name, event, name, user_id, anonymous_id, group_id, previous_id,
       event_at, event_date, original_at, sent_at, received_at,
       properties::text as properties, traits::text as traits, context::text as context,
       source, schema_version, is_planned, browser, browser_version, os, os_version, device,
       country, region, city, utm_source, utm_medium, utm_campaign, utm_term, utm_content,
       referrer_host, referrer_type, stream_id, load_batch_id
from raw.events
where load_batch_id = $1
