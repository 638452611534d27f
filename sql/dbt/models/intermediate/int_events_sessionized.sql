-- Grain: one row per event (message_id), with its stitched person's session: 30 minutes without an event
-- ends a session (macros/sessionize.sql holds the rule). This is the from-scratch computation over every event;
-- fct_onboarding_events applies the same macro only to the persons an incremental run touches, and the test
-- assert_incremental_events_match_full_build checks the two agree. It costs a sort of every event, so it is
-- tagged audit_full_scan with that test: a frequent schedule can leave both out and run them nightly.
{{ config(materialized='table', tags=['audit_full_scan']) }}

with

events as (

    select * from {{ ref('int_events_stitched') }}

),

{{ sessionize('events', 'sessionized') }}

select * from sessionized
