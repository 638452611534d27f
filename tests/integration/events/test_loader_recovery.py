"""The loader's exactly-once machinery: gate blocks and replays, lake recovery, reclaiming a dead consumer's work."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import orjson
import psycopg
import pyarrow.dataset as ds
import pytest
import redis

from onramp.collector.enrichment import Enricher
from onramp.collector.ingest import RequestContext, process
from onramp.collector.plan import TrackingPlan
from onramp.events.row import TYPE, events_entry
from onramp.quality import EXPECTATIONS_DIR, GateFailed
from onramp.stream.keys import StreamKeys
from onramp.stream.loader import lake_events_dir

from .conftest import AUTH, track


def _count(url: str, sql: str) -> int:
    with psycopg.connect(url) as conn:
        return conn.execute(sql).fetchone()[0]


def _send(client, n_requests: int, per_request: int = 3) -> list[str]:
    ids = []
    for _ in range(n_requests):
        batch = [track() for _ in range(per_request)]
        assert client.post("/v1/batch", json={"batch": batch}, headers=AUTH).status_code == 200
        ids += [m["messageId"] for m in batch]
    return ids


def test_failed_gate_blocks_quarantines_and_replays_after_the_fix(make_loader, warehouse, settings, redis_prefix,
                                                                   tmp_path):
    # a row the collector would never write (type outside the Segment calls) slips into the stream
    out = process([track(), track()], None, RequestContext("web", datetime.now(UTC)), TrackingPlan(), Enricher())
    out.accepted[1][TYPE] = "purchase"
    client = redis.Redis.from_url(settings.redis_url)
    client.xadd(StreamKeys(redis_prefix).events, events_entry(orjson.dumps(out.accepted), 2))

    with pytest.raises(GateFailed, match="quality gate 'raw_events' failed") as caught:
        make_loader().drain()
    assert caught.value.quarantine_path.exists()
    assert _count(warehouse, "select count(*) from raw.events") == 0  # nothing published
    assert _count(warehouse, "select count(*) from ops.quality_results where not success") == 1
    assert client.xpending(StreamKeys(redis_prefix).events, "loader")["pending"] == 1  # still waiting

    # the fix: the suite accepts the new call type; the next run replays the blocked batch
    fixed = json.loads((EXPECTATIONS_DIR / "raw_events.json").read_text())
    for expectation in fixed["expectations"]:
        if expectation["kwargs"].get("column") == "type" and "value_set" in expectation["kwargs"]:
            expectation["kwargs"]["value_set"].append("purchase")
    (tmp_path / "suites").mkdir()
    (tmp_path / "suites" / "raw_events.json").write_text(json.dumps(fixed))
    report = make_loader(suite_dir=tmp_path / "suites").drain()
    assert report.loaded == 2 and _count(warehouse, "select count(*) from raw.events") == 2
    assert client.xpending(StreamKeys(redis_prefix).events, "loader")["pending"] == 0


def test_a_batch_committed_but_not_in_the_lake_is_re_exported(client, make_loader, warehouse, tmp_path):
    ids = _send(client, 3)
    loader = make_loader()

    def crash(*args, **kwargs):
        raise OSError("disk full")

    loader._write_lake = crash
    with pytest.raises(OSError, match="disk full"):
        loader.drain()
    assert _count(warehouse, "select count(*) from ops.event_load_batches where not lake_written") == 1

    report = make_loader().drain()  # the entries were never acked: redelivered, all duplicates now
    assert report.recovered_batches == 1 and report.loaded == 0 and report.duplicates == 9
    lake = ds.dataset(lake_events_dir(tmp_path / "lake"), format="parquet", partitioning="hive").to_table()
    assert sorted(lake["message_id"].to_pylist()) == sorted(ids)
    assert _count(warehouse, "select count(*) from raw.events") == 9
    assert _count(warehouse, "select count(*) from ops.event_load_batches where not lake_written") == 0


def test_a_dead_consumers_entries_are_reclaimed_and_its_own_restart_replays_them(client, make_loader, warehouse,
                                                                                 settings, redis_prefix):
    ids = _send(client, 4)
    crashed = make_loader(consumer="loader-a")
    from onramp.stream.loader import LOADER_GROUP, ensure_group

    ensure_group(crashed.redis, crashed.keys.events, LOADER_GROUP)
    assert len(crashed.next_entries(wait=False)) == 4  # read, then "killed" before loading
    assert crashed.redis.xpending(crashed.keys.events, LOADER_GROUP)["pending"] == 4

    # the same consumer restarting replays its own pending entries first, without waiting
    restarted = make_loader(consumer="loader-a")
    first = restarted.load(restarted.next_entries(wait=False))
    assert first.entries == 4 and first.loaded == 12

    # another consumer takes over what a consumer left pending longer than claim_idle_s
    _send(client, 2)
    make_loader(consumer="loader-b").next_entries(wait=False)  # b reads and dies
    report = make_loader(consumer="loader-c", claim_idle_s=0).drain()
    assert report.loaded == 6
    assert _count(warehouse, "select count(*) from raw.events") == 18
    assert _count(warehouse, "select count(distinct message_id) from raw.events") == 18
    assert set(ids) <= {r[0] for r in psycopg.connect(warehouse).execute("select message_id from raw.events")}
    assert redis.Redis.from_url(settings.redis_url).xpending(StreamKeys(redis_prefix).events, "loader")["pending"] == 0
