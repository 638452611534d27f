-- What the source server can do: decides between log-based and xmin-window capture (catalog.SourceInfo).
select current_setting('wal_level'),
       current_setting('server_version_num')::int,
       pg_encoding_to_char(encoding),
       (select rolreplication or rolsuper from pg_roles where rolname = current_user),
       current_setting('max_replication_slots')::int,
       (select count(*) from pg_replication_slots)::int
from pg_database
where datname = current_database()
