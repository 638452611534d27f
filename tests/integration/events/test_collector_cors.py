"""What browser SDKs need from the collector: preflights, CORS on every answer, their paths, beacons."""

from __future__ import annotations

import orjson
import pytest
import redis

from onramp.collector.config import CollectorConfig
from onramp.events.row import TYPE

from .conftest import AUTH, WRITE_KEY, track
from .test_collector_http import _metric

PAGE = "http://127.0.0.1:18191"


@pytest.fixture
def browser_client(settings, redis_prefix):
    from starlette.testclient import TestClient

    from onramp.collector.app import create_app

    config = CollectorConfig(redis_url=settings.redis_url, redis_prefix=redis_prefix,
                             write_keys={WRITE_KEY: "web", "server-key": "backend"},
                             allowed_origins={WRITE_KEY: (PAGE, "https://*.example.com")})
    with TestClient(create_app(config)) as client:
        yield client


def _stored(settings, redis_prefix) -> int:
    client = redis.Redis.from_url(settings.redis_url)
    try:
        return sum(int(fields[b"n"]) for _, fields in client.xrange(f"{redis_prefix}events"))
    finally:
        client.close()


@pytest.mark.parametrize("path", ["/v1/t", "/v1/track", "/v1/b", "/v1/batch", "/v1/m", "/beacon/v1/batch"])
def test_preflight_answers_204_with_what_the_sdks_send(browser_client, path):
    response = browser_client.options(path, headers={
        "Origin": PAGE, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type,x-retry-count"})
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == PAGE
    assert response.headers["access-control-allow-methods"] == "POST"
    allowed = {h.strip().lower() for h in response.headers["access-control-allow-headers"].split(",")}
    assert {"authorization", "content-type", "content-encoding", "x-retry-count"} <= allowed
    assert int(response.headers["access-control-max-age"]) >= 600


def test_every_answer_to_a_page_carries_the_origin_errors_included(browser_client, settings, redis_prefix):
    page = {"Origin": PAGE}
    answers = {
        "accepted": browser_client.post("/v1/t", json=track(), headers={**AUTH, **page}),
        "bad json": browser_client.post("/v1/t", content=b"{", headers={**AUTH, **page}),
        "invalid event": browser_client.post("/v1/t", json=track("feature_used", {"feature": "Bad Key"}),
                                             headers={**AUTH, **page}),
        "no key": browser_client.post("/v1/t", json=track(), headers=page),
        "unknown call": browser_client.post("/v1/x", json=track(), headers={**AUTH, **page}),
        "wrong method": browser_client.get("/v1/t", headers=page),
    }
    assert {what: r.status_code for what, r in answers.items()} == {
        "accepted": 200, "bad json": 400, "invalid event": 400, "no key": 401, "unknown call": 404,
        "wrong method": 405}
    for what, response in answers.items():
        assert response.headers.get("access-control-allow-origin") == PAGE, what
        assert "Retry-After" in response.headers.get("access-control-expose-headers", "") or what == "wrong method"
    assert _stored(settings, redis_prefix) == 1
    # requests without Origin (server SDKs, curl) get no CORS headers: nothing changes for them
    assert "access-control-allow-origin" not in browser_client.post("/v1/t", json=track(), headers=AUTH).headers


def test_a_key_only_accepts_pages_on_its_origins(browser_client, settings, redis_prefix):
    ok = browser_client.post("/v1/track", json=track(), headers={**AUTH, "Origin": "https://eu.example.com"})
    assert ok.status_code == 200
    refused = browser_client.post("/v1/batch", json={"batch": [track(), track()]},
                                  headers={**AUTH, "Origin": "https://evil.test"})
    assert refused.status_code == 403 and refused.json()["code"] == "origin_not_allowed"
    assert "https://evil.test" in refused.json()["message"] and "allowed_origins" in refused.json()["message"]
    assert refused.headers["access-control-allow-origin"] == "https://evil.test"  # readable, so the SDK stops
    server_key = "Basic c2VydmVyLWtleTo="  # "server-key:": a key without origins refuses every page
    refused = browser_client.post("/v1/track", json=track(), headers={"Authorization": server_key, "Origin": PAGE})
    assert refused.status_code == 403
    assert browser_client.post("/v1/track", json=track(), headers={"Authorization": server_key}).status_code == 200
    assert _stored(settings, redis_prefix) == 2
    assert _metric(browser_client, "onramp_collector_rejected_requests_total", reason="origin_not_allowed") >= 2


def test_analytics_js_short_paths_are_the_segment_calls(browser_client, settings, redis_prefix):
    calls = {
        "t": track(), "i": {"userId": "u1", "anonymousId": "anon-1", "traits": {"plan": "pro"}},
        "p": {"anonymousId": "anon-1", "name": "Home"}, "s": {"userId": "u1", "name": "Settings"},
        "g": {"userId": "u1", "groupId": "g1"}, "a": {"previousId": "anon-1", "userId": "u1"},
    }
    for path, message in calls.items():
        response = browser_client.post(f"/v1/{path}", content=orjson.dumps({**message, "writeKey": WRITE_KEY}),
                                       headers={"Content-Type": "text/plain", "Origin": PAGE})
        assert response.status_code == 200, (path, response.text)
    batch = {"writeKey": WRITE_KEY, "batch": [track(), track()], "sentAt": "2026-03-01T12:00:01Z"}
    response = browser_client.post("/v1/b", content=orjson.dumps(batch), headers={"Content-Type": "text/plain"})
    assert response.json() == {"success": True, "accepted": 2}
    client = redis.Redis.from_url(settings.redis_url)
    rows = [row for _, fields in client.xrange(f"{redis_prefix}events") for row in orjson.loads(fields[b"e"])]
    client.close()
    assert [row[TYPE] for row in rows] == ["track", "identify", "page", "screen", "group", "alias", "track", "track"]


def test_sdk_metrics_are_counted_and_never_stored(browser_client, settings, redis_prefix):
    def count(metric: str) -> float:
        return _metric(browser_client, "onramp_collector_sdk_metrics_total", metric=metric)

    before = {name: count(name) for name in ("analytics_js.invoke.track", "other")}
    body = {"series": [{"type": "Counter", "metric": "analytics_js.invoke.track", "value": 3, "tags": {"x": "y"}},
                       {"type": "Counter", "metric": "<script>", "value": 1},
                       {"type": "Counter", "metric": "analytics_js.invoke.page", "value": "lots"}]}
    response = browser_client.post("/v1/m", content=orjson.dumps(body),
                                   headers={"Content-Type": "text/plain", "Origin": PAGE})
    assert response.status_code == 200 and response.headers["access-control-allow-origin"] == PAGE
    assert count("analytics_js.invoke.track") - before["analytics_js.invoke.track"] == 3
    assert count("other") - before["other"] == 1
    assert browser_client.post("/v1/m", content=b"[]", headers={"Origin": PAGE}).status_code == 400
    assert not redis.Redis.from_url(settings.redis_url).exists(f"{redis_prefix}events")


def test_beacons_carry_the_key_in_the_body_or_the_url(browser_client, settings, redis_prefix):
    segment = orjson.dumps({"writeKey": WRITE_KEY, "batch": [track()]})
    response = browser_client.post("/v1/batch", content=segment, headers={"Content-Type": "text/plain", "Origin": PAGE})
    assert response.status_code == 200
    rudderstack = orjson.dumps({"batch": [track(), track()], "sentAt": "2026-03-01T12:00:01.000Z"})
    response = browser_client.post(f"/beacon/v1/batch?writeKey={WRITE_KEY}", content=rudderstack,
                                   headers={"Content-Type": "text/plain;charset=UTF-8", "Origin": PAGE})
    assert response.json() == {"success": True, "accepted": 2}
    assert browser_client.post("/beacon/v1/batch?writeKey=nope", content=rudderstack,
                               headers={"Content-Type": "text/plain"}).json()["code"] == "unknown_write_key"
    assert _stored(settings, redis_prefix) == 3


def test_unknown_paths_share_one_metrics_label(browser_client):
    before = _metric(browser_client, "onramp_collector_requests_total", endpoint="unknown", status="404")
    for path in ("/v1/purchase", "/v1/zzz", "/v1/q"):
        assert browser_client.post(path, json={}, headers=AUTH).status_code == 404
    after = _metric(browser_client, "onramp_collector_requests_total", endpoint="unknown", status="404")
    assert after - before == 3
    assert 'endpoint="purchase"' not in browser_client.get("/metrics").text
