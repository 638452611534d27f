"""Ingest: clock-skew correction, ids, PII, limits, sorting messages into accepted rows and dead letters."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from onramp.collector.enrichment import Enricher
from onramp.collector.ingest import (
    RequestContext,
    RequestRejected,
    event_time_us,
    parse_us,
    process,
)
from onramp.collector.plan import TrackingPlan
from onramp.events.row import MESSAGE_ID, row_dict

RECEIVED = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def plan():
    return TrackingPlan()


@pytest.fixture(scope="module")
def enricher():
    return Enricher()


def ctx(**kw) -> RequestContext:
    return RequestContext(source="web", received_at=RECEIVED, **kw)


def track(**extra) -> dict:
    return {"type": "track", "event": "feature_used", "userId": "u1", "properties": {"feature": "reports"}, **extra}


def test_clock_skew_is_corrected_with_sent_at():
    # the device clock is 10 minutes fast: it stamped the event 5 s before sending
    received = parse_us("2026-03-01T12:00:00Z")
    message = {"timestamp": "2026-03-01T12:10:00Z", "sentAt": "2026-03-01T12:10:05Z"}
    corrected, original, sent = event_time_us(message, None, received)
    assert corrected == parse_us("2026-03-01T11:59:55Z")
    assert (original, sent) == (parse_us("2026-03-01T12:10:00Z"), parse_us("2026-03-01T12:10:05Z"))
    # batch-level sentAt applies when the message has none; no timestamp means "now"
    assert event_time_us({"timestamp": "2026-03-01T12:10:00Z"}, parse_us("2026-03-01T12:10:01Z"), received)[0] \
        == parse_us("2026-03-01T11:59:59Z")
    assert event_time_us({}, None, received) == (received, None, None)
    assert event_time_us({"timestamp": "2026-03-01T11:00:00"}, None, received)[0] == parse_us("2026-03-01T11:00:00Z")


def test_message_id_is_generated_when_absent_and_kept_when_given(plan, enricher):
    out = process([track(), track(messageId="m-1")], None, ctx(), plan, enricher)
    ids = [row[MESSAGE_ID] for row in out.accepted]
    assert ids[1] == "m-1" and len(ids[0]) == 36 and ids[0] != ids[1]


def test_the_ip_never_leaves_the_collector_but_its_geo_does(plan, enricher):
    message = track(context={"ip": "81.2.69.160", "userAgent": "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) "
                                                                "Gecko/20100101 Firefox/120.0"})
    row = row_dict(process([message], None, ctx(), plan, enricher).accepted[0])
    assert "ip" not in row["context"]
    assert (row["country"], row["browser"], row["os"]) == ("GB", "Firefox", "Linux")
    # without context.ip the request's address is used
    row = row_dict(process([track()], None, ctx(ip="81.2.69.160"), plan, enricher).accepted[0])
    assert row["country"] == "GB"


def test_single_call_endpoints_impose_their_type_and_batch_context_is_merged(plan, enricher):
    out = process([{"userId": "u1", "traits": {"plan": "pro"}, "type": "track"}], "identify", ctx(), plan, enricher)
    assert row_dict(out.accepted[0])["type"] == "identify"
    out = process([track(context={"locale": "fr-FR"})], None, ctx(), plan, enricher,
                  batch_context={"locale": "en-US", "library": {"name": "x"}})
    assert row_dict(out.accepted[0])["context"] == {"locale": "fr-FR", "library": {"name": "x"}}


def test_invalid_messages_become_dead_letters_with_their_payload(plan, enricher):
    bad = track(properties={"feature": "Bad Feature!"}, messageId="bad-1", context={"ip": "81.2.69.160"})
    out = process([track(), bad], None, ctx(), plan, enricher)
    assert len(out.accepted) == 1 and len(out.dead) == 1
    dead = out.dead[0]
    assert dead["message_id"] == "bad-1" and dead["schema_version"] == "feature_used/v2"
    assert dead["reasons"][0]["path"] == "$.properties.feature"
    assert dead["payload"]["properties"] == {"feature": "Bad Feature!"} and "ip" not in dead["payload"]["context"]
    assert dead["record"]["country"] == "GB"  # enrichment kept for the replay
    assert out.errors == [{"index": 1, "messageId": "bad-1", "reasons": dead["reasons"]}]


def test_event_time_out_of_range_is_dead_lettered(plan, enricher):
    out = process([track(timestamp="1999-12-31T00:00:00Z"), track(timestamp="2026-03-03T00:00:00Z")], None, ctx(),
                  plan, enricher)
    assert [d["reasons"][0]["code"] for d in out.dead] == ["timestamp.out_of_range"] * 2


def test_identify_and_alias_link_identities(plan, enricher):
    out = process([{"type": "identify", "userId": "u1", "anonymousId": "a1"},
                   {"type": "alias", "previousId": "old-id", "userId": "u1"},
                   {"type": "identify", "userId": "u2"}], None, ctx(), plan, enricher)
    assert out.identity == {"a1": "u1", "old-id": "u1"}


def test_whole_request_problems_reject_it(plan, enricher):
    with pytest.raises(RequestRejected) as caught:
        process([track(), "not an object"], None, ctx(), plan, enricher)
    assert (caught.value.status, caught.value.code) == (400, "invalid_message")
    huge = track(properties={"feature": "reports", "blob": "x" * 40_000})
    with pytest.raises(RequestRejected) as caught:
        process([huge], None, ctx(), plan, enricher, body_bytes=41_000)
    assert caught.value.status == 413 and "message 0 is" in caught.value.message


def test_nul_characters_are_replaced_since_postgres_cannot_store_them():
    import orjson

    from onramp.collector.ingest import replace_nul

    text = orjson.dumps({"a\x00": ["x\x00", 1, {"k": None}], "kept": "\\u0000", "odd": "\\\x00"})
    assert orjson.loads(replace_nul(text)) == {"a\ufffd": ["x\ufffd", 1, {"k": None}], "kept": "\\u0000",
                                               "odd": "\\\ufffd"}
    deep = b'{"a":' * 1000 + b'"\\u0000"' + b"}" * 1000  # orjson reads it; a recursive walk would not
    assert b"\\u0000" not in replace_nul(deep)


def _nested(levels: int, leaf="x"):
    value = leaf
    for _ in range(levels):
        value = {"a": value}
    return value


def test_a_message_too_deep_to_encode_is_dead_lettered_cut_and_the_others_accepted(plan, enricher):
    import orjson

    from onramp.events.payload import CUT_MARKER

    deep = track(properties={"feature": "reports", "deep": _nested(300)}, messageId="deep")
    out = process([track(messageId="ok"), deep], None, ctx(), plan, enricher)
    assert [row[MESSAGE_ID] for row in out.accepted] == ["ok"]
    assert [d["message_id"] for d in out.dead] == ["deep"]
    assert [r["code"] for r in out.dead[0]["reasons"]] == ["payload.too_deep"]
    stored = orjson.loads(out.dead_encoded[0])  # the dead letter itself encodes
    assert CUT_MARKER in orjson.dumps(stored["payload"]).decode() and stored["payload"]["properties"]["feature"] == "reports"
    # too deep and breaking the plan: both reasons
    out = process([track(properties={"feature": "Bad!", "deep": _nested(300)})], None, ctx(), plan, enricher)
    assert [r["code"] for r in out.dead[0]["reasons"]] == ["schema.pattern", "payload.too_deep"]
    # the plan's reasons for a too-deep value it refuses (jsonschema_rs cannot hand it back) come from the cut one
    out = process([track(properties={"deep": _nested(300)})], None, ctx(), plan, enricher)
    assert [r["code"] for r in out.dead[0]["reasons"]] == ["schema.required", "payload.too_deep"]
    # deep outside the columns the row keeps (an unknown top-level key): the row encodes, the event is accepted
    assert len(process([track(extra=_nested(300))], None, ctx(), plan, enricher).accepted) == 1


def test_cut_depth_keeps_the_shape_down_to_the_cut():
    from onramp.events.payload import CUT_MARKER, cut_depth

    assert cut_depth({"a": [1, {"b": 2}]}, 3) == {"a": [1, {"b": 2}]}
    assert cut_depth({"a": [1, {"b": 2}]}, 2) == {"a": [1, CUT_MARKER]}
    assert cut_depth("scalar", 0) == "scalar"
