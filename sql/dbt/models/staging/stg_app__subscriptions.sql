-- Plan history (staging.subscriptions): one active row per user, superseded and canceled rows kept.
with

source as (

    select * from {{ source('staging', 'subscriptions') }}

),

renamed as (

    select
        id as subscription_id,
        user_id,
        workspace_id,
        plan,
        status,
        billing_interval,
        seats,
        mrr_cents,
        currency::text as currency,
        started_at,
        ended_at,
        cancel_reason,
        created_at,
        updated_at,
        _cdc_commit_ts as cdc_committed_at

    from source

)

select * from renamed
