-- One drain step's dead letters, before they are inserted once per messageId (insert_dead_letters.sql).
create temp table dead_letters_batch (like ops.dead_letters including defaults) on commit drop
