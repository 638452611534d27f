-- The micro-batch's load state, committed with its rows: events = loaded + duplicates + dead_lettered.
insert into ops.event_load_batches
    (batch_id, stream, first_stream_id, last_stream_id, entries, events, loaded, duplicates, dead_lettered)
values ($1, $2, $3, $4, $5, $6, $7, $8, $9)
