"""The simulated event history through a real collector process, Redis and the stream loader."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import orjson
import psycopg
import pyarrow.dataset as ds
import redis

from onramp.collector.ingest import parse_us
from onramp.events.row import MESSAGE_ID, TS_US
from onramp.local.simulator.history import INVALID_KEY, SKEW_KEY, history_events
from onramp.local.simulator.history_send import Target, send_history_to_collector
from onramp.stream.dead_letters import drain_dead_letters
from onramp.stream.keys import StreamKeys
from onramp.stream.loader import lake_events_dir
from tests.conftest import free_port

from .conftest import WRITE_KEY
from .test_sigkill import _wait_health

REPO = Path(__file__).resolve().parents[3]
USERS, SEED, PER_USER = 200, 5, 25


def _entries(client: redis.Redis, key: str, field: bytes) -> list:
    return [item for _, fields in client.xrange(key) for item in orjson.loads(fields[field])]


def test_a_history_lands_accepted_or_dead_lettered_exactly_as_generated(settings, redis_prefix, make_loader,
                                                                       warehouse, tmp_path):
    expected = list(history_events(SEED, USERS, events_per_user=PER_USER))
    invalid = {e["messageId"]: e[INVALID_KEY] for e in expected if INVALID_KEY in e}
    skewed = {e["messageId"]: parse_us(e["timestamp"]) // 1000 - e[SKEW_KEY] for e in expected if SKEW_KEY in e}
    assert invalid and skewed

    port = free_port()
    env = dict(os.environ, ONRAMP_REDIS_PREFIX=redis_prefix, ONRAMP_COLLECTOR_WRITE_KEYS=f"{WRITE_KEY}=sim",
               PYTHONPATH=str(REPO / "include"))
    collector = subprocess.Popen([sys.executable, "-m", "onramp.collector.cli", "serve", "--port", str(port)],
                                 env=env, stdout=open(tmp_path / "collector.log", "wb"), stderr=subprocess.STDOUT)
    try:
        _wait_health(port)
        # two sender processes over ranges of 60 users: the parallel path sends each event once
        report = send_history_to_collector(SEED, USERS, PER_USER, Target(f"http://127.0.0.1:{port}", WRITE_KEY),
                                           processes=2, range_users=60)
    finally:
        collector.send_signal(signal.SIGTERM)
        collector.wait(timeout=30)

    assert report.events == len(expected) and report.refused == 0
    assert (report.invalid, report.skewed) == (len(invalid), len(skewed))
    assert (report.accepted, report.dead_lettered) == (len(expected) - len(invalid), len(invalid))

    client = redis.Redis.from_url(settings.redis_url)
    keys = StreamKeys(redis_prefix)
    rows = _entries(client, keys.events, b"e")
    letters = _entries(client, keys.dead, b"d")
    assert len(rows) == len(expected) - len(invalid)
    assert {d["message_id"]: d["reasons"][0]["code"] for d in letters} == invalid
    # a device with a wrong clock: the collector's sentAt correction puts the event back at its true time
    corrected = {row[MESSAGE_ID]: row[TS_US] // 1000 for row in rows if row[MESSAGE_ID] in skewed}
    assert len(corrected) == len(set(skewed) - set(invalid))
    assert all(abs(corrected[m] - skewed[m]) < 5_000 for m in corrected), "off by more than the upload latency"

    loaded = make_loader().drain()
    assert loaded.loaded == len(rows)
    # a year of history in one micro-batch: more (event_date, event_name) partitions than pyarrow's default 1,024
    lake = ds.dataset(lake_events_dir(tmp_path / "lake"), format="parquet", partitioning="hive")
    assert lake.count_rows() == len(rows) and len({Path(f).parent for f in lake.files}) > 1024
    assert drain_dead_letters(client, redis_prefix, warehouse, "test") == len(invalid)
    with psycopg.connect(warehouse) as conn:
        names = Counter(dict(conn.execute("select event_name, count(*) from raw.events group by 1").fetchall()))
        linked = conn.execute("select count(distinct user_id) from staging.identity_map").fetchone()[0]
        versions = {v for (v,) in conn.execute("select distinct schema_version from raw.events")}
    sent = Counter(e.get("event") or e["type"] for e in expected if INVALID_KEY not in e)
    assert names == sent
    assert linked == USERS  # every user's anonymous visits stitch to them
    assert {"signup_started/v2", "form_filled/v2", "feature_used/v2"} <= versions
