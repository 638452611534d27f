-- Grain: one row per event (message_id). The planned properties of the tracking plan as typed columns;
-- a property an older event lacks (or sends with another JSON type) is null.
{{ config(materialized='ephemeral') }}

with

events as (

    select * from {{ ref('stg_events__events') }}

),

typed as (

    select
        message_id,
        event_type,
        event_name,
        user_id,
        anonymous_id,
        previous_id,
        event_at,
        (event_at at time zone 'utc')::date as event_date,
        schema_version,
        is_planned,
        browser,
        os,
        device,
        country,
        utm_source,
        utm_medium,
        utm_campaign,
        referrer_type,
        load_batch_id,

        -- page and screen
        page_name,
        {{ json_text('properties', 'path') }} as page_path,
        {{ json_text('properties', 'title') }} as page_title,

        -- signup_started, signup_completed
        {{ json_text('properties', 'signup_source') }} as signup_source,
        {{ json_text('properties', 'method') }} as signup_method,
        {{ json_text('properties', 'referral_code') }} as referral_code,
        {{ json_text('properties', 'plan') }} as plan,
        {{ json_text('properties', 'workspace_id') }} as workspace_id,

        -- form_filled
        {{ json_text('properties', 'form') }} as form,
        {{ json_array_length('properties', 'fields') }} as fields_completed,
        {{ json_number('properties', 'fields_total', 'integer') }} as fields_total,
        {{ json_number('properties', 'duration_ms', 'bigint') }} as duration_ms,

        -- onboarding_step_completed
        {{ json_number('properties', 'step_id', 'integer') }} as step_id,
        {{ json_text('properties', 'step_key') }} as step_key,
        {{ json_text('properties', 'step_name') }} as step_name,
        {{ json_number('properties', 'sort_order', 'integer') }} as step_sort_order,

        -- email_verified
        {{ json_number('properties', 'seconds_since_signup', 'double precision') }} as seconds_since_signup,

        -- feature_used
        {{ json_text('properties', 'feature') }} as feature,
        {{ json_number('properties', 'usage_count', 'integer') }} as usage_count,
        {{ json_number('properties', 'duration_s', 'double precision') }} as duration_s,

        -- invite_sent
        {{ json_text('properties', 'invitation_id') }} as invitation_id,
        {{ json_text('properties', 'role') }} as role,

        -- plan_upgraded
        {{ json_text('properties', 'from_plan') }} as from_plan,
        {{ json_text('properties', 'to_plan') }} as to_plan,
        {{ json_text('properties', 'billing_interval') }} as billing_interval,
        {{ json_number('properties', 'seats', 'integer') }} as seats,
        {{ json_number('properties', 'mrr_cents', 'integer') }} as mrr_cents,
        {{ json_text('properties', 'currency') }} as currency,

        -- onboarding_completed
        {{ json_number('properties', 'steps_completed', 'integer') }} as steps_completed,
        {{ json_number('properties', 'steps_skipped', 'integer') }} as steps_skipped

    from events

)

select * from typed
