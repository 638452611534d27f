-- Grain: one row per user and onboarding step the user started (user_id, step_id), from the app's progress
-- joined to the step catalog. Rebuilt every run.
with

progress as (

    select * from {{ ref('stg_app__user_onboarding_progress') }}

),

steps as (

    select * from {{ ref('stg_app__onboarding_steps') }}

),

final as (

    select
        progress.user_id,
        progress.step_id,
        steps.step_key,
        steps.step_name,
        steps.sort_order,
        steps.is_required,
        progress.status,
        progress.status = 'completed' as is_completed,
        progress.started_at,
        progress.completed_at,
        case
            when progress.status = 'completed'
                then extract(epoch from progress.completed_at - progress.started_at)::double precision
        end as seconds_to_complete,
        progress.progress_id,
        {{ built_at() }} as built_at

    from progress
    inner join steps
        on progress.step_id = steps.step_id

)

select * from final
