-- Application accounts (staging.users, replicated by CDC), renamed and cast.
-- email, full_name, phone and ip_address are PII: they are never selected, so nothing downstream can reach them.
with

source as (

    select * from {{ source('staging', 'users') }}

),

renamed as (

    select
        id as user_id,
        country_code::text as country_code,
        locale,
        signup_source,
        utm_campaign,
        referral_code,
        referred_by_code,
        device_type,
        os,
        browser,
        plan,
        status,
        marketing_opt_in as is_marketing_opt_in,
        email_verified_at,
        signed_up_at,
        last_seen_at,
        created_at,
        updated_at,
        _cdc_commit_ts as cdc_committed_at

    from source

)

select * from renamed
