"""The collector's HTTP contract: every bad request gets the right 4xx and a reason, Redis down gets 503."""

from __future__ import annotations

import base64
import gzip

import orjson
import pytest
import redis

from onramp.collector.config import CollectorConfig

from .conftest import AUTH, WRITE_KEY, track


def _metric(client, name: str, **labels) -> float:
    text = client.get("/metrics").text
    wanted = ",".join(f'{k}="{v}"' for k, v in labels.items())
    for line in text.splitlines():
        if line.startswith(f"{name}{{{wanted}}}") or (not labels and line.startswith(f"{name} ")):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


BAD_REQUESTS = [
    # (what, request kwargs, status, code)
    ("malformed JSON", {"content": b'{"batch": [', "headers": {**AUTH, "Content-Type": "application/json"}}, 400, "invalid_json"),
    ("JSON array body", {"content": b"[1, 2]", "headers": AUTH}, 400, "invalid_body"),
    ("batch not a list", {"json": {"batch": {"type": "track"}}, "headers": AUTH}, 400, "invalid_batch"),
    ("message not an object", {"json": {"batch": [track(), 42]}, "headers": AUTH}, 400, "invalid_message"),
    ("no write key", {"json": {"batch": [track()]}}, 401, "missing_write_key"),
    ("unknown write key", {"json": {"batch": [track()]},
                           "headers": {"Authorization": "Basic " + base64.b64encode(b"nope:").decode()}}, 401,
     "unknown_write_key"),
    ("garbage auth header", {"json": {"batch": [track()]}, "headers": {"Authorization": "Basic !!!"}}, 401,
     "unknown_write_key"),
    ("unknown body write key", {"json": {"batch": [track()], "writeKey": "nope"}}, 401, "unknown_write_key"),
    ("wrong content type", {"content": b"a=1", "headers": {**AUTH, "Content-Type": "application/x-www-form-urlencoded"}},
     415, "unsupported_media_type"),
    ("bad gzip", {"content": b"not gzip at all", "headers": {**AUTH, "Content-Encoding": "gzip"}}, 400, "bad_gzip"),
    ("truncated gzip", {"content": gzip.compress(orjson.dumps({"batch": [track()]}))[:-12],
                        "headers": {**AUTH, "Content-Encoding": "gzip"}}, 400, "bad_gzip"),
    ("gzip then junk", {"content": gzip.compress(orjson.dumps({"batch": [track()]})) + b"junk!",
                        "headers": {**AUTH, "Content-Encoding": "gzip"}}, 400, "bad_gzip"),
    ("two gzip members", {"content": gzip.compress(orjson.dumps({"batch": [track()]})) * 2,
                          "headers": {**AUTH, "Content-Encoding": "gzip"}}, 400, "bad_gzip"),
    ("unsupported encoding", {"content": b"{}", "headers": {**AUTH, "Content-Encoding": "br"}}, 415, "unsupported_encoding"),
    ("oversize request", {"content": b'{"batch": []' + b" " * 600_000 + b"}", "headers": AUTH}, 413, "request_too_large"),
    ("oversize after gunzip", {"content": gzip.compress(b'{"batch": []' + b" " * 600_000 + b"}"),
                               "headers": {**AUTH, "Content-Encoding": "gzip"}}, 413, "request_too_large"),
    ("oversize event", {"json": {"batch": [track(properties={"feature": "x", "blob": "y" * 33_000})]}, "headers": AUTH},
     413, "event_too_large"),
]


@pytest.mark.parametrize(("what", "request_kwargs", "status", "code"), BAD_REQUESTS, ids=[b[0] for b in BAD_REQUESTS])
def test_bad_requests_get_the_right_4xx_with_a_reason(client, settings, redis_prefix, what, request_kwargs, status, code):
    response = client.post("/v1/batch", **request_kwargs)
    assert response.status_code == status, response.text
    body = response.json()
    assert body["success"] is False and body["code"] == code and body["message"]
    assert _metric(client, "onramp_collector_rejected_requests_total", reason=code) >= 1
    assert not redis.Redis.from_url(settings.redis_url).exists(f"{redis_prefix}events")  # nothing stored


def test_every_call_type_is_accepted_alone_and_gzip_works(client):
    accepted_before = _metric(client, "onramp_collector_events_total", outcome="accepted")  # counters are per process
    calls = {
        "track": track(),
        "identify": {"userId": "u1", "anonymousId": "anon-1", "traits": {"plan": "pro"}},
        "page": {"anonymousId": "anon-1", "name": "Home", "properties": {"path": "/"}},
        "screen": {"userId": "u1", "name": "Settings"},
        "group": {"userId": "u1", "groupId": "g1", "traits": {"name": "Acme"}},
        "alias": {"previousId": "anon-1", "userId": "u1"},
    }
    for kind, message in calls.items():
        response = client.post(f"/v1/{kind}", json=message, headers=AUTH)
        assert response.status_code == 200, (kind, response.text)
    body = gzip.compress(orjson.dumps({"batch": [track(), track()], "sentAt": "2026-03-01T12:00:00Z"}))
    response = client.post("/v1/batch", content=body,
                           headers={**AUTH, "Content-Encoding": "gzip", "Content-Type": "application/json"})
    assert response.json() == {"success": True, "accepted": 2}
    # analytics.js beacons: text/plain with the write key in the body
    response = client.post("/v1/track", content=orjson.dumps({**track(), "writeKey": WRITE_KEY}),
                           headers={"Content-Type": "text/plain"})
    assert response.status_code == 200
    assert _metric(client, "onramp_collector_events_total", outcome="accepted") - accepted_before == 9
    assert _metric(client, "onramp_stream_length", stream="events") == 8


