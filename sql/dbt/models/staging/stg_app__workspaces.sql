-- Workspaces (staging.workspaces), renamed and cast.
with

source as (

    select * from {{ source('staging', 'workspaces') }}

),

renamed as (

    select
        id as workspace_id,
        owner_user_id,
        name as workspace_name,
        industry,
        company_size,
        created_at,
        updated_at,
        _cdc_commit_ts as cdc_committed_at

    from source

)

select * from renamed
