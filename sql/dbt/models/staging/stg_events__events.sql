-- Segment events landed by the stream loader (raw.events), renamed and cast; properties stay jsonb
-- (int_events_typed reads them). Left behind in raw: traits (identify carries email and name), context,
-- region and city, and properties.invitee_email (invite_sent): PII never leaves raw.
with

source as (

    select * from {{ source('raw', 'events') }}

),

renamed as (

    select
        message_id,
        type as event_type,
        event_name,
        name as page_name,
        -- an SDK may send "" for an absent id; it means absent
        nullif(user_id, '') as user_id,
        nullif(anonymous_id, '') as anonymous_id,
        nullif(previous_id, '') as previous_id,
        nullif(group_id, '') as group_id,
        event_at,
        original_at,
        sent_at,
        received_at,
        properties - 'invitee_email' as properties,
        source as write_key_source,
        schema_version,
        is_planned,
        browser,
        browser_version,
        os,
        os_version,
        device,
        country,
        utm_source,
        utm_medium,
        utm_campaign,
        utm_term,
        utm_content,
        referrer_host,
        referrer_type,
        load_batch_id,
        loaded_at

    from source

)

select * from renamed
