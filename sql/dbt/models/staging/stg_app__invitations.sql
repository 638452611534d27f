-- Invitations to a workspace (staging.invitations), renamed and cast. invitee_email is PII: never selected.
with

source as (

    select * from {{ source('staging', 'invitations') }}

),

renamed as (

    select
        id as invitation_id,
        workspace_id,
        inviter_user_id,
        status,
        accepted_user_id,
        sent_at,
        accepted_at,
        created_at,
        updated_at,
        _cdc_commit_ts as cdc_committed_at

    from source

)

select * from renamed
