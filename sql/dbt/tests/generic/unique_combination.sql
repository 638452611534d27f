{#- Grain test: no two rows of `model` share the values of `columns` (dbt_utils' unique_combination_of_columns,
    which is not available offline). Returns one row per repeated key, with how many rows carry it. -#}
{% test unique_combination(model, columns) %}

select
    {{ columns | join(', ') }},
    count(*) as rows_with_key

from {{ model }}

group by {{ columns | join(', ') }}

having count(*) > 1

{% endtest %}
