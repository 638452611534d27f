-- The users' PII (email, full_name, phone, ip_address) and invitations' invitee_email never reach a mart or a
-- feature table: a column of that name in marts_build or features_build fails the build.
-- depends_on: {{ ref('dim_users') }}
-- depends_on: {{ ref('fct_onboarding_events') }}
-- depends_on: {{ ref('fct_onboarding_steps') }}
-- depends_on: {{ ref('onboarding_funnel') }}
-- depends_on: {{ ref('user_features') }}
select
    table_schema,
    table_name,
    column_name

from information_schema.columns

where table_schema in ('marts_build', 'features_build')
    and column_name in ('email', 'full_name', 'phone', 'ip_address', 'invitee_email', 'traits', 'context', 'properties')
