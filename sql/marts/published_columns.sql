-- Columns of a table in order, with their types as PostgreSQL spells them (build candidate vs published table).
select a.attname as name, format_type(a.atttypid, a.atttypmod) as type
from pg_attribute a
where a.attrelid = to_regclass(%(table)s) and a.attnum > 0 and not a.attisdropped
order by a.attnum
