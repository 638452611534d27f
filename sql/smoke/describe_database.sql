-- Proves the connection works and shows which server and database it reaches.
select current_database() as database_name,
       current_user as user_name,
       current_setting('server_version') as server_version,
       current_setting('wal_level') as wal_level;
