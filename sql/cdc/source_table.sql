-- A declared source table: oid, replica identity, kind, estimated rows and heap pages (for chunk planning).
select c.oid, c.relreplident, c.relkind, greatest(c.reltuples, 0)::bigint,
       pg_relation_size(c.oid) / current_setting('block_size')::int
from pg_class c
join pg_namespace n on n.oid = c.relnamespace
where n.nspname = %(schema)s and c.relname = %(name)s
