-- Grain: one row per user and as-of date (user_id, as_of_date), for every user signed up by the end of
-- var('as_of_date') (UTC; default yesterday).
--
-- Point in time: the features of day D use nothing after the end of D: events with event_at before D + 1 day
-- (stitched with the links known by then), progress started/completed, invitations sent/accepted and
-- subscriptions started/ended before it; plan and MRR come from the subscription active at the end of D,
-- never from users.plan. So a past training set rebuilds exactly (docs/marts.md lists the caveats).
--
-- Incremental, delete+insert on (as_of_date, user_id): a build writes one date and leaves the others as they
-- were built. The pre-hook deletes the whole date first, so rebuilding a date also drops a user deleted since.
{%- set event_groups = {
    'signup': ['signup_started', 'signup_completed'],
    'form': ['form_filled'],
    'step': ['onboarding_step_completed'],
    'feature': ['feature_used'],
    'invite': ['invite_sent'],
    'upgrade': ['plan_upgraded'],
    'view': ['page', 'screen'],
} %}
{%- set windows_days = [1, 7, 28] %}
{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        full_refresh=false,
        unique_key=['as_of_date', 'user_id'],
        pre_hook="{% if is_incremental() %}delete from {{ this }} where as_of_date = '{{ as_of_date() }}'::date{% endif %}",
    )
}}

with

users as (

    select * from {{ ref('stg_app__users') }}

),

progress as (

    select * from {{ ref('stg_app__user_onboarding_progress') }}

),

steps as (

    select * from {{ ref('stg_app__onboarding_steps') }}

),

invitations as (

    select * from {{ ref('stg_app__invitations') }}

),

subscriptions as (

    select * from {{ ref('stg_app__subscriptions') }}

),

events as (

    select * from {{ ref('int_events_stitched_as_of') }}

),

users_signed_up as (

    select
        user_id,
        user_id::text as person_id,
        signed_up_at,
        signup_source,
        device_type,
        country_code,
        utm_campaign

    from users

    where signed_up_at < {{ as_of_end() }}

),

step_progress as (

    select
        progress.user_id,
        {% for step_key in var('onboarding_step_keys') %}
        coalesce(bool_or(steps.step_key = '{{ step_key }}' and progress.completed_at < {{ as_of_end() }}), false)
            as step_{{ step_key }}_completed,
        {% endfor %}
        count(*) filter (where progress.completed_at < {{ as_of_end() }}) as steps_completed

    from progress
    inner join steps
        on progress.step_id = steps.step_id

    where progress.started_at < {{ as_of_end() }}

    group by progress.user_id

),

event_activity as (

    select
        person_id,
        {% for group, event_names in event_groups.items() %}
        {% for days in windows_days %}
        count(*) filter (
            where event_name in ('{{ event_names | join("', '") }}')
                and event_at >= {{ as_of_end() }} - interval '{{ days }} days'
        ) as {{ group }}_events_{{ days }}d,
        {% endfor %}
        {% endfor %}
        avg(duration_ms) filter (where event_name = 'form_filled') as form_completion_ms,
        min(event_at) filter (where event_name = 'feature_used') as first_feature_used_at,
        count(distinct feature) filter (where event_name = 'feature_used') as features_used

    from events

    group by person_id

),

uses_per_feature as (

    -- usage_count is the feature's running count when the event was sent; older events lack it: count them
    select
        person_id,
        feature,
        coalesce(max(usage_count), count(*)) as uses

    from events

    where event_name = 'feature_used' and feature is not null

    group by person_id, feature

),

feature_uses as (

    select
        person_id,
        sum(uses) as feature_uses

    from uses_per_feature

    group by person_id

),

-- Sessions that start in the 28-day window are decided by the events since 30 minutes before it (an earlier
-- event is too far back to continue one), so only those are sessionized: the same sessions as over all history.
recent_events as (

    select
        person_id,
        message_id,
        event_at

    from events

    where event_at >= {{ as_of_end() }} - interval '28 days' - interval '{{ var("session_inactivity_minutes") }} minutes'

),

{{ sessionize('recent_events', 'recent_sessionized') }},

recent_sessions as (

    select
        person_id,
        count(*) filter (where is_session_start) as sessions_28d,
        sum(extract(epoch from session_ended_at - session_started_at)) filter (where is_session_start)
            as time_spent_28d_s

    from recent_sessionized

    where session_started_at >= {{ as_of_end() }} - interval '28 days'

    group by person_id

),

invitations_by_inviter as (

    select
        inviter_user_id as user_id,
        count(*) as invitations_sent,
        count(*) filter (where accepted_at < {{ as_of_end() }}) as invitations_accepted

    from invitations

    where sent_at < {{ as_of_end() }}

    group by inviter_user_id

),

subscription_at_end_of_day as (

    select distinct on (user_id)
        user_id,
        plan,
        mrr_cents

    from subscriptions

    where started_at < {{ as_of_end() }}
        and (ended_at is null or ended_at >= {{ as_of_end() }})

    order by user_id, started_at desc, subscription_id desc

),

final as (

    select
        users_signed_up.user_id::bigint as user_id,
        '{{ as_of_date() }}'::date as as_of_date,
        {% for step_key in var('onboarding_step_keys') %}
        coalesce(step_progress.step_{{ step_key }}_completed, false) as step_{{ step_key }}_completed,
        {% endfor %}
        coalesce(step_progress.steps_completed, 0)::integer as steps_completed,
        {% for group in event_groups %}
        {% for days in windows_days %}
        coalesce(event_activity.{{ group }}_events_{{ days }}d, 0)::integer as {{ group }}_events_{{ days }}d,
        {% endfor %}
        {% endfor %}
        coalesce(recent_sessions.sessions_28d, 0)::integer as sessions_28d,
        coalesce(recent_sessions.time_spent_28d_s, 0)::double precision as time_spent_28d_s,
        event_activity.form_completion_ms::double precision as form_completion_ms,
        extract(
            epoch from event_activity.first_feature_used_at - users_signed_up.signed_up_at
        )::double precision as time_to_first_value_s,
        coalesce(event_activity.features_used, 0)::integer as features_used,
        coalesce(feature_uses.feature_uses, 0)::bigint as feature_uses,
        coalesce(invitations_by_inviter.invitations_sent, 0)::integer as invitations_sent,
        coalesce(invitations_by_inviter.invitations_accepted, 0)::integer as invitations_accepted,
        subscription_at_end_of_day.plan::text as plan,
        coalesce(subscription_at_end_of_day.mrr_cents, 0)::integer as mrr_cents,
        users_signed_up.signup_source::text as signup_source,
        users_signed_up.device_type::text as device_type,
        users_signed_up.country_code::text as country_code,
        users_signed_up.utm_campaign::text as utm_campaign,
        ('{{ as_of_date() }}'::date - (users_signed_up.signed_up_at at time zone 'utc')::date)::integer
            as days_since_signup,
        {{ built_at() }} as built_at

    from users_signed_up
    left join step_progress
        on users_signed_up.user_id = step_progress.user_id
    left join event_activity
        on users_signed_up.person_id = event_activity.person_id
    left join feature_uses
        on users_signed_up.person_id = feature_uses.person_id
    left join recent_sessions
        on users_signed_up.person_id = recent_sessions.person_id
    left join invitations_by_inviter
        on users_signed_up.user_id = invitations_by_inviter.user_id
    left join subscription_at_end_of_day
        on users_signed_up.user_id = subscription_at_end_of_day.user_id

)

select * from final
