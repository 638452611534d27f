-- fct_onboarding_events is built incrementally; int_events_sessionized is the same stitching and sessions
-- computed over every event. Any row where they disagree is an event the incremental missed or left stale
-- (e.g. a load batch that became visible more than events_lookback_minutes late): a full refresh repairs it.
with

incremental as (

    select * from {{ ref('fct_onboarding_events') }}

),

full_build as (

    select * from {{ ref('int_events_sessionized') }}

),

final as (

    select
        full_build.message_id,
        full_build.person_id as expected_person_id,
        incremental.person_id,
        full_build.session_id as expected_session_id,
        incremental.session_id

    from full_build
    left join incremental
        on full_build.message_id = incremental.message_id

    where incremental.message_id is null
        or incremental.person_id is distinct from full_build.person_id
        or incremental.session_id is distinct from full_build.session_id

)

select * from final
