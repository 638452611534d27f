"""Property test: whatever arrives, no 5xx, and every accepted event is accounted for downstream.

accepted (answered 200 and counted in the response) = loaded into raw.events + deduplicated + dead-lettered
by the loader, and every dead-lettered event is in ops.dead_letters: nothing is lost silently (DESIGN.md,
invariant 1). Messages come nested up to past orjson's limits; poison entries are slipped into the stream.
"""

from __future__ import annotations

import base64
import gzip
import json
from collections import Counter

import psycopg
import redis
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from onramp.events.row import events_entry
from onramp.stream.dead_letters import drain_dead_letters

from .conftest import AUTH

PLANNED = {
    "signup_started": {"signup_source": "organic", "method": "email"},
    "feature_used": {"feature": "reports"},
    "form_filled": {"form": "signup", "fields": ["email"]},
}
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=8,
)


def _nested(levels: int, leaf) -> dict:
    value = leaf
    for _ in range(levels):
        value = {"a": value}
    return {"deep": value}


# orjson reads 1,024 levels and writes 254; jsonschema_rs hands back ~254: both sides of each limit
deep_values = st.builds(_nested, st.sampled_from([3, 250, 252, 253, 254, 255, 300, 1000, 1030]), json_values)
timestamps = st.sampled_from([None, "2026-03-01T12:00:00Z", "2026-03-01T12:00:00.123+02:00", "yesterday",
                              "1990-01-01T00:00:00Z", "3000-01-01T00:00:00Z", 12345])


@st.composite
def messages(draw) -> dict:
    """Mostly plausible Segment messages, with every field liable to be missing, wrong or odd."""
    kind = draw(st.sampled_from(["track", "track", "track", "identify", "page", "screen", "group", "alias", "bogus",
                                 None]))
    message: dict = {}
    if kind is not None:
        message["type"] = kind
    if draw(st.booleans()):
        message["messageId"] = f"m-{draw(st.integers(0, 30))}"  # a small pool: repeats must be deduplicated
    for key in ("userId", "anonymousId", "previousId", "groupId"):
        if draw(st.integers(0, 3)) > 0:
            message[key] = draw(st.sampled_from(["u-1", "a-2", 7, "", None, ["x"]]))
    if kind == "track" or draw(st.booleans()):
        name = draw(st.sampled_from([*PLANNED, "rocket_launched", "", 5]))
        message["event"] = name
        message["properties"] = (dict(PLANNED[name]) if isinstance(name, str) and name in PLANNED
                                 and draw(st.booleans()) else draw(json_values))
    if draw(st.booleans()):
        message["timestamp"] = draw(timestamps)
    if draw(st.booleans()):
        message["context"] = draw(st.one_of(json_values, st.just({"ip": "81.2.69.160", "userAgent": "curl/8"})))
    if draw(st.integers(0, 5)) == 0:
        message["traits"] = draw(json_values)
    if draw(st.integers(0, 6)) == 0:
        message[draw(st.sampled_from(["properties", "context", "traits", "extra"]))] = draw(deep_values)
    return message


