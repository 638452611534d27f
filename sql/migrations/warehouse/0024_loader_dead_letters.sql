-- The stream loader dead-letters what it cannot load (an undecodable stream entry or row, a row raw.events refuses)
-- instead of leaving it pending in front of every later batch; the conservation counts include it.
alter table ops.event_load_batches
    add column if not exists dead_lettered int not null default 0;
comment on column ops.event_load_batches.dead_lettered is
    'events of the batch the loader dead-lettered into ops.dead_letters (stream.undecodable, warehouse.refused); '
    'events = loaded + duplicates + dead_lettered';
comment on column ops.event_load_batches.duplicates is
    'events - loaded - dead_lettered: messageIds already loaded or dead-lettered, or repeated in the batch';

alter table ops.dead_letters
    add column if not exists events int not null default 1,
    add column if not exists load_batch_id text;
comment on column ops.dead_letters.events is
    'events this dead letter stands for: 1, or for a stream entry the loader could not read, the count it declared';
comment on column ops.dead_letters.load_batch_id is
    'the loader batch (ops.event_load_batches) that dead-lettered it; null for the collector''s dead letters';
