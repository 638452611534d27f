-- Whether a warehouse table has its primary key. $1 its quoted qualified name.
select 1 from pg_index where indrelid = to_regclass($1) and indisprimary
