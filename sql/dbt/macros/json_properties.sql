{#- Typed reads of event properties. The tracking plan types the properties it declares, but allows
    extra ones untyped (duration_ms, fields_total, ...): a value of the wrong JSON type reads as null
    instead of failing the whole build on a cast. -#}

{% macro json_number(column, key, type='numeric') -%}
    case when jsonb_typeof({{ column }} -> '{{ key }}') = 'number' then ({{ column }} ->> '{{ key }}')::numeric::{{ type }} end
{%- endmacro %}


{% macro json_text(column, key) -%}
    case when jsonb_typeof({{ column }} -> '{{ key }}') in ('string', 'number', 'boolean') then {{ column }} ->> '{{ key }}' end
{%- endmacro %}


{% macro json_array_length(column, key) -%}
    case when jsonb_typeof({{ column }} -> '{{ key }}') = 'array' then jsonb_array_length({{ column }} -> '{{ key }}') end
{%- endmacro %}
