-- anonymousId -> userId links the stream loader records from identify and alias calls (staging.identity_map).
with

source as (

    select * from {{ source('staging', 'identity_map') }}

),

renamed as (

    select
        anonymous_id,
        user_id,
        via as linked_via,
        first_seen_at,
        last_seen_at

    from source

)

select * from renamed
