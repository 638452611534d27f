-- Record an applied batch, once (a re-applied batch keeps its first record).
-- $1 source, $2 table_name, $3 batch_id, $4 kind, $5 mode, $6 run_id, $7 from_position, $8 to_position,
-- $9 rows, $10 inserts, $11 updates, $12 deletes, $13 truncates, $14 reconciled_deletes, $15 files (json)
insert into ops.cdc_batches (source, table_name, batch_id, kind, mode, run_id, from_position, to_position,
                             rows, inserts, updates, deletes, truncates, reconciled_deletes, files)
values ($1, $2, $3, $4, $5, $6, $7, $8, $9::bigint, $10::bigint, $11::bigint, $12::bigint, $13::bigint,
        $14::bigint, $15::jsonb)
on conflict (source, table_name, batch_id) do nothing
