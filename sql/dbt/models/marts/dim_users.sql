-- Grain: one row per application user (user_id), the person events are stitched to.
-- Attributes are the app's current state; activity (events, sessions) comes from fct_onboarding_events.
-- No clear-text PII (staging never selects it).
with

users as (

    select * from {{ ref('stg_app__users') }}

),

identities as (

    select * from {{ ref('int_identities_resolved') }}

),

events as (

    select * from {{ ref('fct_onboarding_events') }}

),

anonymous_ids_per_user as (

    select
        linked_user_id,
        count(*) as anonymous_id_count

    from identities

    where is_linked

    group by linked_user_id

),

activity_per_user as (

    select
        user_id,
        min(event_at) as first_event_at,
        max(event_at) as last_event_at,
        count(*) as event_count,
        count(distinct session_id) as session_count

    from events

    where user_id is not null

    group by user_id

),

final as (

    select
        users.user_id,
        users.signup_source,
        users.utm_campaign,
        users.device_type,
        users.os,
        users.browser,
        users.country_code,
        users.locale,
        users.plan,
        users.status,
        users.email_verified_at is not null as is_verified,
        users.referred_by_code is not null as is_referred,
        users.is_marketing_opt_in,
        users.signed_up_at,
        users.email_verified_at,
        date_trunc('week', users.signed_up_at at time zone 'utc')::date as signup_cohort_week,
        coalesce(anonymous_ids_per_user.anonymous_id_count, 0)::integer as anonymous_id_count,
        coalesce(activity_per_user.event_count, 0)::integer as event_count,
        coalesce(activity_per_user.session_count, 0)::integer as session_count,
        activity_per_user.first_event_at,
        activity_per_user.last_event_at,
        {{ built_at() }} as built_at

    from users
    left join anonymous_ids_per_user
        on users.user_id::text = anonymous_ids_per_user.linked_user_id
    left join activity_per_user
        on users.user_id = activity_per_user.user_id

)

select * from final
