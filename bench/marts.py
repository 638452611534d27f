"""Warehouse models (dbt) speed: full build, incremental build after 1 % new events, biggest model vs CTAS.

    .venv/bin/python bench/marts.py [--users 1000000] [--events-per-user 20] [--keep]

Builds its own source and warehouse databases: the simulator's application for ``--users`` users, replicated
into ``staging.*`` with the CDC cycle the ``cdc_app_db`` DAG runs (xmin mode: no replication slot to clean
up), and the simulator's event history (``history_events``, about 20 per user) written straight into
``raw.events`` in load batches of 5,000, each recorded and stitched with the stream loader's own SQL (the collector and the stream loader have their own benches; this
one measures the models, so it skips their per-event work and fills only the columns the models read).
Then, with the project's dbt runner (``onramp.marts.dbt.run_dbt``):

* the full build: ``dbt run --full-refresh`` of every model (tests timed apart: ``dbt test``);
* 1 % new events in a new load batch (the history of users added after the first ones), then the incremental
  ``dbt run``; printed as a fraction of the full build (target: <= 10 %);
* the biggest model, ``fct_onboarding_events``: rows/s of its full build (from dbt's run_results) against a
  plain ``CREATE TABLE AS`` of the same compiled SELECT, measured in the same run.

Every database it creates is dropped at the end, unless ``--keep``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "include"))

import orjson  # noqa: E402
import psycopg  # noqa: E402
import yaml  # noqa: E402
from cdc import create_database, drop_database  # noqa: E402 - bench/cdc.py: own databases, slots dropped too
from psycopg import sql  # noqa: E402

from onramp import db  # noqa: E402
from onramp.local.simulator.history import INVALID_KEY, SKEW_KEY  # noqa: E402
from onramp.settings import get_settings, load_settings  # noqa: E402

RAW_COLUMNS = ("message_id", "type", "event_name", "event", "name", "user_id", "anonymous_id", "previous_id",
               "event_at", "event_date", "original_at", "sent_at", "received_at", "properties", "traits", "context",
               "source", "schema_version", "is_planned", "browser", "os", "device", "country", "utm_source",
               "utm_medium", "utm_campaign", "stream_id", "load_batch_id")
BATCH_ROWS = 5_000  # a steady-state stream micro-batch (the loader cuts at 50,000 events or a few seconds)


def replicate(app_url: str, warehouse_url: str, work: Path) -> float:
    """Every application table into staging with the CDC cycle (snapshot, gate, apply)."""
    from onramp.cdc.config import load_config
    from onramp.cdc.cycle import Context, apply, extract, gate

    tables = yaml.safe_load((REPO / "config" / "cdc_sources.yaml").read_text())["sources"]["app"]["tables"]
    config_path = work / "cdc_sources.yaml"
    config_path.write_text(yaml.safe_dump({"version": 1, "defaults": {"mode": "xmin"},
                                           "sources": {"app": {"conn_id": "bench", "tables": tables}}}))
    config = load_config(config_path)
    started = time.perf_counter()
    for table in config.tables:
        ctx = Context(config, table, app_url, warehouse_url, work / "lake", f"bench__{table.target}")
        apply(ctx, gate(ctx, extract(ctx)))
    return time.perf_counter() - started


def raw_row(event: dict, batch_id: str, received_at: str) -> tuple:
    """The raw.events columns the models read, from a Segment event (no validation, no enrichment lookups)."""
    context = event.get("context") or {}
    kind = event["type"]
    at = event.get("timestamp") or received_at
    if event.get(SKEW_KEY):  # the collector's sentAt correction puts a wrong device clock right
        at = (datetime.fromisoformat(at) - timedelta(milliseconds=event[SKEW_KEY])).isoformat()
    campaign = context.get("campaign") or {}
    return (event["messageId"], kind, event.get("event") or kind, event.get("event"), event.get("name"),
            event.get("userId"), event.get("anonymousId"), event.get("previousId"), at, at[:10], at, received_at,
            received_at, orjson.dumps(event.get("properties") or {}).decode(),
            orjson.dumps(event.get("traits") or {}).decode(), orjson.dumps(context).decode(), "bench",
            f"{event.get('event') or kind}/v1", True, None, (context.get("os") or {}).get("name"),
            (context.get("device") or {}).get("type"), None, campaign.get("source"), campaign.get("medium"),
            campaign.get("name"), "0-0", batch_id)


def load_events(warehouse_url: str, events, batch_prefix: str) -> tuple[int, float]:
    """COPY events into raw.events in load batches, each recorded in ops.event_load_batches."""
    started = time.perf_counter()
    received = datetime.now(UTC).isoformat()
    total, batch_no = 0, 0
    with psycopg.connect(warehouse_url, autocommit=True) as conn:
        buffer: list[tuple] = []

        def flush() -> None:
            nonlocal batch_no, total
            if not buffer:
                return
            batch_id = f"{batch_prefix}-{batch_no:05d}"
            with conn.transaction():
                with conn.cursor().copy(sql.SQL("copy raw.events ({}) from stdin").format(
                        sql.SQL(", ").join(map(sql.Identifier, RAW_COLUMNS)))) as copy:
                    for row in buffer:
                        copy.write_row(row[:-1] + (batch_id,))
                # the stream loader's own statements: its batch record and its identity links
                raw = psycopg.RawCursor(conn)
                raw.execute(db.sql("events", "record_batch"),
                            (batch_id, "bench", "0-0", "0-0", len(buffer), len(buffer), len(buffer), 0, 0))
                raw.execute(db.sql("events", "upsert_identity_map"), (batch_id,))
            total += len(buffer)
            batch_no += 1
            buffer.clear()

        for event in events:
            if event.get(INVALID_KEY):  # broken on purpose: the collector dead-letters it
                continue
            buffer.append(raw_row(event, "", received))
            if len(buffer) >= BATCH_ROWS:
                flush()
        flush()
        conn.execute("analyze raw.events")
    return total, time.perf_counter() - started


def timed_dbt(args: list[str], settings, as_of: str) -> tuple[float, dict]:
    from onramp.marts.dbt import run_dbt

    started = time.perf_counter()
    run_dbt(args, settings, vars={"as_of_date": as_of}, quiet=True)
    seconds = time.perf_counter() - started
    results = json.loads((settings.home_path / "dbt" / "target" / "run_results.json").read_text())
    return seconds, {r["unique_id"].split(".")[-1]: r for r in results["results"]}


def ctas_baseline(warehouse_url: str, settings, as_of: str) -> tuple[float, int]:
    """A plain CREATE TABLE AS of fct_onboarding_events' compiled full-build SELECT."""
    from onramp.marts.dbt import run_dbt

    run_dbt(["compile", "--no-print", "--select", "fct_onboarding_events", "--full-refresh"], settings, vars={"as_of_date": as_of},
            quiet=True)
    compiled = next((settings.home_path / "dbt" / "target" / "compiled").rglob("fct_onboarding_events.sql")).read_text()
    with psycopg.connect(warehouse_url, autocommit=True) as conn:
        conn.execute("drop table if exists public.ctas_fct")
        started = time.perf_counter()
        rows = conn.execute(sql.SQL("create table public.ctas_fct as {}").format(sql.SQL(compiled))).rowcount
        seconds = time.perf_counter() - started
        conn.execute("drop table public.ctas_fct")
    return seconds, rows


