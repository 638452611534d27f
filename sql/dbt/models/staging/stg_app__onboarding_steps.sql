-- The catalog of onboarding checklist steps (staging.onboarding_steps), renamed and cast.
with

source as (

    select * from {{ source('staging', 'onboarding_steps') }}

),

renamed as (

    select
        id::integer as step_id,
        key as step_key,
        name as step_name,
        sort_order::integer as sort_order,
        is_required,
        created_at,
        updated_at,
        _cdc_commit_ts as cdc_committed_at

    from source

)

select * from renamed
