-- The last truncate in the change batch being applied (temp table _cdc_batch), in the batch's change order.
select _lsn, _seq
from _cdc_batch
where _op = 'T'
order by _lsn desc nulls last, _seq desc nulls last, _xid desc nulls last
limit 1
