"""dlq_replay's engine: re-validate dead letters after a plan fix, re-inject, idempotently, with counts."""

from __future__ import annotations

import json
import shutil

import psycopg
import redis

from onramp.collector.plan import PLAN_DIR, TrackingPlan
from onramp.stream.dead_letters import ReplayFilters, drain_dead_letters, replay

from .conftest import AUTH, track


def _rows(url: str, sql: str, *params):
    with psycopg.connect(url) as conn:
        return conn.execute(sql, params).fetchall()


def test_replay_after_a_plan_fix_lands_each_event_once(client, make_loader, warehouse, settings, redis_prefix,
                                                       tmp_path):
    unknown = track("trial_extended", {"days": 7}, userId="u-9")
    bad_enum = track(properties={"signup_source": "organic", "method": "fax"})
    body = client.post("/v1/batch", json={"batch": [track(), unknown, bad_enum]}, headers=AUTH).json()
    assert (body["accepted"], body["dead_lettered"]) == (1, 2)
    r = redis.Redis.from_url(settings.redis_url)
    assert drain_dead_letters(r, redis_prefix, warehouse, "t") == 2
    make_loader().drain()

    # the fix: trial_extended joins the tracking plan
    shutil.copytree(PLAN_DIR, tmp_path / "plan")
    (tmp_path / "plan" / "events" / "trial_extended").mkdir()
    (tmp_path / "plan" / "events" / "trial_extended" / "v1.json").write_text(json.dumps({
        "$id": "onramp://tracking-plan/events/trial_extended/v1", "description": "trial got longer",
        "type": "object", "properties": {"properties": {"type": "object", "required": ["days"]}}}))
    fixed = TrackingPlan(tmp_path / "plan")

    report = replay(r, redis_prefix, warehouse, "run-1", ReplayFilters(reason="unknown_event"), plan=fixed)
    assert report.as_dict() == {"matched": 1, "reinjected": 1, "still_invalid": 0, "duplicates": 0}
    # the enum problem is not fixed by this plan: it stays pending, with fresh reasons
    report = replay(r, redis_prefix, warehouse, "run-2", ReplayFilters(schema_version="signup_started/v2"), plan=fixed)
    assert report.as_dict() == {"matched": 1, "reinjected": 0, "still_invalid": 1, "duplicates": 0}

    make_loader().drain()
    landed = _rows(warehouse, "select event_name, schema_version, country, browser, source from raw.events"
                              " where message_id = %s", unknown["messageId"])
    assert landed == [("trial_extended", "trial_extended/v1", "GB", "Chrome", "web")]  # enrichment kept
    status = dict(_rows(warehouse, "select message_id, status from ops.dead_letters"))
    assert status == {unknown["messageId"]: "replayed", bad_enum["messageId"]: "pending"}
    assert _rows(warehouse, "select last_replay_reasons->0->>'path' from ops.dead_letters where message_id = %s",
                 bad_enum["messageId"]) == [("$.properties.method",)]

    # idempotent: the same filters match nothing now; the runs are on record
    again = replay(r, redis_prefix, warehouse, "run-3", ReplayFilters(reason="unknown_event"), plan=fixed)
    assert again.matched == 0
    assert _rows(warehouse, "select run_id, matched, reinjected from ops.dead_letter_replays order by run_id") == [
        ("run-1", 1, 1), ("run-2", 1, 0), ("run-3", 0, 0)]


def test_a_replay_interrupted_before_marking_is_harmless(client, make_loader, warehouse, settings, redis_prefix,
                                                         tmp_path):
    unknown = track("trial_extended", {"days": 7})
    client.post("/v1/batch", json={"batch": [unknown]}, headers=AUTH)
    r = redis.Redis.from_url(settings.redis_url)
    drain_dead_letters(r, redis_prefix, warehouse, "t")
    plan = TrackingPlan(unknown_events="accept")  # the other fix: accept unplanned events
    replay(r, redis_prefix, warehouse, "run-1", ReplayFilters(), plan=plan)
    # as if the task died after re-injecting and before marking: the rows are pending again
    with psycopg.connect(warehouse) as conn:
        conn.execute("update ops.dead_letters set status = 'pending'")
    second = replay(r, redis_prefix, warehouse, "run-2", ReplayFilters(event_name="trial_extended"), plan=plan)
    assert second.reinjected == 1  # injected twice in all...
    report = make_loader().drain()
    assert (report.events, report.loaded) == (2, 1)  # ...loaded once
    assert _rows(warehouse, "select is_planned from raw.events") == [(False,)]
    third = replay(r, redis_prefix, warehouse, "run-3", ReplayFilters(), plan=plan)
    assert third.matched == 0
    with psycopg.connect(warehouse) as conn:
        conn.execute("update ops.dead_letters set status = 'pending'")
    fourth = replay(r, redis_prefix, warehouse, "run-4", ReplayFilters(since=None), plan=plan)
    assert (fourth.duplicates, fourth.reinjected) == (1, 0)  # already in raw.events: marked, not re-sent