def main() -> None:  # noqa: PLR0915 - a linear script
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--events-per-user", type=float, default=20)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()

    from onramp.local.simulator import simulate_batch
    from onramp.local.simulator.history import history_events
    from onramp.migrations import migrate

    base = get_settings()
    tag = uuid.uuid4().hex[:8]
    app_db, warehouse_db = f"onramp_bench_{tag}_app", f"onramp_bench_{tag}_wh"
    work = Path(tempfile.mkdtemp(prefix="onramp-bench-marts-"))
    print(f"marts benchmark: {args.users:,} users, ~{args.events_per_user:g} events each; {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.2f} at start", flush=True)
    try:
        app_url = create_database(base.app_pg_url, app_db)
        warehouse_url = create_database(base.pg_url, warehouse_db)
        migrate(warehouse_url, "warehouse")
        settings = load_settings({**{k: v for k, v in os.environ.items() if k.startswith("ONRAMP_")},
                                  "ONRAMP_WAREHOUSE_DB": warehouse_db, "ONRAMP_HOME": str(work / "home")})
        mark = time.perf_counter()
        simulate_batch(app_url, users=args.users, seed=args.seed, progress=False)
        print(f"simulated app: {time.perf_counter() - mark:.1f}s", flush=True)
        print(f"replicated into staging (CDC cycle): {replicate(app_url, warehouse_url, work):.1f}s", flush=True)
        # 99 % of the users' history first; the last 1 % of users' history is the incremental batch
        cut = max(2, int(args.users * 0.99))
        first = history_events(args.seed, args.users, events_per_user=args.events_per_user, stop_id=cut)
        loaded, seconds = load_events(warehouse_url, first, "bench-full")
        with psycopg.connect(warehouse_url, autocommit=True) as conn:
            # As the stream loader would have: batches committed over the past 30 days, the last 2 hours ago; so
            # the fact's 1-hour lookback (batches commit concurrently) re-reads what it would in production.
            conn.execute("""
                with ordered as (select batch_id, row_number() over (order by batch_id) as rn, count(*) over () as n
                                 from ops.event_load_batches)
                update ops.event_load_batches as b
                set committed_at = now() - interval '2 hours' - (o.n - o.rn) * (interval '30 days' / o.n)
                from ordered as o where o.batch_id = b.batch_id""")
        print(f"raw.events: {loaded:,} events in {seconds:.1f}s", flush=True)
        as_of = "2026-11-01"

        full_s, full = timed_dbt(["run", "--full-refresh"], settings, as_of)
        test_s, _ = timed_dbt(["test"], settings, as_of)
        print(f"full build: dbt run {full_s:.1f}s (+ dbt test {test_s:.1f}s)", flush=True)
        for name, result in sorted(full.items(), key=lambda kv: -kv[1]["execution_time"])[:6]:
            print(f"  {name}: {result['execution_time']:.1f}s", flush=True)

        more = history_events(args.seed, args.users, events_per_user=args.events_per_user, start_id=cut)
        added, _ = load_events(warehouse_url, more, "bench-incr")
        incr_s, incr = timed_dbt(["run"], settings, as_of)
        audit_s = sum(r["execution_time"] for r in incr.values() if "audit_full_scan" in (r.get("tags") or [])) \
            or incr.get("int_events_sessionized", {}).get("execution_time", 0.0)
        print(f"incremental: {added:,} new events ({added / max(loaded, 1):.1%}); dbt run {incr_s:.1f}s = "
              f"{incr_s / full_s:.1%} of the full build (target <= 10%)", flush=True)
        for name, result in sorted(incr.items(), key=lambda kv: -kv[1]["execution_time"])[:4]:
            print(f"  {name}: {result['execution_time']:.1f}s", flush=True)
        print(f"  of which the int_events_sessionized audit (a full re-sort by design): {audit_s:.1f}s", flush=True)

        fct_s = full["fct_onboarding_events"]["execution_time"]
        ctas_s, ctas_rows = ctas_baseline(warehouse_url, settings, as_of)
        print(f"fct_onboarding_events: dbt {loaded / fct_s:,.0f} rows/s ({fct_s:.1f}s) vs CREATE TABLE AS "
              f"{ctas_rows / ctas_s:,.0f} rows/s ({ctas_s:.1f}s): ratio {ctas_s / fct_s:.2f}", flush=True)
    finally:
        if not args.keep:
            drop_database(base.app_pg_url, app_db)
            drop_database(base.pg_url, warehouse_db)


if __name__ == "__main__":
    main()
