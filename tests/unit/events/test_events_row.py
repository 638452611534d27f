"""The stream row both sides share, and what the loader makes of entries it cannot read."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson

from onramp.collector.enrichment import Enricher
from onramp.collector.ingest import RequestContext, process
from onramp.collector.plan import TrackingPlan
from onramp.events import row
from onramp.stream import poison, records
from onramp.stream.entries import decode_entries


def _rows(*ids: str) -> list[list]:
    messages = [{"type": "track", "event": "feature_used", "userId": "u", "messageId": i,
                 "properties": {"feature": "api"}} for i in ids]
    return process(messages, None, RequestContext("web", datetime(2026, 3, 1, tzinfo=UTC)), TrackingPlan(),
                   Enricher()).accepted


def test_the_named_positions_and_every_reader_follow_the_one_field_list():
    built = _rows("m1")[0]
    assert len(built) == len(row.ROW_FIELDS)  # what the collector writes ...
    assert len(records.ROW_TYPE.__args__) == len(row.ROW_FIELDS)  # ... is what the loader reads
    assert row.ROW_FIELDS[-len(row.ENRICHMENT_FIELDS):] == row.ENRICHMENT_FIELDS
    assert len(Enricher().enrich({}, None, None)) == len(row.ENRICHMENT_FIELDS)
    named = row.row_dict(built)
    for constant in ("MESSAGE_ID", "TYPE", "EVENT_NAME", "USER_ID", "ANONYMOUS_ID", "PREVIOUS_ID", "TS_US",
                     "RECEIVED_AT_US", "SOURCE", "SCHEMA_VERSION"):
        assert built[getattr(row, constant)] == named[constant.lower()], constant
    entry = row.events_entry(b"[]", 0, replay="r")
    assert entry == {"v": row.ROW_FORMAT, "e": b"[]", "n": 0, "replay": "r"}


def test_a_bad_row_costs_only_itself_and_an_unreadable_entry_becomes_one_dead_letter():
    good = _rows("a", "b", "c")
    good[1] = good[1][:3]
    entries = [
        (b"5-0", {b"v": b"1", b"e": orjson.dumps(good), b"n": b"3"}),
        (b"6-0", {b"v": b"1", b"e": b"[[", b"n": b"7"}),
        (b"7-0", {b"v": b"1", b"e": orjson.dumps(_rows("a"))}),  # a repeat of a: dropped, still counted
        (b"8-0", None),  # an entry trimmed away
    ]
    decoded = decode_entries(entries)
    assert [r[row.MESSAGE_ID] for r in decoded.rows] == ["a", "c"] and decoded.stream_ids == ["5-0", "5-0"]
    assert [(d.message_id, d.events, d.reason.code) for d in decoded.dead] == [
        ("b", 1, "stream.undecodable"), ("stream:events:6-0", 7, "stream.undecodable")]
    assert decoded.events == 3 + 1 + 7  # rows read (the repeat included) + what the dead letters stand for
    assert decoded.dead[1].received_at_us == 6 * 1000  # when Redis took it: the entry id is in milliseconds


def test_raw_content_is_kept_as_text_or_base64_and_counts_are_read_defensively():
    assert poison.raw(b'[["x"') == '[["x"'
    assert poison.raw(b"\xff\x00") == {"base64": "/wA="} and poison.raw("a\x00") == {"base64": "YQA="}
    assert poison.declared_events({b"n": b"12"}) == 12
    assert poison.declared_events({b"n": b"lots"}) == poison.declared_events({}) == poison.declared_events(None) == 1
    letter = poison.unknown_format("events", "9-1", {b"v": b"2", b"e": b"[]"}, b"2")
    assert letter.payload["fields"] == {"v": "2", "e": "[]"} and "row format '2'" in letter.reason.message
    table = poison.to_table([letter])
    assert table.schema == poison.COLUMNS and table["events"].to_pylist() == [1]
