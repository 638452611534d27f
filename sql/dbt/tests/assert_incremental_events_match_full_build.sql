-- fct_onboarding_events is built incrementally; int_events_sessionized is the same stitching and sessions
-- computed from scratch over every event. An event where they disagree is one the incremental missed or left
-- stale (e.g. a load batch that became visible more than events_lookback_minutes late): a full refresh repairs
-- it (`onramp marts build --select fct_onboarding_events+ --full-refresh`).
-- The two are built one after the other while the stream loader keeps committing, so only what both saw is
-- compared: persons with an event of a batch newer than the older build's newest batch are left out.
-- It reads every event, so it is tagged like int_events_sessionized: a frequent schedule can leave both out
-- (--exclude tag:audit_full_scan) and run them nightly.
{{ config(tags=['audit_full_scan'], meta={'fix': 'onramp marts build --select fct_onboarding_events+ --full-refresh'}) }}

with

incremental as (

    select * from {{ ref('fct_onboarding_events') }}

),

full_build as (

    select * from {{ ref('int_events_sessionized') }}

),

load_batches as (

    select * from {{ ref('stg_events__load_batches') }}

),

full_build_batches as (

    select
        full_build.person_id,
        load_batches.load_batch_committed_at

    from full_build
    left join load_batches
        on full_build.load_batch_id = load_batches.load_batch_id

),

cutoff as (

    select least(
        (select max(load_batch_committed_at) from incremental),
        (select max(load_batch_committed_at) from full_build_batches)
    ) as committed_at

),

persons_seen_differently as (

    select incremental.person_id
    from incremental
    cross join cutoff
    where incremental.load_batch_committed_at > cutoff.committed_at

    union

    select full_build_batches.person_id
    from full_build_batches
    cross join cutoff
    where full_build_batches.load_batch_committed_at > cutoff.committed_at

),

disagreements as (

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

),

final as (

    select *

    from disagreements

    where not exists (
        select 1
        from persons_seen_differently
        where persons_seen_differently.person_id in (disagreements.expected_person_id, disagreements.person_id)
    )

)

select * from final
