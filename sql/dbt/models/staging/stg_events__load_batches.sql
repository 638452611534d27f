-- The stream loader's micro-batches (ops.event_load_batches): when each batch of raw.events committed.
with

source as (

    select * from {{ source('ops', 'event_load_batches') }}

),

renamed as (

    select
        batch_id as load_batch_id,
        stream,
        entries,
        events,
        loaded,
        duplicates,
        dead_lettered,
        committed_at as load_batch_committed_at

    from source

)

select * from renamed
