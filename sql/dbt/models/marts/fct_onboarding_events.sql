-- Grain: one row per event (message_id), with its stitched person, session and planned properties as columns.
--
-- Incremental, merged on message_id: a run reads the load batches committed since the newest one already
-- here (minus var('events_lookback_minutes'), 60: batches commit concurrently, so one committed earlier can
-- become visible later; re-reading the overlap merges onto the same rows). Every person those events touch
-- (their own; for an identify/alias also whoever the linked anonymous id's rows belonged to) is re-sessionized
-- from all their events, and all their rows are merged: so an anonymous id linked since the last run has its
-- old rows re-stitched, and a late event that joins or splits a session updates its neighbours. Events of other
-- persons cannot change, so they are not read again. Rows are never deleted here (erasure is its own job).
{{
    config(
        materialized='incremental',
        incremental_strategy='merge',
        unique_key='message_id',
        indexes=[
            {'columns': ['message_id'], 'unique': true},
            {'columns': ['load_batch_committed_at']},
            {'columns': ['anonymous_id']},
        ],
    )
}}

with

-- not materialized: an incremental run reads it twice, each time filtered (by load batch, by person), and
-- PostgreSQL would otherwise compute every event once into a temporary result first
events as not materialized (

    select * from {{ ref('int_events_stitched') }}

),

load_batches as (

    select * from {{ ref('stg_events__load_batches') }}

),

{% if is_incremental() %}

batches_to_read as (

    select load_batch_id

    from load_batches

    where load_batch_committed_at > (
        select coalesce(max(load_batch_committed_at), '-infinity'::timestamptz)
        from {{ this }}
    ) - interval '{{ var("events_lookback_minutes") }} minutes'

),

new_events as (

    -- = any(array(...)): the batch ids become a filter of the scan of raw.events (its load_batch_id index),
    -- so properties are read only for the new events
    select * from events where load_batch_id = any(array(select load_batch_id from batches_to_read))

),

touched_persons as (

    -- the persons the new events belong to; an identify or alias brings its anonymous id's events along
    select person_id from new_events

    union

    -- the persons an identify or alias takes events from: whoever the linked anonymous id's rows belonged to
    -- so far (the anonymous id itself, or another user when this link turns out to be the earliest)
    -- two equi-joins, not one join on `in (anonymous_id, previous_id)`: an OR condition can only be a nested loop,
    -- stored rows x new links (after a backfill of 400k events into a 440k-row fact: hours instead of seconds)
    select stored.person_id
    from {{ this }} as stored
    inner join new_events
        on stored.anonymous_id = new_events.anonymous_id
    where new_events.event_type in ('identify', 'alias')

    union

    select stored.person_id
    from {{ this }} as stored
    inner join new_events
        on stored.anonymous_id = new_events.previous_id
    where new_events.event_type in ('identify', 'alias')

),

-- materialized: the touched persons' events are picked before the sort that sessionizes them (inlined, the
-- planner, misjudging how few persons a run touches, sorts every event first)
events_in_scope as materialized (

    select * from events where person_id in (select person_id from touched_persons)

),

{% else %}

events_in_scope as (

    select * from events

),

{% endif %}

{{ sessionize('events_in_scope', 'sessionized') }},

final as (

    select
        sessionized.message_id,
        sessionized.person_id,
        sessionized.stitched_user_id as user_id,
        sessionized.anonymous_id,
        sessionized.event_type,
        sessionized.event_name,
        sessionized.event_at,
        sessionized.event_date,
        sessionized.session_id,
        sessionized.session_started_at,
        sessionized.is_session_start,

        sessionized.page_name,
        sessionized.page_path,
        sessionized.signup_source,
        sessionized.signup_method as method,
        sessionized.referral_code,
        sessionized.plan,
        sessionized.workspace_id,
        sessionized.form,
        sessionized.fields_completed,
        sessionized.fields_total,
        sessionized.duration_ms,
        sessionized.step_id,
        sessionized.step_key,
        sessionized.step_name,
        sessionized.seconds_since_signup,
        sessionized.feature,
        sessionized.usage_count,
        sessionized.duration_s,
        sessionized.invitation_id,
        sessionized.role,
        sessionized.from_plan,
        sessionized.to_plan,
        sessionized.billing_interval,
        sessionized.seats,
        sessionized.mrr_cents,
        sessionized.currency,
        sessionized.steps_completed,
        sessionized.steps_skipped,

        sessionized.browser,
        sessionized.os,
        sessionized.device,
        sessionized.country,
        sessionized.utm_source,
        sessionized.utm_medium,
        sessionized.utm_campaign,
        sessionized.referrer_type,
        sessionized.schema_version,
        sessionized.is_planned,
        sessionized.load_batch_id,
        load_batches.load_batch_committed_at,
        {{ built_at() }} as built_at

    from sessionized
    left join load_batches
        on sessionized.load_batch_id = load_batches.load_batch_id

)

select * from final
