-- What ran of sql/migrations/<target>/, with a checksum: an applied file that changed is refused.
create table if not exists public.onramp_schema_migrations (
    target     text not null,
    version    int not null,
    name       text not null,
    checksum   text not null,
    applied_at timestamptz not null default clock_timestamp(),
    primary key (target, version)
)
