from __future__ import annotations

import redis

from onramp.smoke import check_lake, check_redis


def test_redis_check_round_trips_and_leaves_no_key(settings, redis_prefix):
    detail = check_redis(settings.redis_url, redis_prefix)
    assert detail.startswith("redis ")
    client = redis.Redis.from_url(settings.redis_url)
    assert list(client.scan_iter(match=f"{redis_prefix}*")) == []
    client.close()


def test_lake_check_writes_and_cleans_up(tmp_path):
    assert "wrote and read" in check_lake(tmp_path / "lake", "manual__1")
    assert list((tmp_path / "lake" / "_smoke").iterdir()) == []
