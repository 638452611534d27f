{#- Values that are constant for one build: the timestamp stamped on every mart and feature row
    (the publish step keeps the rows with the newest built_at) and the as-of date of the features. -#}

{% macro built_at() -%}
    '{{ var("build_started_at", run_started_at) }}'::timestamptz
{%- endmacro %}


{#- The as-of date of user_features: var('as_of_date') (YYYY-MM-DD), default yesterday in UTC. -#}
{% macro as_of_date() -%}
    {%- set yesterday = (run_started_at - modules.datetime.timedelta(days=1)).strftime('%Y-%m-%d') -%}
    {%- set value = var('as_of_date', yesterday) | string -%}
    {%- if not modules.re.match('^[0-9]{4}-[0-9]{2}-[0-9]{2}$', value) -%}
        {{ exceptions.raise_compiler_error("var as_of_date must be a date YYYY-MM-DD, got '" ~ value ~ "'") }}
    {%- endif -%}
    {{- value -}}
{%- endmacro %}


{#- The first instant after the as-of date: UTC midnight that ends it (whatever the session's TimeZone). -#}
{% macro as_of_end() -%}
    (('{{ as_of_date() }}'::date + 1)::timestamp at time zone 'utc')
{%- endmacro %}
