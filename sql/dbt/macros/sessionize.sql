{#- The one definition of a session: the events of one stitched person with no gap longer than
    var('session_inactivity_minutes') (30). Renders two CTEs; the second, named `name`, is `events`
    (a CTE with person_id, message_id, event_at) plus:
      is_session_start    the event opens a session (first event, or the previous one is over 30 min before)
      session_started_at  first event of the session
      session_ended_at    last event of the session (among the events given)
      session_id          md5(person_id | session start in UTC): the same session gets the same id in every build
    A session depends only on the person's earlier events, except session_ended_at, which grows with later ones.
    Ties on event_at are ordered by message_id so every build numbers them alike. -#}
{% macro sessionize(events, name) %}
{{ name }}_starts as (

    select
        {{ events }}.*,
        coalesce(
            event_at - lag(event_at) over (partition by person_id order by event_at, message_id)
                > interval '{{ var("session_inactivity_minutes") }} minutes',
            true
        ) as is_session_start

    from {{ events }}

),

{{ name }}_bounded as (

    select
        *,
        -- the latest session start at or before this event is the start of its session
        max(case when is_session_start then event_at end) over (
            partition by person_id order by event_at, message_id rows between unbounded preceding and current row
        ) as session_started_at

    from {{ name }}_starts

),

{{ name }} as (

    select
        *,
        max(event_at) over (partition by person_id, session_started_at) as session_ended_at,
        md5(
            person_id || '|' || to_char(session_started_at at time zone 'utc', 'YYYY-MM-DD"T"HH24:MI:SS.US')
        ) as session_id

    from {{ name }}_bounded

)
{% endmacro %}