@st.composite
def requests(draw) -> tuple[str, bytes, dict]:
    path = draw(st.sampled_from(["batch", "batch", "batch", "track", "identify", "page", "alias"]))
    if path == "batch":
        body_obj = {"batch": draw(st.lists(messages(), max_size=6))}
        if draw(st.booleans()):
            body_obj["sentAt"] = draw(timestamps)
    else:
        body_obj = draw(messages())
    body = json.dumps(body_obj).encode()
    shape = draw(st.sampled_from(["ok", "ok", "ok", "garbage", "truncated", "gzip", "bad_gzip", "array"]))
    headers = dict(AUTH, **{"Content-Type": "application/json"})
    if shape == "garbage":
        body = draw(st.binary(max_size=64))
    elif shape == "truncated":
        body = body[: max(1, len(body) // 2)]
    elif shape == "gzip":
        body, headers["Content-Encoding"] = gzip.compress(body), "gzip"
    elif shape == "bad_gzip":
        body, headers["Content-Encoding"] = gzip.compress(body)[:-5], "gzip"
    elif shape == "array":
        body = b"[" + body + b"]"
    auth = draw(st.sampled_from(["good", "good", "good", "bad", "none"]))
    if auth == "bad":
        headers["Authorization"] = "Basic " + base64.b64encode(b"wrong:").decode()
    elif auth == "none":
        headers.pop("Authorization")
    headers["Content-Type"] = draw(st.sampled_from(["application/json", "application/json; charset=utf-8",
                                                    "text/plain", "application/xml"]))
    return path, body, headers


def test_no_5xx_and_accepted_equals_loaded_plus_dead_lettered_plus_deduplicated(
        client, make_loader, warehouse, settings, redis_prefix):
    totals: Counter = Counter()
    accepted_ids: set[str] = set()

    @hypothesis_settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(requests())
    def send(request):
        path, body, headers = request
        response = client.post(f"/v1/{path}", content=body, headers=headers)
        assert response.status_code < 500, (response.status_code, response.text, body[:200])
        answer = response.json()
        assert "success" in answer
        if response.status_code != 200:
            assert answer.get("code") and answer.get("message"), answer
        totals["accepted"] += answer.get("accepted", 0)
        totals["dead_lettered"] += answer.get("dead_lettered", 0)
        totals[f"status_{response.status_code}"] += 1
        totals["too_deep"] += sum(r["code"] == "payload.too_deep" for e in answer.get("errors", []) for r in e["reasons"])

    send()
    assert totals["accepted"] > 0 and totals["dead_lettered"] > 0 and totals["status_400"] > 0, totals
    assert totals["too_deep"] > 0, totals  # the depth limits were reached, and answered without a 5xx

    # poison the loader must get past: unreadable JSON, a format it does not know, a row of another layout
    r = redis.Redis.from_url(settings.redis_url)
    stream = f"{redis_prefix}events"
    r.xadd(stream, {"v": b"1", "e": b'[["half', "n": 2})
    r.xadd(stream, {"v": b"?", "e": b"[]", "n": 3})
    r.xadd(stream, events_entry(b'[["too", "short"]]', 1))
    poison = 2 + 3 + 1

    dead_read = drain_dead_letters(r, redis_prefix, warehouse, "fuzz")
    report = make_loader().drain()
    with psycopg.connect(warehouse) as conn:
        loaded = conn.execute("select count(*) from raw.events").fetchone()[0]
        accepted_ids = {row[0] for row in conn.execute("select message_id from raw.events")}
        dead = conn.execute("select count(*) filter (where load_batch_id is null),"
                            " coalesce(sum(events) filter (where load_batch_id is not null), 0)"
                            " from ops.dead_letters").fetchone()
        dead_ids = {row[0] for row in conn.execute("select message_id from ops.dead_letters where load_batch_id is null")}
        batches = conn.execute("select sum(events), sum(loaded), sum(duplicates), sum(dead_lettered)"
                               " from ops.event_load_batches").fetchone()

    assert report.events == totals["accepted"] + poison  # every accepted event reached the loader
    assert report.loaded == loaded == len(accepted_ids)
    # accepted = loaded + deduplicated + dead-lettered by the loader (the poison entries, nothing else here)
    assert totals["accepted"] + poison == report.loaded + report.duplicates + report.dead_lettered
    assert report.dead_lettered == poison == dead[1]
    assert tuple(batches) == (report.events, report.loaded, report.duplicates, report.dead_lettered)
    assert dead_read == totals["dead_lettered"]  # every dead letter reached ops ...
    assert dead[0] == len(dead_ids) <= dead_read  # ... once per messageId
    assert r.xpending(stream, "loader")["pending"] == 0  # and everything was acknowledged
