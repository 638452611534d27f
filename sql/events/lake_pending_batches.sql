-- Batches committed to the warehouse whose lake files were not confirmed (the loader died in between).
select batch_id from ops.event_load_batches where not lake_written order by committed_at
