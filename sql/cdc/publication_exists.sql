-- Whether a publication exists.
select 1 from pg_publication where pubname = %(publication)s
