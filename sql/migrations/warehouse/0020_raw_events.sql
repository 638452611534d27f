-- Events landed from the collector's stream: one row per messageId, whatever the redelivery.
-- Written only by the stream loader (COPY into a temp table, then INSERT ... ON CONFLICT DO NOTHING).
create table if not exists raw.events (
    message_id         text        not null primary key,
    type               text        not null,
    event_name         text        not null,  -- the track event, else the call type (identify, page, ...)
    event              text,
    name               text,                  -- page / screen name
    user_id            text,
    anonymous_id       text,
    group_id           text,
    previous_id        text,
    event_at           timestamptz not null,  -- client timestamp corrected for clock skew with sentAt
    event_date         date        not null,  -- UTC date of event_at: the lake partition
    original_at        timestamptz,           -- timestamp as the client sent it
    sent_at            timestamptz,
    received_at        timestamptz not null,
    properties         jsonb       not null default '{}',
    traits             jsonb       not null default '{}',
    context            jsonb       not null default '{}',  -- without context.ip (only its geo is kept)
    source             text        not null,  -- the write key's source name
    schema_version     text        not null,  -- tracking-plan schema the event passed, e.g. signup_started/v1
    is_planned         boolean     not null,  -- false: unknown event accepted under the 'accept' policy
    browser            text,
    browser_version    text,
    os                 text,
    os_version         text,
    device             text,
    country            text,
    region             text,
    city               text,
    utm_source         text,
    utm_medium         text,
    utm_campaign       text,
    utm_term           text,
    utm_content        text,
    referrer_host      text,
    referrer_type      text,
    stream_id          text        not null,  -- Redis stream entry the event arrived in
    load_batch_id      text        not null,  -- ops.event_load_batches.batch_id
    loaded_at          timestamptz not null default clock_timestamp()
);
comment on table raw.events is 'Segment-format events from the collector, validated against the tracking plan and enriched; unique on message_id';
create index if not exists events_event_at_brin on raw.events using brin (event_at);
create index if not exists events_load_batch on raw.events (load_batch_id);
