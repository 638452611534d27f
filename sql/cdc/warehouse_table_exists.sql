-- Whether a warehouse table exists. $1 its quoted qualified name.
select to_regclass($1) is not null
