"""Poison never blocks the stream: what the loader cannot decode, or the warehouse refuses, is dead-lettered with
its reason and raw content, acknowledged, and counted (events = loaded + duplicates + dead_lettered)."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import orjson
import psycopg
import pyarrow.dataset as ds
import pytest
import redis

from onramp.collector.enrichment import Enricher
from onramp.collector.ingest import RequestContext, process
from onramp.collector.plan import TrackingPlan
from onramp.events.row import COL, TS_US, USER_ID, events_entry
from onramp.stream.dead_letters import ReplayFilters, drain_dead_letters, replay
from onramp.stream.keys import LOADER_GROUP, StreamKeys
from onramp.stream.loader import lake_events_dir

from .conftest import AUTH, track


@pytest.fixture(scope="module")
def rows_for():
    plan, enricher = TrackingPlan(), Enricher()

    def make(*ids: str) -> list[list]:
        out = process([track(messageId=i) for i in ids], None, RequestContext("web", datetime.now(UTC)), plan, enricher)
        assert len(out.accepted) == len(ids)
        return out.accepted

    return make


def _rows(url: str, sql: str, *params) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(sql, params).fetchall()


def _assert_counts_reconcile(url: str) -> None:
    """Per batch events = loaded + duplicates + dead_lettered; the loader's dead letters are all in ops."""
    assert _rows(url, "select count(*) from ops.event_load_batches where events <> loaded + duplicates + dead_lettered"
                 ) == [(0,)]
    [(batches,)] = _rows(url, "select coalesce(sum(dead_lettered), 0) from ops.event_load_batches")
    [(letters,)] = _rows(url, "select coalesce(sum(events), 0) from ops.dead_letters where load_batch_id is not null")
    assert batches == letters


def test_undecodable_entries_and_rows_are_dead_lettered_and_the_stream_moves_on(make_loader, warehouse, settings,
                                                                               redis_prefix, rows_for):
    client = redis.Redis.from_url(settings.redis_url)
    stream = StreamKeys(redis_prefix).events
    ids = {}
    ids["first"] = client.xadd(stream, events_entry(orjson.dumps(rows_for("a1", "a2")), 2)).decode()
    ids["bad_json"] = client.xadd(stream, {"v": b"1", "e": b'[["not", json', "n": 3}).decode()
    ids["format_2"] = client.xadd(stream, {"v": b"x2", "e": orjson.dumps(rows_for("f1", "f2")), "n": 2}).decode()
    ids["no_rows"] = client.xadd(stream, {"x": b"\xff\x00junk"}).decode()
    mixed = rows_for("m1", "m2", "m3")
    mixed[1] = mixed[1][:5]  # a row of another layout, between two good ones
    mixed[2][TS_US] = -(2**62)  # a time no warehouse column can take (outside years 1-9999)
    ids["mixed"] = client.xadd(stream, events_entry(orjson.dumps(mixed), 3)).decode()
    ids["bad_count"] = client.xadd(stream, {"v": b"1", "e": orjson.dumps(rows_for("c1")), "n": b"lots"}).decode()
    ids["last"] = client.xadd(stream, events_entry(orjson.dumps(rows_for("z1")), 1)).decode()

    report = make_loader().drain()
    assert client.xpending(stream, LOADER_GROUP)["pending"] == 0  # everything acknowledged: nothing blocks
    loaded = sorted(r[0] for r in _rows(warehouse, "select message_id from raw.events"))
    assert loaded == ["a1", "a2", "c1", "m1", "z1"]
    assert (report.loaded, report.dead_lettered, report.duplicates) == (5, 3 + 2 + 1 + 2, 0)
    assert report.events == report.loaded + report.duplicates + report.dead_lettered

    letters = {r[0]: r[1:] for r in _rows(
        warehouse, "select message_id, reason_codes, events, stream_id, payload, reasons->0->>'message', source,"
                   " load_batch_id is not null from ops.dead_letters")}
    assert set(letters) == {f"stream:events:{ids['bad_json']}", f"stream:events:{ids['format_2']}",
                            f"stream:events:{ids['no_rows']}", "m2", "m3"}
    assert all(codes == ["stream.undecodable"] and loader for codes, *_, loader in letters.values())
    bad_json = letters[f"stream:events:{ids['bad_json']}"]
    assert bad_json[1] == 3 and bad_json[3]["fields"] == {"v": "1", "e": '[["not", json', "n": "3"}  # raw content
    assert "not a JSON array" in bad_json[4] and bad_json[5] == "unknown"
    format_2 = letters[f"stream:events:{ids['format_2']}"]
    assert format_2[1] == 2 and "row format 'x2'" in format_2[4]
    assert orjson.loads(format_2[3]["fields"]["e"])[0][0] == "f1"  # the rows are kept, to be re-sent after a fix
    no_rows = letters[f"stream:events:{ids['no_rows']}"][3]["fields"]
    assert base64.b64decode(no_rows["x"]["base64"]) == b"\xff\x00junk"  # bytes that are not text, losslessly
    assert letters["m2"][3]["row_index"] == 1 and letters["m2"][2] == ids["mixed"]
    assert "row 2" in letters["m3"][4]
    _assert_counts_reconcile(warehouse)

    # the loader's dead letters are not messages the plan could pass: a replay never matches them
    assert replay(client, redis_prefix, warehouse, "r1", ReplayFilters(), plan=TrackingPlan()).matched == 0
    assert replay(client, redis_prefix, warehouse, "r2", ReplayFilters(reason="stream.*"), plan=TrackingPlan()).matched == 0


