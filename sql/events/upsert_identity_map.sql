-- identify links anonymousId -> userId, alias links previousId -> userId, from the rows this batch inserted
-- (a repeat was linked when it was first loaded); re-runs only widen the seen window.
insert into staging.identity_map (anonymous_id, user_id, via, first_seen_at, last_seen_at)
select anonymous_id, user_id, min(via), min(event_at), max(event_at)
from (
    select anonymous_id, user_id, 'identify' as via, event_at
    from raw.events
    where load_batch_id = $1 and type = 'identify' and anonymous_id is not null and user_id is not null
    union all
    select previous_id, user_id, 'alias', event_at
    from raw.events
    where load_batch_id = $1 and type = 'alias' and previous_id is not null and user_id is not null
) as links
group by anonymous_id, user_id
on conflict (anonymous_id, user_id) do update
set first_seen_at = least(staging.identity_map.first_seen_at, excluded.first_seen_at),
    last_seen_at = greatest(staging.identity_map.last_seen_at, excluded.last_seen_at)
