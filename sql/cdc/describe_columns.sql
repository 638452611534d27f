-- Columns as a pgoutput Relation message announces them (name, type oid, typmod, is key), typed like
-- source_columns.sql: domains resolved, builtin when the warehouse has the type too.
select d.name,
       case when t.typtype = 'd' then t.typbasetype else t.oid end,
       case when t.typtype = 'd' then t.typtypmod else d.typmod end,
       format_type(t.oid, d.typmod),
       format_type(case when t.typtype = 'd' then t.typbasetype else t.oid end,
                   case when t.typtype = 'd' then t.typtypmod else d.typmod end),
       rn.nspname = 'pg_catalog' and rt.typtype in ('b', 'r', 'm'),
       d.is_key
from unnest(%(names)s::text[], %(oids)s::oid[], %(typmods)s::int[], %(keys)s::bool[]) with ordinality
     as d(name, oid, typmod, is_key, n)
join pg_type t on t.oid = d.oid
join pg_type rt on rt.oid = case when t.typtype = 'd' then t.typbasetype else t.oid end
join pg_namespace rn on rn.oid = rt.typnamespace
order by d.n
