-- Grain: one row per anonymous id seen in an event or an identity link.
-- person_id is the stitched person: the user id when an identify/alias links the anonymous id, the earliest
-- link winning when one device maps to several users; else the anonymous id itself.
-- A table (indexed on anonymous_id) because every event model joins it.
{{
    config(
        materialized='table',
        indexes=[{'columns': ['anonymous_id'], 'unique': true}],
    )
}}

with

identity_links as (

    select * from {{ ref('stg_events__identity_map') }}

),

events as (

    select * from {{ ref('stg_events__events') }}

),

ranked_links as (

    select
        anonymous_id,
        user_id,
        linked_via,
        first_seen_at,
        row_number() over (partition by anonymous_id order by first_seen_at, user_id) as link_rank,
        count(*) over (partition by anonymous_id) as linked_user_count

    from identity_links

),

earliest_links as (

    select * from ranked_links where link_rank = 1

),

anonymous_ids as (

    select anonymous_id from events where anonymous_id is not null
    union
    select anonymous_id from identity_links

),

final as (

    select
        anonymous_ids.anonymous_id,
        coalesce(earliest_links.user_id, anonymous_ids.anonymous_id) as person_id,
        earliest_links.user_id as linked_user_id,
        earliest_links.linked_via,
        earliest_links.first_seen_at as linked_at,
        coalesce(earliest_links.linked_user_count, 0)::integer as linked_user_count,
        earliest_links.user_id is not null as is_linked

    from anonymous_ids
    left join earliest_links
        on anonymous_ids.anonymous_id = earliest_links.anonymous_id

)

select * from final
