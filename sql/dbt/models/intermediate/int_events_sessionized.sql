-- Grain: one row per event (message_id), with its stitched person's session: 30 minutes without an event
-- ends a session (macros/sessionize.sql holds the rule; fct_onboarding_events applies the same macro to the
-- persons an incremental run touches, and a test checks the two agree).
with

events as (

    select * from {{ ref('int_events_stitched') }}

),

{{ sessionize('events', 'sessionized') }}

select * from sessionized
