-- user_features has one step_<key>_completed column per key in var('onboarding_step_keys'). A step added to
-- (or removed from) the app's catalog must be added to that list and to models/features/user_features.yml;
-- until then this test fails and names the key.
with

catalog as (

    select step_key from {{ ref('stg_app__onboarding_steps') }}

),

feature_steps as (

    select unnest(array[
        {%- for step_key in var('onboarding_step_keys') %}'{{ step_key }}'{{ ", " if not loop.last }}{% endfor -%}
    ]::text[]) as step_key

),

final as (

    select coalesce(catalog.step_key, feature_steps.step_key) as step_key,
        case when catalog.step_key is null then 'in onboarding_step_keys, not in the catalog'
             else 'in the catalog, not in onboarding_step_keys' end as problem
    from catalog
    full outer join feature_steps
        on catalog.step_key = feature_steps.step_key
    where catalog.step_key is null or feature_steps.step_key is null

)

select * from final
