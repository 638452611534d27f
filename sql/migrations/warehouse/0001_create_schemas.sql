-- The warehouse's public contract: one schema per layer (see DESIGN.md "Public contracts").
create schema if not exists raw;
comment on schema raw is 'landed events and CDC change logs, append-only';
create schema if not exists staging;
comment on schema staging is 'current state of each replicated application table';
create schema if not exists marts;
comment on schema marts is 'dims, facts and the onboarding funnel for analysts';
create schema if not exists features;
comment on schema features is 'model features built nightly';
create schema if not exists segments;
comment on schema segments is 'user_segments (all versions) and the view user_segments_current';
create schema if not exists ops;
comment on schema ops is 'load state, audit, quality results, dead letters, alerts, erasure log';

-- Each platform_smoke run proves it can write here; also the first row an operator sees in ops.
create table if not exists ops.platform_checks (
    run_id       text        not null,
    check_name   text        not null,
    ok           boolean     not null,
    detail       text        not null default '',
    checked_at   timestamptz not null,
    primary key (run_id, check_name)
);
