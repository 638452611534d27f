-- Whether a publication holds a table.
select 1 from pg_publication_tables where pubname = %(publication)s and schemaname = %(schema)s and tablename = %(name)s
