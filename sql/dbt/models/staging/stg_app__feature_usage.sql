-- Per user and feature: how often and when it was used (staging.feature_usage), renamed and cast.
-- usage_count and last_used_at are current state, not a history.
with

source as (

    select * from {{ source('staging', 'feature_usage') }}

),

renamed as (

    select
        id as feature_usage_id,
        user_id,
        workspace_id,
        feature,
        usage_count,
        first_used_at,
        last_used_at,
        created_at,
        updated_at,
        _cdc_commit_ts as cdc_committed_at

    from source

)

select * from renamed
