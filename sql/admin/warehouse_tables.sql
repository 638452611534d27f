-- The warehouse's tables in Onramp's schemas (the demo's summary counts their rows).
select table_schema, table_name
from information_schema.tables
where table_schema in ('raw', 'staging', 'marts', 'features', 'segments', 'ops') and table_type = 'BASE TABLE'
order by 1, 2
