"""user_features as of D uses nothing after the end of D: whatever happens later, rebuilding D gives the same rows;
building another date leaves D's rows as they were built."""

from __future__ import annotations

from datetime import timedelta

import pytest

from .conftest import BASE_BUILT_AT, D

pytestmark = pytest.mark.integration

REBUILT_AT, NEXT_DAY_AT = "2026-11-14T03:00:00+00:00", "2026-11-14T04:00:00+00:00"
# with its upstream: the identity links (a table) must include the late identify
FEATURES = ["build", "--select", "+user_features"]


def _features(warehouse, day) -> dict[int, dict]:
    rows = warehouse.rows("select * from features_build.user_features where as_of_date = %s order by user_id", (day,))
    return {r["user_id"]: r for r in rows}


def _without_built_at(rows: dict[int, dict]) -> dict[int, dict]:
    return {key: {k: v for k, v in row.items() if k != "built_at"} for key, row in rows.items()}


def _happen_after_d(warehouse) -> None:
    """Everything that can change after D: events, progress, invitations, subscriptions, a signup, a late link."""
    warehouse.load_batch("b9", "2026-11-13 09:00+00", [
        # a late identify (first seen on D + 1) links anon-a2's page views of 11-09 to 102
        ("e90", "identify", "identify", None, "102", "anon-a2", "2026-11-11 10:00", {}),
        ("e91", "page", "page", "Billing", "102", None, "2026-11-11 10:01", {"path": "/billing"}),
        ("e92", "track", "feature_used", None, "101", None, "2026-11-12 09:00", {"feature": "api", "usage_count": 7}),
        ("e93", "track", "form_filled", None, "101", None, "2026-11-12 09:10",
         {"form": "company_profile", "fields": ["size"], "duration_ms": 5000}),
        ("e94", "track", "signup_completed", None, "105", "anon-a7", "2026-11-13 08:00", {"plan": "free", "workspace_id": "5"}),
    ])
    warehouse.execute("""
        update staging.user_onboarding_progress set status = 'completed', completed_at = '2026-11-12 10:00+00'
            where id = 6;
        insert into staging.user_onboarding_progress (id, user_id, step_id, status, started_at, completed_at, created_at, updated_at)
            values (11, 102, 5, 'completed', '2026-11-12 11:00+00', '2026-11-12 11:30+00', '2026-11-12 11:00+00', '2026-11-12 11:30+00');
        update staging.invitations set status = 'accepted', accepted_at = '2026-11-13 07:00+00' where id = 3;
        update staging.subscriptions set status = 'superseded', ended_at = '2026-11-12 12:00+00' where id = 4;
        insert into staging.subscriptions (id, user_id, workspace_id, plan, status, billing_interval, seats, mrr_cents,
                                           currency, started_at, created_at, updated_at)
            values (7, 102, 2, 'starter', 'active', 'year', 3, 3000, 'USD', '2026-11-12 12:00+00', '2026-11-12 12:00+00',
                    '2026-11-12 12:00+00');
        update staging.users set plan = 'starter' where id = 102;
        insert into staging.users (id, country_code, locale, signup_source, referral_code, device_type, os, browser, plan,
                                   status, marketing_opt_in, signed_up_at, created_at, updated_at)
            values (105, 'IT', 'it-IT', 'partner', 'REF105', 'mobile', 'android', 'chrome', 'free', 'active', false,
                    '2026-11-13 08:00+00', '2026-11-13 08:00+00', '2026-11-13 08:00+00');""")


def test_rebuilding_d_after_later_changes_gives_the_same_rows(warehouse_copy):
    built = _features(warehouse_copy, D)
    assert built and {r["built_at"].isoformat() for r in built.values()} == {BASE_BUILT_AT}

    _happen_after_d(warehouse_copy)
    warehouse_copy.build(FEATURES, as_of=D, built_at=REBUILT_AT)
    rebuilt = _features(warehouse_copy, D)
    assert {r["built_at"].isoformat() for r in rebuilt.values()} == {REBUILT_AT}  # it did rebuild the date
    assert _without_built_at(rebuilt) == _without_built_at(built)

    # the next day sees the changes of D + 1; D's rows stay as they were built
    next_day = D + timedelta(days=1)
    warehouse_copy.build(FEATURES, as_of=next_day, built_at=NEXT_DAY_AT)
    assert _features(warehouse_copy, D) == rebuilt
    later = _features(warehouse_copy, next_day)
    assert sorted(later) == [101, 102, 103]
    assert later[102]["view_events_1d"] == 1 and later[102]["view_events_28d"] == 3  # anon-a2 linked on D + 1
    assert later[101]["step_set_up_workspace_completed"] and later[101]["plan"] == "pro"
