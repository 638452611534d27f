-- Confirm a position to a slot (only after the warehouse committed everything before it).
select pg_replication_slot_advance(%(slot)s, %(lsn)s::pg_lsn)
