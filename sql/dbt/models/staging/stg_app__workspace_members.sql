-- Who belongs to which workspace (staging.workspace_members), renamed and cast.
with

source as (

    select * from {{ source('staging', 'workspace_members') }}

),

renamed as (

    select
        id as workspace_member_id,
        workspace_id,
        user_id,
        role,
        joined_at,
        created_at,
        updated_at,
        _cdc_commit_ts as cdc_committed_at

    from source

)

select * from renamed
