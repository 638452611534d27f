-- Columns some update in the batch left untouched (TOASTed, not sent): their values must come from elsewhere.
select distinct unnest(string_to_array(trim(both ',' from _unchanged), ','))
from _cdc_final
where _unchanged is not null
