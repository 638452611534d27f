-- The columns of a source table, domains resolved to their base type; builtin: the warehouse has the type too.
select a.attname,
       case when t.typtype = 'd' then t.typbasetype else a.atttypid end as type_oid,
       case when t.typtype = 'd' then t.typtypmod else a.atttypmod end as typmod,
       format_type(a.atttypid, a.atttypmod) as source_type,
       format_type(case when t.typtype = 'd' then t.typbasetype else a.atttypid end,
                   case when t.typtype = 'd' then t.typtypmod else a.atttypmod end) as resolved_type,
       rn.nspname = 'pg_catalog' and rt.typtype in ('b', 'r', 'm') as builtin
from pg_attribute a
join pg_type t on t.oid = a.atttypid
join pg_type rt on rt.oid = case when t.typtype = 'd' then t.typbasetype else a.atttypid end
join pg_namespace rn on rn.oid = rt.typnamespace
where a.attrelid = %(relid)s and a.attnum > 0 and not a.attisdropped
order by a.attnum
