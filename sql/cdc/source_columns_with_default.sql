-- Columns with a default: a column added with one gives every existing row a value no change event carries.
select attname
from pg_attribute
where attrelid = %(relid)s and attnum > 0 and not attisdropped and (atthasmissing or atthasdef)
