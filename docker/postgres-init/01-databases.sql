-- Databases Onramp needs on its PostgreSQL server: the Airflow metadata DB, the simulated source
-- application (`app`, read by CDC through logical replication) and the warehouse.
-- The postgres image runs this once, as POSTGRES_USER, when the data volume is empty; the
-- `where not exists ... \gexec` form keeps it safe to run again by hand.
-- Schemas and tables are not made here: `onramp migrate` (run by airflow-init) owns them.

select 'create database airflow'
where not exists (select from pg_database where datname = 'airflow')\gexec

select 'create database app'
where not exists (select from pg_database where datname = 'app')\gexec

select 'create database warehouse'
where not exists (select from pg_database where datname = 'warehouse')\gexec
