-- Whether a replication slot exists, and which walsender (if any) holds it.
select active_pid from pg_replication_slots where slot_name = %(slot)s
