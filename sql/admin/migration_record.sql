insert into public.onramp_schema_migrations (target, version, name, checksum)
values (%(target)s, %(version)s, %(name)s, %(checksum)s)
