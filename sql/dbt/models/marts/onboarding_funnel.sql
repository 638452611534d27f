-- Grain: one row per day, signup cohort and step (entered_on, signup_cohort_week, step_id).
--   entered_on          UTC date the users started (entered) the step
--   signup_cohort_week  Monday of the users' signup week, UTC: date_trunc('week', signed_up_at)
--   entered             users of the cohort who started the step that day
--   completed           those of them whose step is completed (whenever it was completed; skipped is not)
--   drop_off            entered - completed
--   median_seconds_to_complete  percentile_cont(0.5) of started -> completed among the completed
-- Only users in dim_users count (a progress row of a user not replicated yet waits for the next build).
with

steps as (

    select * from {{ ref('fct_onboarding_steps') }}

),

users as (

    select * from {{ ref('dim_users') }}

),

step_entries as (

    select
        (steps.started_at at time zone 'utc')::date as entered_on,
        users.signup_cohort_week,
        steps.step_id,
        steps.step_key,
        steps.step_name,
        steps.sort_order,
        steps.user_id,
        steps.is_completed,
        steps.seconds_to_complete

    from steps
    inner join users
        on steps.user_id = users.user_id

),

final as (

    select
        entered_on,
        signup_cohort_week,
        step_id,
        step_key,
        step_name,
        sort_order,
        -- one row per user and step in fct_onboarding_steps (tested), so rows count users
        count(*)::integer as entered,
        (count(*) filter (where is_completed))::integer as completed,
        (count(*) filter (where not is_completed))::integer as drop_off,
        percentile_cont(0.5) within group (order by seconds_to_complete) as median_seconds_to_complete,
        {{ built_at() }} as built_at

    from step_entries

    group by entered_on, signup_cohort_week, step_id, step_key, step_name, sort_order

)

select * from final
