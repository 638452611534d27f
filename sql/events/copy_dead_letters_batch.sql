-- The drained dead letters into their temp table, in the column order onramp.stream.dead_letters writes them.
copy dead_letters_batch (
    message_id, received_at, sent_at, source, type, event_name, schema_version, reason_codes, reasons, payload,
    enrichment, stream_id, events
) from stdin
