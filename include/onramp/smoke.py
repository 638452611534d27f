"""Checks that prove each dependency of the platform answers: used by the ``platform_smoke`` DAG."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from onramp import db


def check_redis(url: str, prefix: str) -> str:
    """Round-trip one entry through a Redis stream under our prefix, then remove the key."""
    client = db.redis_client(url, "smoke", timeout_s=10)
    key = f"{prefix}smoke:{uuid.uuid4().hex}"
    try:
        entry_id = client.xadd(key, {"check": "platform_smoke"})
        entries = client.xrange(key)
        if [e[0] for e in entries] != [entry_id]:
            raise RuntimeError(f"Redis stream {key} did not return the entry just added")
        info = client.info("persistence")
        return f"redis {client.info('server')['redis_version']}, aof={'on' if info.get('aof_enabled') else 'off'}"
    finally:
        client.delete(key)
        client.close()


def check_lake(lake_dir: str | Path, run_id: str) -> str:
    """Write and read back a Parquet file in the lake, proving the lake path is writable."""
    target = Path(lake_dir) / "_smoke" / f"{uuid.uuid5(uuid.NAMESPACE_URL, run_id).hex}.parquet"
    target.parent.mkdir(parents=True, exist_ok=True)
    table = pa.table({"run_id": [run_id], "written_at_ns": [time.time_ns()]})
    pq.write_table(table, target, compression="zstd")
    back = pq.read_table(target)
    if back.column("run_id").to_pylist() != [run_id]:
        raise RuntimeError(f"Parquet file {target} did not read back what was written")
    target.unlink()
    return f"wrote and read {target.parent}"


def record_checks(run_id: str, checked_at, rows: list[dict]) -> None:
    """Keep the run's checks in ``ops.platform_checks`` (idempotent per run and check)."""
    from onramp.endpoints import url_for

    statement = db.sql("smoke", "record_checks")
    with db.connect(url_for("onramp_warehouse"), "smoke") as conn, conn.cursor() as cur:
        for row in rows:
            cur.execute(statement, {"run_id": run_id, "ok": True, "checked_at": checked_at, **row})
