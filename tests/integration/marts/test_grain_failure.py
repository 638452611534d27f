"""A repeated key in staging stops the build at the grain test of its staging model: the error names that test,
and nothing built on the model runs."""

from __future__ import annotations

import pytest

from onramp.marts.dbt import DbtFailed

pytestmark = pytest.mark.integration

DOWNSTREAM = ("fct_onboarding_steps", "onboarding_funnel", "user_features")


def test_duplicate_progress_row_fails_the_grain_test_and_skips_downstream(warehouse_copy):
    warehouse_copy.execute("""
        alter table staging.user_onboarding_progress drop constraint user_onboarding_progress_pkey;
        insert into staging.user_onboarding_progress select * from staging.user_onboarding_progress where id = 7;""")
    with pytest.raises(DbtFailed) as failed:
        warehouse_copy.build(["build", "--select", "stg_app__user_onboarding_progress+"])

    message = str(failed.value)
    assert "unique_stg_app__user_onboarding_progress_progress_id" in message
    assert "unique_combination_stg_app__user_onboarding_progress_user_id__step_id" in message
    assert "onramp marts build --select 'stg_app__user_onboarding_progress+'" in message
    statuses = {node.name: node.status for node in failed.value.nodes}
    assert statuses["stg_app__user_onboarding_progress"] == "success"
    assert all(statuses[model] == "skipped" for model in DOWNSTREAM), statuses
    # the built tables are those of the last good build
    assert warehouse_copy.rows("select count(*) as n from marts_build.fct_onboarding_steps")[0]["n"] == 10


def test_duplicate_user_fails_the_grain_test_of_users(warehouse_copy):
    warehouse_copy.execute("""
        alter table staging.users drop constraint users_pkey;
        insert into staging.users select * from staging.users where id = 102;""")
    with pytest.raises(DbtFailed) as failed:
        warehouse_copy.build(["build", "--select", "stg_app__users+"])

    assert "unique_stg_app__users_user_id" in str(failed.value)
    statuses = {node.name: node.status for node in failed.value.nodes}
    assert all(statuses[model] == "skipped" for model in ("dim_users", "onboarding_funnel", "user_features")), statuses
