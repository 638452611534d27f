insert into ops.mart_publications (publication_id, model, mode, rows_published, rows_total, built_through)
values (%(publication_id)s, %(model)s, %(mode)s, %(rows_published)s, %(rows_total)s, %(built_through)s)
on conflict (publication_id, model) do update
set mode = excluded.mode, rows_published = excluded.rows_published, rows_total = excluded.rows_total,
    built_through = excluded.built_through, published_at = clock_timestamp()