def test_rows_the_warehouse_refuses_are_found_and_dead_lettered_the_rest_load_even_on_a_redelivery(
        make_loader, warehouse, settings, redis_prefix, rows_for, tmp_path):
    client = redis.Redis.from_url(settings.redis_url)
    stream = StreamKeys(redis_prefix).events
    client.xadd(stream, events_entry(orjson.dumps(rows_for("g0", "g1")), 2))
    make_loader().drain()  # g0 and g1 are loaded: the next batch repeats them (a redelivery, as after a crash)

    good = [f"g{i}" for i in range(40)]
    rows = rows_for(*good, "nul-text", "nul-json")
    rows[-2][USER_ID] = "user\x00one"  # text: PostgreSQL refuses the NUL character
    rows[-1][COL["properties"]] = {"note": "a\x00b"}  # jsonb: PostgreSQL refuses \u0000
    for start in range(0, len(rows), 7):
        client.xadd(stream, events_entry(orjson.dumps(rows[start:start + 7]), len(rows[start:start + 7])))

    loader = make_loader()
    crashed = loader._ack

    def crash(ids):  # committed, never acknowledged: the whole batch comes again
        raise ConnectionError("killed before XACK")

    loader._ack = crash
    with pytest.raises(ConnectionError):
        loader.drain()
    loader._ack = crashed
    again = make_loader(consumer="test-loader").drain()
    assert (again.loaded, again.dead_lettered, again.duplicates) == (0, 0, 42)  # nothing twice, dead letters once
    assert client.xpending(stream, LOADER_GROUP)["pending"] == 0

    assert sorted(r[0] for r in _rows(warehouse, "select message_id from raw.events")) == sorted(good)
    letters = dict(_rows(warehouse, "select message_id, reasons->0->>'message' from ops.dead_letters"
                                    " where 'warehouse.refused' = any(reason_codes)"))
    assert set(letters) == {"nul-text", "nul-json"}
    assert "0x00" in letters["nul-text"] and "column user_id" in letters["nul-text"]
    assert "column properties" in letters["nul-json"]
    [(payload,)] = _rows(warehouse, "select payload->'row' from ops.dead_letters where message_id = 'nul-text'")
    assert base64.b64decode(payload["user_id"]["base64"]) == b"user\x00one"
    assert payload["source"] == "web" and payload["ts_us"] == rows[-2][TS_US]
    assert _rows(warehouse, "select loaded, duplicates, dead_lettered from ops.event_load_batches order by committed_at"
                 ) == [(2, 0, 0), (38, 2, 2), (0, 42, 0)]
    lake = ds.dataset(lake_events_dir(tmp_path / "lake"), format="parquet", partitioning="hive").to_table()
    assert sorted(lake["message_id"].to_pylist()) == sorted(good)  # the lake holds exactly what raw.events holds
    _assert_counts_reconcile(warehouse)


def test_an_unreadable_dead_letter_entry_is_kept_raw_and_the_drain_moves_on(warehouse, settings, redis_prefix,
                                                                           client):
    dead = StreamKeys(redis_prefix).dead
    r = redis.Redis.from_url(settings.redis_url)
    r.xadd(dead, {"d": b"{oops", "n": 4})
    body = client.post("/v1/track", json=track("feature_used", {"feature": "Not Snake"}), headers=AUTH)
    assert body.status_code == 400
    assert drain_dead_letters(r, redis_prefix, warehouse, "t") == 4 + 1
    codes = sorted(r[0][0] for r in _rows(warehouse, "select reason_codes from ops.dead_letters"))
    assert codes == ["schema.pattern", "stream.undecodable"]
    assert r.xpending(dead, "dead_letters")["pending"] == 0


def test_a_newer_row_format_waits_for_the_loader_upgrade_instead_of_being_dead_lettered(make_loader, warehouse,
                                                                                       settings, redis_prefix, rows_for):
    """Not poison: a collector deployed before its loader. Its events stay pending, to load after the upgrade."""
    from onramp.stream.entries import StreamFormatError

    client = redis.Redis.from_url(settings.redis_url)
    stream = StreamKeys(redis_prefix).events
    client.xadd(stream, {"v": b"2", "e": orjson.dumps(rows_for("n1")), "n": 1})
    with pytest.raises(StreamFormatError, match="newer than this loader's '1': upgrade the loader"):
        make_loader().drain()
    assert client.xpending(stream, LOADER_GROUP)["pending"] == 1
    assert _rows(warehouse, "select count(*) from ops.dead_letters") == [(0,)]
