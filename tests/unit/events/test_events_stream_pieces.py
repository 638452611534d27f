"""Pure pieces of the stream path: the Arrow layout, the trigger's firing rule, the OpenAPI document."""

from __future__ import annotations

from datetime import UTC, datetime

from onramp.collector.enrichment import Enricher
from onramp.collector.ingest import RequestContext, process
from onramp.collector.openapi import document
from onramp.collector.plan import TrackingPlan
from onramp.stream import records
from onramp.stream.backlog import Backlog, should_fire


def test_rows_become_one_arrow_layout_with_event_dates():
    ctx = RequestContext(source="web", received_at=datetime(2026, 3, 1, 0, 0, 1, tzinfo=UTC))
    out = process([{"type": "track", "event": "feature_used", "userId": "u", "properties": {"feature": "api"},
                    "timestamp": "2026-02-28T23:59:59Z"}], None, ctx, TrackingPlan(), Enricher())
    table = records.to_table(out.accepted, ["1-0"], "b1")
    assert table.schema == records.SCHEMA
    row = table.to_pylist()[0]
    assert str(row["event_date"]) == "2026-02-28" and row["properties"] == '{"feature":"api"}'
    assert row["stream_id"] == "1-0" and row["load_batch_id"] == "b1" and row["is_planned"] is True


def test_decoded_stream_rows_and_in_process_rows_give_the_same_table():
    """The loader's fast column building (raw JSON joined, strings via binary) keeps values exact, non-ASCII too."""
    import orjson

    ctx = RequestContext(source="wéb", received_at=datetime(2026, 3, 1, tzinfo=UTC))
    messages = [{"type": "track", "event": "feature_used", "userId": f"ü{i}", "properties": {"feature": "api", "label": "日本", "n": i},
                 "context": {"page": {"title": "Ünïcode"}}, "timestamp": "2026-02-28T23:59:59Z"} for i in range(3)]
    messages.append({"type": "identify", "anonymousId": "a", "traits": {}, "timestamp": "2026-03-01T00:00:00Z"})
    out = process(messages, None, ctx, TrackingPlan(), Enricher())
    assert not out.errors
    built = records.to_table(out.accepted, ["1-0"] * 4, "b1")
    decoded = records.to_table(records.decode_rows(orjson.dumps(out.accepted)), ["1-0"] * 4, "b1")
    assert decoded.equals(built)
    rows = decoded.to_pylist()
    assert rows[0]["user_id"] == "ü0" and rows[0]["source"] == "wéb"
    assert orjson.loads(rows[2]["properties"]) == {"feature": "api", "label": "日本", "n": 2}
    assert rows[3]["traits"] == "{}" and rows[3]["user_id"] is None
    assert [str(r["event_date"]) for r in rows] == ["2026-02-28"] * 3 + ["2026-03-01"]


def test_trigger_fires_on_new_entries_and_refires_only_for_a_stuck_backlog():
    moving = Backlog("5-0", lag=3, pending=0)
    assert should_fire(moving, None, 0, 300)
    assert not should_fire(moving, "5-0", 10, 300)  # same entries, a run is on it
    assert should_fire(moving, "5-0", 301, 300)  # nobody cleared it: wake again
    assert should_fire(Backlog("6-0", 0, 2), "5-0", 1, 300)  # pending after a crash counts
    assert not should_fire(Backlog("6-0", 0, 0), None, 1000, 300)


def test_trigger_class_is_an_airflow_event_trigger_and_round_trips():
    from airflow.triggers.base import BaseEventTrigger

    from onramp.airflow.triggers import StreamBacklogTrigger

    trigger = StreamBacklogTrigger(stream="p:events", group="loader", poll_interval=1.0)
    assert isinstance(trigger, BaseEventTrigger)
    classpath, kwargs = trigger.serialize()
    assert classpath == "onramp.airflow.triggers.StreamBacklogTrigger"
    from airflow._shared.module_loading import import_string  # what the triggerer uses

    assert import_string(classpath)(**kwargs).serialize() == (classpath, kwargs)


def test_openapi_document_describes_every_call_and_status():
    doc = document(TrackingPlan(), 32 * 1024, 500 * 1024)
    assert doc["openapi"].startswith("3.1")
    assert {f"/v1/{c}" for c in ("track", "identify", "page", "screen", "group", "alias", "batch")} <= set(doc["paths"])
    responses = doc["paths"]["/v1/batch"]["post"]["responses"]
    assert {"200", "400", "401", "413", "415", "429", "503"} <= set(responses)
    assert doc["components"]["securitySchemes"]["writeKey"] == {"type": "http", "scheme": "basic"}
    assert doc["components"]["schemas"]["Track"]["required"] == ["event"]
