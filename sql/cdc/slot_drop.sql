-- Drop a replication slot (fails while a walsender holds it).
select pg_drop_replication_slot(%(slot)s)
