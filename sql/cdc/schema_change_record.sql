-- Record a source schema change and what CDC did about it (once per change and batch).
-- $1 source, $2 table_name, $3 column_name, $4 change, $5 old_type, $6 new_type, $7 action, $8 batch_id, $9 run_id
insert into ops.cdc_schema_changes (source, table_name, column_name, change, old_type, new_type, action, batch_id, run_id)
values ($1, $2, $3, $4, $5, $6, $7, $8, $9)
on conflict (source, table_name, column_name, change, batch_id) do nothing
