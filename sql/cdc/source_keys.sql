-- The unique keys of a source table (primary, replica identity, plain unique; no partial or expression indexes).
select i.indisprimary, i.indisreplident, i.indisunique,
       array(select a.attname from unnest(i.indkey) with ordinality k(attnum, n)
             join pg_attribute a on a.attrelid = i.indrelid and a.attnum = k.attnum order by k.n)::text[] as columns
from pg_index i
where i.indrelid = %(relid)s and i.indisunique and i.indpred is null and i.indexprs is null
