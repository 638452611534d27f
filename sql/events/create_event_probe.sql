-- Where the loader tries parts of a refused batch (each try rolled back) to find the rows raw.events refuses:
-- the same columns, types and constraints, empty, so only the data itself can be refused.
create temp table if not exists event_probe (like raw.events including all)
