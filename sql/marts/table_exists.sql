-- Whether a table exists (its qualified, quoted name), without failing when it does not.
select to_regclass(%(table)s) is not null
