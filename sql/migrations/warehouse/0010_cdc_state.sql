-- CDC incremental loads (docs/cdc.md): load state, applied batches, slot lag and schema drift in ops,
-- plus the private schema where a snapshot is built before it is published to staging.
create schema if not exists cdc_work;
comment on schema cdc_work is 'CDC snapshots being built before they are published to staging; never read these';

-- One row per replicated table: where its load stands. Changed in the same transaction as the data.
create table if not exists ops.cdc_tables (
    source                    text        not null,
    table_name                text        not null,
    target                    text        not null,
    mode                      text        not null check (mode in ('log', 'xmin')),
    mode_reason               text        not null default '',
    status                    text        not null check (status in ('snapshotting', 'streaming', 'blocked')),
    slot_name                 text,
    snapshot_id               text,
    snapshot_lsn              pg_lsn,
    snapshot_xid              bigint,
    snapshot_taken_at         timestamptz,
    snapshot_chunks           integer,
    snapshot_blocks_per_chunk bigint,
    snapshot_next_chunk       integer     not null default 0,
    snapshot_consistent       boolean     not null default true,
    snapshot_completed_at     timestamptz,
    applied_lsn               pg_lsn,
    applied_xid               bigint,
    runs_since_reconcile      integer     not null default 0,
    columns                   jsonb       not null default '[]',
    blocked_reason            text,
    last_batch_id             text,
    last_run_id               text,
    updated_at                timestamptz not null default clock_timestamp(),
    primary key (source, table_name)
);
comment on table ops.cdc_tables is 'CDC load state per table: log mode applied every transaction committed before applied_lsn, '
    'xmin mode every row version of a transaction before applied_xid';

-- Every batch applied to the warehouse (a snapshot chunk or a set of changes), once.
create table if not exists ops.cdc_batches (
    source              text        not null,
    table_name          text        not null,
    batch_id            text        not null,
    kind                text        not null check (kind in ('snapshot', 'changes')),
    mode                text        not null,
    run_id              text        not null,
    from_position       text,
    to_position         text,
    rows                bigint      not null,
    inserts             bigint      not null default 0,
    updates             bigint      not null default 0,
    deletes             bigint      not null default 0,
    truncates           bigint      not null default 0,
    reconciled_deletes  bigint      not null default 0,
    files               jsonb       not null default '[]',
    applied_at          timestamptz not null default clock_timestamp(),
    primary key (source, table_name, batch_id)
);

-- Replication slot lag, measured by every run (extract: before reading; apply: after confirming).
create table if not exists ops.cdc_slot_lag (
    source               text        not null,
    table_name           text        not null,
    slot_name            text        not null,
    run_id               text        not null,
    phase                text        not null check (phase in ('extract', 'apply')),
    measured_at          timestamptz not null default clock_timestamp(),
    current_lsn          pg_lsn      not null,
    confirmed_flush_lsn  pg_lsn,
    restart_lsn          pg_lsn,
    lag_bytes            bigint      not null,
    retained_bytes       bigint      not null,
    wal_status           text,
    limit_bytes          bigint      not null,
    primary key (source, table_name, run_id, phase)
);
create index if not exists cdc_slot_lag_recent on ops.cdc_slot_lag (measured_at);
create or replace view ops.cdc_slot_lag_latest as
    select distinct on (source, table_name) *, lag_bytes > limit_bytes as over_limit
    from ops.cdc_slot_lag
    order by source, table_name, measured_at desc;
comment on view ops.cdc_slot_lag_latest is 'latest slot lag per CDC table: what monitoring should alert on';

-- Source schema changes seen by CDC and what was done about them.
create table if not exists ops.cdc_schema_changes (
    source        text        not null,
    table_name    text        not null,
    column_name   text        not null,
    change        text        not null check (change in ('added', 'dropped', 'type_widened', 'type_incompatible')),
    old_type      text,
    new_type      text,
    action        text        not null,
    batch_id      text        not null,
    run_id        text        not null,
    detected_at   timestamptz not null default clock_timestamp(),
    primary key (source, table_name, column_name, change, batch_id)
);
