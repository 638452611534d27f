-- Grain: one row per event (message_id), with the person it belongs to after identity stitching:
-- the userId the event carries, else the user its anonymous id is linked to, else the anonymous id.
-- linked_user_id and linked_at let a point-in-time model stitch as of an earlier date
-- (int_events_stitched_as_of): the earliest link wins, so an anonymous id was linked by the end
-- of day D exactly when linked_at is before it.
{{ config(materialized='ephemeral') }}

with

events as (

    select * from {{ ref('int_events_typed') }}

),

identities as (

    select * from {{ ref('int_identities_resolved') }}

),

stitched as (

    select
        events.*,
        identities.linked_user_id,
        identities.linked_at,
        coalesce(events.user_id, identities.person_id, events.anonymous_id) as person_id,
        coalesce(events.user_id, identities.linked_user_id) as person_user_id

    from events
    left join identities
        on events.anonymous_id = identities.anonymous_id

),

final as (

    select
        stitched.*,
        -- the app user behind the person (ids of the app are bigint; another SDK's userId may not be)
        case when person_user_id ~ '^[0-9]{1,18}$' then person_user_id::bigint end as stitched_user_id

    from stitched

)

select * from final
