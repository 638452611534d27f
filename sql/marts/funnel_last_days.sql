-- The demo's summary: the onboarding funnel of the last 7 days that have data (every cohort and step of a day
-- together). The median comes from the steps themselves, since medians of cohorts do not add up.
with last_day as (
    select max(entered_on) as day from marts.onboarding_funnel
),

funnel as (
    select f.entered_on, sum(f.entered) as entered, sum(f.completed) as completed, sum(f.drop_off) as drop_off
    from marts.onboarding_funnel as f, last_day
    where f.entered_on > last_day.day - 7
    group by f.entered_on
),

medians as (
    select s.started_at::date as entered_on,
           percentile_cont(0.5) within group (order by s.seconds_to_complete) as median_seconds
    from marts.fct_onboarding_steps as s, last_day
    where s.started_at >= last_day.day - 6 and s.seconds_to_complete is not null
    group by 1
)

select funnel.entered_on, funnel.entered, funnel.completed, funnel.drop_off, medians.median_seconds
from funnel left join medians using (entered_on)
order by funnel.entered_on
