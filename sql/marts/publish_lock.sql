-- One publisher at a time: a second one waits for the first to commit, then finds nothing new to merge.
select pg_advisory_xact_lock(%(key)s)
