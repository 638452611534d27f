"""The declared application tables (config/cdc_sources.yaml) replicate through their own GX suites.

Uses the app schema migration on a database of this test's own, a few hand-written rows (no simulator),
and the repo's sources file with a slot prefix of its own (slot names are server-wide).
"""

from __future__ import annotations

import pytest
import yaml

from onramp.cdc.config import DEFAULT_CONFIG, load_config
from onramp.cdc.gate import suite_for
from onramp.migrations import MIGRATIONS_DIR, migrate

from .conftest import checksum

ROWS = [
    "insert into app.users (id, email, full_name, country_code, locale, signup_source, referral_code, device_type, os,"
    " browser, plan, status, marketing_opt_in, signed_up_at, created_at, updated_at) values"
    " (1, 'a@example.com', 'Ann', 'DE', 'de-DE', 'organic', 'R1', 'mobile', 'ios', 'safari', 'free', 'active', true,"
    " now(), now(), now()), (2, 'b@example.com', 'Bob', 'US', 'en-US', 'referral', 'R2', 'desktop', 'macos', 'chrome',"
    " 'pro', 'active', false, now(), now(), now())",
    "insert into app.workspaces values (1, 1, 'Acme', 'saas', '1-10', now(), now())",
    "insert into app.workspace_members values (1, 1, 1, 'owner', now(), now(), now())",
    "insert into app.invitations (id, workspace_id, inviter_user_id, invitee_email, status, sent_at, created_at, updated_at)"
    " values (1, 1, 1, 'c@example.com', 'pending', now(), now(), now())",
    "insert into app.onboarding_steps values (1, 'profile', 'Profile', 1, true, now(), now())",
    "insert into app.user_onboarding_progress values (1, 1, 1, 'completed', now(), now(), now(), now())",
    "insert into app.subscriptions (id, user_id, workspace_id, plan, status, seats, mrr_cents, currency, started_at,"
    " created_at, updated_at) values (1, 2, 1, 'pro', 'active', 3, 4900, 'EUR', now(), now(), now())",
    "insert into app.feature_usage values (1, 1, 1, 'export', 2, now(), now(), now(), now())",
]


def test_every_declared_app_table_replicates_through_its_suite(cdc, warm_gx, tmp_path):
    if not list((MIGRATIONS_DIR / "app").glob("*.sql")):
        pytest.skip("the app schema migration is not there yet")
    migrate(cdc.source_url, "app")
    for statement in ROWS:
        cdc.source_sql(statement)
    declared = yaml.safe_load(DEFAULT_CONFIG.read_text())
    declared["sources"]["app"]["slot_prefix"] = f"onramp_{cdc.source}"
    config_file = tmp_path / "app_sources.yaml"
    config_file.write_text(yaml.safe_dump(declared))
    cdc.config_file, cdc.config = config_file, load_config(config_file)

    for table in cdc.config.tables:
        assert suite_for(table) == f"cdc_app_{table.target}", f"{table.id} has no suite of its own"
        cdc.run(table.id)
    cdc.source_sql("update app.users set plan = 'starter', updated_at = now() where id = 1")
    cdc.source_sql("delete from app.feature_usage")
    for table in cdc.config.tables:
        cdc.run(table.id)
        columns = [c[0] for c in cdc.source_sql(
            "select column_name from information_schema.columns where table_schema = 'app' and table_name = %s"
            " and data_type <> 'inet'", (table.name,))]
        assert checksum(cdc.source_url, table.qualified, columns, ["id"]) == \
            checksum(cdc.warehouse_url, f"staging.{table.target}", columns, ["id"])
    results = cdc.warehouse_sql("select suite, bool_and(success) from ops.quality_results group by 1 order by 1")
    assert len(results) == 8 and all(ok for _, ok in results)
