"""Collector -> Redis stream -> loader -> lake + raw.events, on real Redis and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import psycopg
import pyarrow.dataset as ds
import redis

from onramp.stream.dead_letters import drain_dead_letters
from onramp.stream.loader import lake_events_dir

from .conftest import AUTH, track


def _rows(url: str, sql: str, *params):
    with psycopg.connect(url) as conn:
        return conn.execute(sql, params).fetchall()


def test_batch_lands_once_enriched_in_lake_and_warehouse(client, make_loader, warehouse, tmp_path):
    # an offline device sends an event from 45 days ago now: it belongs to its own event date
    now = datetime.now(UTC)
    late_at = now - timedelta(days=45)
    late = track("feature_used", {"feature": "export"}, timestamp=late_at.isoformat(), sentAt=now.isoformat())
    events = [track(), track("form_filled", {"form": "company_profile", "fields": ["company_name", "size"]}), late,
              {"type": "identify", "userId": "user-1", "anonymousId": "anon-1", "traits": {"plan": "pro"},
               "messageId": "identify-1"}]
    response = client.post("/v1/batch", json={"batch": events, "sentAt": "2026-03-01T12:00:00Z"}, headers=AUTH)
    assert response.status_code == 200, response.text
    assert response.json() == {"success": True, "accepted": 4}
    # the SDK retries the same request: same messageIds, must not double anything
    assert client.post("/v1/batch", json={"batch": events}, headers=AUTH).status_code == 200

    report = make_loader().drain()
    assert (report.events, report.loaded, report.duplicates) == (8, 4, 4)

    rows = _rows(warehouse, "select message_id, event_name, browser, os, country, city, utm_source, utm_campaign,"
                            " referrer_type, event_date::text, context ? 'ip', source from raw.events order by event_name")
    by_name = {r[1]: r for r in rows}
    assert set(by_name) == {"signup_started", "form_filled", "feature_used", "identify"}
    signup = by_name["signup_started"]
    assert signup[2:9] == ("Chrome", "Mac OS X", "GB", "London", "newsletter", "spring", "search")
    assert signup[10] is False and signup[11] == "web"  # the IP itself never lands
    assert abs(date.fromisoformat(by_name["feature_used"][9]) - late_at.date()) <= timedelta(days=1)
    assert _rows(warehouse, "select anonymous_id, user_id, via from staging.identity_map") == [("anon-1", "user-1", "identify")]

    lake = ds.dataset(lake_events_dir(tmp_path / "lake"), format="parquet", partitioning="hive").to_table()
    assert lake.num_rows == 4
    assert sorted(lake["message_id"].to_pylist()) == sorted(r[0] for r in rows)
    partition = f"event_date={by_name['feature_used'][9]}"
    assert (lake_events_dir(tmp_path / "lake") / partition / "event_name=feature_used").is_dir()

    batches = _rows(warehouse, "select events, loaded, duplicates, lake_written from ops.event_load_batches")
    assert sum(b[1] for b in batches) == 4 and sum(b[0] for b in batches) == 8 and all(b[3] for b in batches)
    assert _rows(warehouse, "select success from ops.quality_results where suite = 'raw_events'")[0] == (True,)


def test_a_batch_mixing_loaded_and_new_events_inserts_only_the_new_ones(client, make_loader, warehouse, tmp_path):
    """The loader COPYs a batch whole first; a messageId loaded by an earlier batch makes it look them up instead."""
    old = [track(), track()]
    assert client.post("/v1/batch", json={"batch": old}, headers=AUTH).status_code == 200
    first = make_loader().drain()
    assert (first.loaded, first.duplicates) == (2, 0)
    new = [track(), track("form_filled", {"form": "company_profile", "fields": ["size"]})]
    assert client.post("/v1/batch", json={"batch": [old[1], new[0], old[0], new[1]]}, headers=AUTH).status_code == 200

    second = make_loader().drain()
    assert (second.events, second.loaded, second.duplicates) == (4, 2, 2)
    ids = {m["messageId"] for m in old + new}
    assert {r[0] for r in _rows(warehouse, "select message_id from raw.events")} == ids
    assert _rows(warehouse, "select loaded, duplicates from ops.event_load_batches order by committed_at") == [(2, 0), (2, 2)]
    lake = ds.dataset(lake_events_dir(tmp_path / "lake"), format="parquet", partitioning="hive").to_table()
    assert sorted(lake["message_id"].to_pylist()) == sorted(ids)  # each once: the second batch's files hold the new two


def test_invalid_events_are_dead_lettered_with_reasons_and_land_in_ops(client, make_loader, warehouse, settings,
                                                                       redis_prefix):
    bad_enum = track(properties={"signup_source": "organic", "method": "fax"})
    no_id = track()
    del no_id["anonymousId"]
    unknown = track("rocket_launched", {})
    response = client.post("/v1/batch", json={"batch": [track(), bad_enum, no_id, unknown]}, headers=AUTH)
    assert response.status_code == 200
    body = response.json()
    assert body["accepted"] == 1 and body["dead_lettered"] == 3
    reasons = {e["messageId"]: e["reasons"] for e in body["errors"]}
    assert {"code": "schema.enum", "path": "$.properties.method"}.items() <= reasons[bad_enum["messageId"]][0].items()
    assert reasons[no_id["messageId"]][0]["message"] == "missing id: a message needs userId or anonymousId"
    assert reasons[unknown["messageId"]][0]["code"] == "unknown_event"

    client_redis = redis.Redis.from_url(settings.redis_url)
    assert drain_dead_letters(client_redis, redis_prefix, warehouse, "test") == 3
    assert drain_dead_letters(client_redis, redis_prefix, warehouse, "test") == 0  # acknowledged
    make_loader().drain()
    dead = _rows(warehouse, "select message_id, schema_version, reason_codes, payload->'properties', status"
                            " from ops.dead_letters")
    assert {d[0] for d in dead} == {bad_enum["messageId"], no_id["messageId"], unknown["messageId"]}
    by_id = {d[0]: d for d in dead}
    assert by_id[bad_enum["messageId"]][1:] == ("signup_started/v2", ["schema.enum"],
                                                {"signup_source": "organic", "method": "fax"}, "pending")
    assert by_id[unknown["messageId"]][2] == ["unknown_event"]
    assert _rows(warehouse, "select count(*) from raw.events") == [(1,)]
