"""The tracking plan: versions, reasons a program can act on, the unknown-event policy."""

from __future__ import annotations

import json
import shutil

import pytest

from onramp.collector.plan import PLAN_DIR, PlanError, TrackingPlan

OK = {"type": "track", "event": "signup_started", "anonymousId": "a1",
      "properties": {"signup_source": "organic", "method": "email"}}


@pytest.fixture(scope="module")
def plan() -> TrackingPlan:
    return TrackingPlan()


def test_valid_message_passes_against_its_event_schema(plan):
    verdict = plan.check(OK)
    assert verdict.ok and verdict.planned and verdict.schema_version == "signup_started/v1"


def test_reasons_carry_code_json_path_and_a_readable_message(plan):
    verdict = plan.check({**OK, "properties": {"signup_source": "organic", "method": "fax"}})
    assert not verdict.ok
    assert [r.as_dict() for r in verdict.reasons] == [{
        "code": "schema.enum", "path": "$.properties.method",
        "message": '"fax" is not one of ["email", "google", "github", "sso"]'}]


def test_missing_ids_and_call_specific_fields_use_the_plans_own_words(plan):
    no_id = plan.check({k: v for k, v in OK.items() if k != "anonymousId"})
    assert [(r.code, r.path, r.message) for r in no_id.reasons] == [
        ("schema.anyOf", "$", "missing id: a message needs userId or anonymousId")]
    alias = plan.check({"type": "alias", "userId": "u1"})
    assert alias.reasons[0].message == "an alias call needs previousId and userId"
    bad_time = plan.check({**OK, "timestamp": "yesterday"})
    assert (bad_time.reasons[0].code, bad_time.reasons[0].path) == ("schema.format", "$.timestamp")


def test_non_track_calls_are_checked_against_the_envelope(plan):
    verdict = plan.check({"type": "identify", "userId": "u1", "traits": {"plan": "pro"}})
    assert verdict.ok and verdict.schema_version == "envelope/v2"
    wrong = plan.check({"type": "identify", "userId": "u1", "traits": "pro"})
    assert not wrong.ok and wrong.reasons[0].path == "$.traits"


def test_unknown_events_follow_the_policy():
    strict = TrackingPlan(unknown_events="dead_letter").check({**OK, "event": "rocket_launched"})
    assert not strict.ok and strict.reasons[0].code == "unknown_event"
    assert "tracking_plan/events/rocket_launched/v1.json" in strict.reasons[0].message
    lenient = TrackingPlan(unknown_events="accept").check({**OK, "event": "rocket_launched"})
    assert lenient.ok and not lenient.planned
    # an unplanned event still has to respect the envelope
    assert not TrackingPlan(unknown_events="accept").check({"type": "track", "event": "rocket_launched"}).ok


def test_the_highest_version_is_in_force(tmp_path):
    shutil.copytree(PLAN_DIR, tmp_path / "plan")
    v1 = json.loads((tmp_path / "plan" / "events" / "signup_started" / "v1.json").read_text())
    v1["properties"]["properties"]["properties"]["method"]["enum"].append("fax")
    (tmp_path / "plan" / "events" / "signup_started" / "v2.json").write_text(json.dumps(v1))
    plan = TrackingPlan(tmp_path / "plan")
    verdict = plan.check({**OK, "properties": {"signup_source": "organic", "method": "fax"}})
    assert verdict.ok and verdict.schema_version == "signup_started/v2"


def test_a_broken_plan_names_the_file(tmp_path):
    shutil.copytree(PLAN_DIR, tmp_path / "plan")
    (tmp_path / "plan" / "events" / "feature_used" / "v2.json").write_text("{not json")
    with pytest.raises(PlanError, match=r"feature_used/v2.json is not valid JSON"):
        TrackingPlan(tmp_path / "plan")
    with pytest.raises(PlanError, match="policy"):
        TrackingPlan(unknown_events="maybe")


def test_every_schema_in_the_repo_is_documented_and_versioned():
    for path in (PLAN_DIR / "events").glob("*/v*.json"):
        schema = json.loads(path.read_text())
        assert schema["$id"].endswith(f"events/{path.parent.name}/{path.stem}"), path
        assert schema.get("description"), f"{path}: say what the event means"


def test_explicit_nulls_count_as_absent_like_the_sdks_send_them(plan):
    # segment-analytics-python sends "userId": null for anonymous calls
    assert plan.check({**OK, "userId": None, "context": None, "integrations": {}}).ok
    both_null = plan.check({"type": "identify", "userId": None, "anonymousId": None})
    assert both_null.reasons[0].message == "missing id: a message needs userId or anonymousId"
    assert plan.check({"type": "alias", "userId": "u1", "previousId": None}).reasons[0].message == \
        "previousId must not be null or empty"


def test_empty_ids_count_as_absent_like_rudderstack_sends_them(plan):
    # @rudderstack/analytics-js sends "userId": "" until identify (envelope v2; v1 dead-lettered it)
    assert plan.check({**OK, "userId": ""}).ok
    assert plan.check({"type": "identify", "userId": "", "anonymousId": ""}).reasons[0].message == \
        "missing id: a message needs userId or anonymousId"
    assert plan.check({"type": "group", "userId": "u1", "groupId": ""}).reasons[0].message == \
        "groupId must not be null or empty"
