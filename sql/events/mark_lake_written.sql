-- The batch's new rows are in the lake: recovery after a crash skips it.
update ops.event_load_batches set lake_written = true, lake_files = %(files)s where batch_id = %(batch_id)s
