-- One row per model per publish of the warehouse models (warehouse_marts): what analysts read, since when.
-- Written by onramp.marts.publish in the same transaction that replaces or merges the published table.
create table if not exists ops.mart_publications (
    publication_id  text        not null,  -- the Airflow run (or CLI invocation) that published
    model           text        not null,  -- e.g. marts.dim_users
    mode            text        not null check (mode in ('replace', 'merge')),
    rows_published  bigint      not null,  -- rows written by this publish (all rows for replace, the delta for merge)
    rows_total      bigint      not null,  -- rows in the published table after it
    built_through   timestamptz,           -- newest built_at of the candidate rows it published
    published_at    timestamptz not null default clock_timestamp(),
    primary key (publication_id, model)
);
comment on table ops.mart_publications is 'each publish of a gated dbt model from marts_build/features_build to marts/features';
create schema if not exists transform;
comment on schema transform is 'dbt staging and intermediate models (internal: read the marts instead)';
create schema if not exists marts_build;
comment on schema marts_build is 'candidate marts built by dbt, published to marts only after the GX gate passes';
create schema if not exists features_build;
comment on schema features_build is 'candidate features built by dbt, published to features only after the GX gate passes';
