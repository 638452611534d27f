-- anonymousId <-> userId links from identify and alias calls, so later stages can stitch sessions.
create table if not exists staging.identity_map (
    anonymous_id   text        not null,  -- for alias: the previousId
    user_id        text        not null,
    via            text        not null,  -- identify or alias
    first_seen_at  timestamptz not null,
    last_seen_at   timestamptz not null,
    primary key (anonymous_id, user_id)
);
comment on table staging.identity_map is 'identity links from identify (anonymousId->userId) and alias (previousId->userId) events';
create index if not exists identity_map_user on staging.identity_map (user_id);