def test_a_single_invalid_event_is_a_400_but_still_dead_lettered(client, settings, redis_prefix):
    before = _metric(client, "onramp_collector_dead_letters_total", reason="schema.pattern")
    response = client.post("/v1/track", json=track("feature_used", {"feature": "Not Snake"}), headers=AUTH)
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid_events" and body["dead_lettered"] == 1
    assert body["errors"][0]["reasons"][0]["path"] == "$.properties.feature"
    assert redis.Redis.from_url(settings.redis_url).xlen(f"{redis_prefix}events:dead") == 1
    assert _metric(client, "onramp_collector_dead_letters_total", reason="schema.pattern") - before == 1


def test_bytes_after_the_gzip_stream_are_refused_and_counted(client):
    body = gzip.compress(orjson.dumps({"batch": [track()]}))
    response = client.post("/v1/batch", content=body + b"trailing", headers={**AUTH, "Content-Encoding": "gzip"})
    assert response.status_code == 400 and response.json()["code"] == "bad_gzip"
    assert response.json()["message"].startswith("8 bytes follow the gzip stream")


def _nested(levels: int, leaf="x"):
    value = leaf
    for _ in range(levels):
        value = {"a": value}
    return value


def test_a_message_too_deep_to_store_is_dead_lettered_and_the_rest_of_its_batch_is_kept(
        client, make_loader, warehouse, settings, redis_prefix):
    """orjson reads 1,024 levels but writes 254: such a message used to fail the whole request with a 503."""
    from onramp.stream.dead_letters import drain_dead_letters

    deep = track(properties={"signup_source": "organic", "method": "email", "deep": _nested(300)}, messageId="deep-1")
    response = client.post("/v1/batch", json={"batch": [track(messageId="ok-1"), deep]}, headers=AUTH)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["accepted"], body["dead_lettered"]) == (1, 1)
    assert [r["code"] for r in body["errors"][0]["reasons"]] == ["payload.too_deep"]
    # alone, it is a 400 (nothing was accepted), never a 5xx; a deep NUL (the text is rewritten, not walked) too
    alone = client.post("/v1/track", json=track(properties={"deep": _nested(1000, "a\u0000")}, messageId="deep-2"),
                        headers=AUTH)
    assert alone.status_code == 400 and alone.json()["code"] == "invalid_events", alone.text
    assert _metric(client, "onramp_collector_dead_letters_total", reason="payload.too_deep") >= 2

    assert drain_dead_letters(redis.Redis.from_url(settings.redis_url), redis_prefix, warehouse, "t") == 2
    assert make_loader().drain().loaded == 1
    import psycopg

    with psycopg.connect(warehouse) as conn:
        assert [r[0] for r in conn.execute("select message_id from raw.events")] == ["ok-1"]
        rows = dict(conn.execute("select message_id, payload from ops.dead_letters").fetchall())
    assert set(rows) == {"deep-1", "deep-2"}
    stored, depth = rows["deep-1"]["properties"]["deep"], 0
    while isinstance(stored, dict):
        stored, depth = stored["a"], depth + 1
    assert stored == "<cut: nested too deep>" and depth < 40  # kept cut, with a marker where it was cut


def test_unknown_paths_and_methods(client):
    assert client.post("/v1/purchase", json={}, headers=AUTH).status_code == 404
    assert client.get("/v1/track").status_code == 405
    assert client.get("/openapi.json").json()["paths"]["/v1/batch"]


def test_rate_limit_and_backlog_answer_429(settings, redis_prefix):
    from starlette.testclient import TestClient

    from onramp.collector.app import create_app

    config = CollectorConfig(redis_url=settings.redis_url, redis_prefix=redis_prefix, write_keys={WRITE_KEY: "web"},
                             rate_limit_events_per_s=5)
    with TestClient(create_app(config)) as client:
        statuses = [client.post("/v1/batch", json={"batch": [track(), track()]}, headers=AUTH).status_code
                    for _ in range(6)]
        assert statuses[:2] == [200, 200] and statuses[-1] == 429
        limited = client.post("/v1/batch", json={"batch": [track()] * 5}, headers=AUTH)
        assert limited.json()["code"] == "rate_limited" and limited.headers["Retry-After"] == "1"
    app = create_app(CollectorConfig(redis_url=settings.redis_url, redis_prefix=redis_prefix,
                                     write_keys={WRITE_KEY: "web"}, max_backlog=1))
    with TestClient(app) as client:
        app.state.collector.backlog = 2  # as the watcher would see a stream the loader is behind on
        response = client.post("/v1/batch", json={"batch": [track()]}, headers=AUTH)
        assert response.status_code == 429 and response.json()["code"] == "backlog_full"


def test_redis_down_answers_503_never_200(redis_prefix):
    from starlette.testclient import TestClient

    from onramp.collector.app import create_app
    from tests.conftest import free_port

    config = CollectorConfig(redis_url=f"redis://127.0.0.1:{free_port()}/0", redis_prefix=redis_prefix,
                             write_keys={WRITE_KEY: "web"}, redis_timeout_s=0.5)
    with TestClient(create_app(config)) as client:
        response = client.post("/v1/batch", json={"batch": [track()]}, headers=AUTH)
        assert response.status_code == 503 and response.json()["code"] == "store_unavailable"
        assert response.headers["Retry-After"] == "1"
        assert client.get("/health").status_code == 503
