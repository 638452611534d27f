-- Events that broke the tracking plan, with machine-readable reasons, until replayed after a fix.
create table if not exists ops.dead_letters (
    message_id       text        not null primary key,
    received_at      timestamptz not null,
    sent_at          timestamptz,           -- the request's sentAt, for clock-skew correction on replay
    source           text        not null,
    type             text,
    event_name       text,
    schema_version   text        not null,  -- the schema the event failed, e.g. signup_started/v1
    reason_codes     text[]      not null,  -- e.g. {schema.required,unknown_event}
    reasons          jsonb       not null,  -- [{"code", "path" (JSONPath), "message"}]
    payload          jsonb       not null,  -- the message as sent (context.ip removed)
    enrichment       jsonb       not null default '{}',  -- what ingest derived (geo, user agent, campaign)
    status           text        not null default 'pending' check (status in ('pending', 'replayed', 'duplicate')),
    replay_attempts  int         not null default 0,
    last_replay_reasons jsonb,
    replayed_at      timestamptz,
    replay_run_id    text,
    stream_id        text        not null,
    loaded_at        timestamptz not null default clock_timestamp()
);
comment on table ops.dead_letters is 'events the collector dead-lettered (tracking-plan violations); dlq_replay re-validates and re-injects them';
create index if not exists dead_letters_pending on ops.dead_letters (received_at) where status = 'pending';

-- One row per dlq_replay run: what matched its filters and what became of it.
create table if not exists ops.dead_letter_replays (
    run_id          text        not null primary key,
    filters         jsonb       not null,
    matched         int         not null,
    reinjected      int         not null,
    still_invalid   int         not null,
    duplicates      int         not null,
    replayed_at     timestamptz not null default clock_timestamp()
);
