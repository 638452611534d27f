-- Stream loader state: one row per micro-batch, written in the same transaction as its rows.
create table if not exists ops.event_load_batches (
    batch_id         text        not null primary key,
    stream           text        not null,
    first_stream_id  text        not null,
    last_stream_id   text        not null,
    entries          int         not null,  -- stream entries (requests) in the batch
    events           int         not null,  -- events in those entries (redelivered and repeated ones included)
    loaded           int         not null,  -- new rows in raw.events
    duplicates       int         not null,  -- events - loaded: messageIds already loaded or repeated in the batch
    lake_written     boolean     not null default false,
    lake_files       jsonb       not null default '[]',
    committed_at     timestamptz not null default clock_timestamp()
);
create index if not exists event_load_batches_lake_pending on ops.event_load_batches (committed_at) where not lake_written;
