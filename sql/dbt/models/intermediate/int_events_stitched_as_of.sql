-- Grain: one row per event (message_id) that happened before the end of var('as_of_date') (UTC), stitched with
-- only what was known by then: an identity link counts when its first call came before the end of the day
-- (the earliest link wins, so that is exactly when linked_at is before it). user_features reads it;
-- ephemeral because it depends on the build's as_of_date.
{{ config(materialized='ephemeral') }}

with

events as (

    select * from {{ ref('int_events_stitched') }}

),

events_by_end_of_day as (

    select
        message_id,
        event_name,
        event_at,
        form,
        duration_ms,
        feature,
        usage_count,
        case
            when user_id is not null then user_id
            when linked_at < {{ as_of_end() }} then linked_user_id
            else anonymous_id
        end as person_id

    from events

    where event_at < {{ as_of_end() }}

)

select * from events_by_end_of_day
