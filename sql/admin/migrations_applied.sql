select version, checksum from public.onramp_schema_migrations where target = %(target)s
