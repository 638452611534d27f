-- Each user's progress on each onboarding step (staging.user_onboarding_progress), renamed and cast.
with

source as (

    select * from {{ source('staging', 'user_onboarding_progress') }}

),

renamed as (

    select
        id as progress_id,
        user_id,
        step_id::integer as step_id,
        status,
        started_at,
        completed_at,
        created_at,
        updated_at,
        _cdc_commit_ts as cdc_committed_at

    from source

)

select * from renamed
