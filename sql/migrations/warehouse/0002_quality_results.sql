-- Every quality gate's outcome, one row per suite and batch (a replayed batch overwrites its row).
create table if not exists ops.quality_results (
    suite                  text        not null,
    batch_id               text        not null,
    stage                  text        not null,
    success                boolean     not null,
    rows_checked           bigint      not null,
    expectations_evaluated int         not null,
    failures               jsonb       not null default '[]',
    details                jsonb       not null default '[]',
    quarantine_path        text,
    checked_at             timestamptz not null default clock_timestamp(),
    primary key (suite, batch_id)
);
create index if not exists quality_results_failed on ops.quality_results (checked_at) where not success;
