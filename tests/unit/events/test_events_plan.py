"""The tracking plan: versions, reasons a program can act on, the unknown-event policy."""

from __future__ import annotations

import itertools
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
    assert verdict.ok and verdict.planned and verdict.schema_version == "signup_started/v2"


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
    folder = tmp_path / "plan" / "events" / "signup_started"
    latest = max(int(p.stem[1:]) for p in folder.glob("v*.json"))
    schema = json.loads((folder / f"v{latest}.json").read_text())
    schema["properties"]["properties"]["properties"]["method"]["enum"].append("fax")
    (folder / f"v{latest + 1}.json").write_text(json.dumps(schema))
    plan = TrackingPlan(tmp_path / "plan")
    verdict = plan.check({**OK, "properties": {"signup_source": "organic", "method": "fax"}})
    assert verdict.ok and verdict.schema_version == f"signup_started/v{latest + 1}"


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


def _versions(folder):
    return [json.loads(p.read_text()) for p in sorted(folder.glob("v*.json"), key=lambda p: int(p.stem[1:]))]


def test_newer_versions_accept_what_older_clients_send():
    """A version only adds optional properties: every message an older client sends still passes."""
    for folder in (PLAN_DIR / "events").iterdir():
        for older, newer in itertools.pairwise(_versions(folder)):
            old, new = older["properties"]["properties"], newer["properties"]["properties"]
            assert set(new.get("required", [])) <= set(old.get("required", [])), folder.name
            for name, spec in old["properties"].items():
                assert new["properties"].get(name) == spec, f"{folder.name}: {name} changed between versions"
            assert newer.get("required") == older.get("required"), folder.name


@pytest.mark.parametrize(("message", "version"), [
    ({**OK, "properties": {"signup_source": "organic", "method": "email"}}, "signup_started/v2"),
    ({**OK, "properties": {"signup_source": "referral", "method": "google", "referral_code": "K7Q2M9XA"}},
     "signup_started/v2"),
    ({**OK, "properties": {"signup_source": "organic", "method": "email", "referral_code": None}},
     "signup_started/v2"),
    ({**OK, "event": "form_filled", "properties": {"form": "signup", "fields": ["email"]}}, "form_filled/v2"),
    ({**OK, "event": "form_filled", "properties": {"form": "signup", "fields": ["email"], "fields_total": 5,
                                                    "duration_ms": 41250}}, "form_filled/v2"),
    ({**OK, "event": "feature_used", "properties": {"feature": "api", "usage_count": 3}}, "feature_used/v2"),
    ({**OK, "event": "feature_used", "properties": {"feature": "api", "duration_s": 12.5}}, "feature_used/v2"),
])
def test_v1_and_v2_shapes_both_pass(plan, message, version):
    verdict = plan.check(message)
    assert verdict.ok and verdict.schema_version == version


@pytest.mark.parametrize("properties", [
    {"form": "signup", "fields": ["email"], "fields_total": 0},
    {"form": "signup", "fields": ["email"], "duration_ms": -1},
    {"form": "signup", "fields": ["email"], "duration_ms": "41s"},
])
def test_v2_properties_are_typed(plan, properties):
    assert not plan.check({**OK, "event": "form_filled", "properties": properties}).ok
