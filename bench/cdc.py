"""CDC loader speed: initial load, 1 % incremental, no-change run; ratios to raw COPY-out and to dlt's fastest.

    .venv/bin/python bench/cdc.py [--rows 2000000] [--skip-dlt] [--keep]
    .venv/bin/python bench/cdc.py --dag-cycle      (a no-change cycle through Airflow: bench/cdc_dag.py)

Builds a 12-column table (ids, text, country code, plan, booleans, float, timestamps, jsonb) in a
database of its own on the logical-decoding app server, loads it with the same functions the
``cdc_app_db`` DAG runs (extract → Parquet → GX gate → apply to staging), each run in a fresh child
process whose peak RSS is reported, then changes 1 % of the rows (updates and deletes) and runs again,
then once more with nothing to do. Baselines measured in the same run, on the same table:

* raw ``COPY (SELECT …) TO STDOUT (FORMAT binary)``: the physical read limit of the source;
* the pass-through floor: that binary COPY-out piped straight into a binary ``COPY … FROM STDIN`` of an
  unindexed copy of the table on the warehouse server, then its primary key built (no lake, no gate,
  no type mapping): what any loader writing this warehouse from this source needs at least;
* dlt (``sql_database`` + connectorx backend + parquet loader files) into the same warehouse server,
  installed from ``bench/requirements-dlt.txt`` into ``.onramp/bench-venv`` by this script.

Every database it creates is dropped at the end (replication slots first), unless ``--keep``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "include"))

import psycopg  # noqa: E402
import yaml  # noqa: E402
from psycopg import sql  # noqa: E402

from onramp.settings import get_settings, with_database  # noqa: E402

BENCH_VENV = REPO / ".onramp" / "bench-venv"
TABLE_DDL = """
create table bench (
    id           bigint primary key,
    account_id   bigint not null,
    email        text not null,
    full_name    text,
    country_code char(2) not null,
    plan         text not null,
    is_active    boolean not null,
    is_verified  boolean,
    score        double precision,
    created_at   timestamptz not null,
    updated_at   timestamptz not null,
    attributes   jsonb
)"""
FILL = """
insert into bench
select g, g %% 50000, 'user' || g || '@example.com', 'User Number ' || g,
       (array['US','DE','FR','GB','IN','BR','JP','CA'])[1 + g %% 8], (array['free','starter','pro','enterprise'])[1 + g %% 4],
       g %% 3 <> 0, case when g %% 5 = 0 then null else g %% 2 = 0 end, (g * 7919 %% 10000) / 100.0,
       timestamptz '2024-01-01' + g * interval '1 second', timestamptz '2024-06-01' + g * interval '1 second',
       jsonb_build_object('source', 'seed', 'n', g, 'tags', jsonb_build_array('a', 'b'))
from generate_series(%s::bigint, %s::bigint) g"""
# 1 % of the rows: two thirds updated, one third deleted, spread over the whole table.
CHANGES = (
    "update bench set score = score + 1, plan = 'pro', updated_at = updated_at + interval '1 day',"
    " attributes = attributes || '{\"changed\": true}' where id % 300 in (7, 107)",
    "delete from bench where id % 300 = 207",
)


# ----------------------------------------------------------------------------- worker (a child process)

def worker(args: argparse.Namespace) -> None:
    """One CDC cycle of the bench table with the pipeline's own functions; prints timings as JSON."""
    os.environ["ONRAMP_CDC_CONFIG"] = args.config
    from onramp.cdc.config import load_config
    from onramp.cdc.cycle import Context, apply, extract, gate
    from onramp.quality import gx_context

    gx_context()  # import GX before the clock starts: it costs seconds once per process
    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    config = load_config(Path(args.config))
    table = config.tables[0]
    ctx = Context(config, table, args.source_url, args.warehouse_url, Path(args.lake), f"bench__{args.worker}")
    timings = {}
    started = time.perf_counter()
    manifest = extract(ctx)
    timings["extract"] = time.perf_counter() - started
    mark = time.perf_counter()
    manifest = gate(ctx, manifest)
    timings["gate"] = time.perf_counter() - mark
    mark = time.perf_counter()
    result = apply(ctx, manifest)
    timings["apply"] = time.perf_counter() - mark
    timings["total"] = time.perf_counter() - started
    print(json.dumps({"timings": timings, "snapshot_rows": result.snapshot_rows, "changes": result.changes,
                      "baseline_rss_mb": baseline,
                      "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def run_worker(kind: str, common: list[str]) -> dict:
    result = subprocess.run([sys.executable, __file__, "--worker", kind, *common], capture_output=True, text=True,
                            cwd=str(REPO))
    if result.returncode != 0:
        raise SystemExit(f"{kind} run failed:\n{result.stderr[-4000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


# ----------------------------------------------------------------------------- baselines

def raw_copy_out(url: str) -> tuple[float, int]:
    """Seconds to stream the table out as binary COPY (bytes only, no parsing): the read limit."""
    started = time.perf_counter()
    size = 0
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        with cur.copy("copy (select * from bench) to stdout (format binary)") as copy:
            for block in copy:
                size += len(block)
    return time.perf_counter() - started, size


def pass_through_floor(source_url: str, warehouse_url: str) -> dict:
    """Seconds to pipe the source's binary COPY-out into a binary COPY-in on the warehouse, plus the key build."""
    ddl = TABLE_DDL.replace("create table bench", "create table bench_pass_through").replace("primary key", "not null")
    with psycopg.connect(source_url) as src, psycopg.connect(warehouse_url) as wh:
        wh.execute("drop table if exists bench_pass_through")
        wh.commit()
        started = time.perf_counter()
        wh.execute(ddl)
        with src.cursor().copy("copy (select * from bench) to stdout (format binary)") as out, \
                wh.cursor().copy("copy bench_pass_through from stdin (format binary)") as into:
            for block in out:
                into.write(block)
        copied = time.perf_counter()
        wh.execute("set local maintenance_work_mem = '256MB'")  # as the snapshot publish does
        wh.execute("alter table bench_pass_through add primary key (id)")
        wh.commit()
        done = time.perf_counter()
        wh.execute("drop table bench_pass_through")
        wh.commit()
    return {"copy": copied - started, "key": done - copied, "total": done - started}


def ensure_bench_venv() -> Path:
    python = BENCH_VENV / "bin" / "python"
    stamp = BENCH_VENV / ".requirements"
    wanted = (REPO / "bench" / "requirements-dlt.txt").read_text()
    if python.exists() and stamp.exists() and stamp.read_text() == wanted:
        return python
    uv = Path(sys.executable).with_name("uv")
    print(f"installing the dlt baseline into {BENCH_VENV} (once) ...", flush=True)
    subprocess.run([str(uv), "venv", "--quiet", "--python", sys._base_executable, str(BENCH_VENV)], check=True)
    subprocess.run([str(uv), "pip", "install", "--quiet", "--python", str(python), "-r",
                    str(REPO / "bench" / "requirements-dlt.txt")], check=True)
    stamp.write_text(wanted)
    return python


def dlt_run(source_url: str, warehouse_url: str, workdir: Path) -> dict:
    python = ensure_bench_venv()
    result = subprocess.run([str(python), str(REPO / "bench" / "dlt_baseline.py"), source_url, warehouse_url, "bench",
                             str(workdir)], capture_output=True, text=True, env={**os.environ, "RUNTIME__LOG_LEVEL": "WARNING"})
    if result.returncode != 0:
        raise SystemExit(f"dlt run failed:\n{result.stderr[-4000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


# ----------------------------------------------------------------------------- set-up and clean-up

def create_database(admin_url: str, name: str) -> str:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    return with_database(admin_url, name)


def drop_database(admin_url: str, name: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        for _ in range(50):
            slots = conn.execute("select slot_name, active_pid from pg_replication_slots where database = %s", (name,)).fetchall()
            if not slots:
                break
            for slot, pid in slots:
                if pid:
                    conn.execute("select pg_terminate_backend(%s)", (pid,))
                else:
                    conn.execute("select pg_drop_replication_slot(%s)", (slot,))
            time.sleep(0.1)
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))


def fill(url: str, rows: int) -> float:
    started = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(TABLE_DDL)
        step = 1_000_000
        for low in range(1, rows + 1, step):
            conn.execute(FILL, (low, min(rows, low + step - 1)))
        conn.execute("vacuum (analyze) bench")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--skip-dlt", action="store_true", help="do not measure the dlt baseline")
    parser.add_argument("--keep", action="store_true", help="keep the databases and the lake for inspection")
    parser.add_argument("--dag-cycle", action="store_true",
                        help="instead: the fixed cost of a no-change cdc_app_db run through Airflow against a DAG of "
                             "the same shape doing nothing (bench/cdc_dag.py)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    for hidden in ("--config", "--source-url", "--warehouse-url", "--lake"):
        parser.add_argument(hidden, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    if args.dag_cycle:
        sys.argv = [sys.argv[0]]
        sys.path.insert(0, str(REPO / "bench"))
        import cdc_dag

        cdc_dag.main()
        return

    settings = get_settings()
    tag = uuid.uuid4().hex[:8]
    source_db, warehouse_db = f"onramp_bench_{tag}_src", f"onramp_bench_{tag}_wh"
    work = Path(tempfile.mkdtemp(prefix="onramp-bench-cdc-"))
    load_before = os.getloadavg()
    print(f"CDC benchmark: {args.rows:,} rows x 12 columns; machine: {os.cpu_count()} cores, "
          f"load average {load_before[0]:.2f} at start", flush=True)
    try:
        source_url = create_database(settings.app_pg_url, source_db)
        warehouse_url = create_database(settings.pg_url, warehouse_db)
        from onramp.migrations import migrate

        migrate(warehouse_url, "warehouse")
        print(f"building the source table ... {fill(source_url, args.rows):.1f}s", flush=True)
        config = work / "cdc_sources.yaml"
        config.write_text(yaml.safe_dump({"version": 1, "sources": {f"bench{tag}": {
            "conn_id": "bench", "tables": {"public.bench": {"primary_key": ["id"]}}}}}))
        common = ["--config", str(config), "--source-url", source_url, "--warehouse-url", warehouse_url,
                  "--lake", str(work / "lake")]

        copy_seconds, copy_bytes = raw_copy_out(source_url)
        print(f"raw binary COPY-out: {copy_seconds:.2f}s ({copy_bytes / 1e6:,.0f} MB)", flush=True)
        floor = pass_through_floor(source_url, warehouse_url)
        print(f"pass-through floor: {json.dumps(floor)}", flush=True)
        initial = run_worker("initial", common)
        print(f"initial load: {json.dumps(initial['timings'])}", flush=True)
        with psycopg.connect(source_url, autocommit=True) as conn:
            changed = sum(conn.execute(statement).rowcount for statement in CHANGES)
        incremental = run_worker("incremental", common)
        print(f"incremental ({changed:,} changes): {json.dumps(incremental['timings'])}", flush=True)
        nothing = run_worker("nochange", common)
        print(f"no-change run: {json.dumps(nothing['timings'])}", flush=True)
        with psycopg.connect(source_url) as s, psycopg.connect(warehouse_url) as w:
            query = "select count(*), sum(hashtext(id::text || score::text || plan))::bigint from {}"
            same = s.execute(query.format("bench")).fetchone() == w.execute(query.format("staging.bench")).fetchone()
        dlt = None if args.skip_dlt else dlt_run(source_url, warehouse_url, work / "dlt")
        load_after = os.getloadavg()

        rows = args.rows
        ours = rows / initial["timings"]["total"]
        copy_rate = rows / copy_seconds
        floor_rate = rows / floor["total"]
        print()
        print(f"{'figure':58} {'value':>16}   target")
        lines = [
            ("raw binary COPY-out (rows/s)", f"{copy_rate:,.0f}", ""),
            ("initial load end to end (rows/s)", f"{ours:,.0f}", ""),
            ("  extract (gates, loads chunks) / GX gate / apply (s)",
             "{extract:.1f} / {gate:.1f} / {apply:.1f}".format(**initial["timings"]), ""),
            ("  ratio to raw COPY-out", f"{ours / copy_rate:.2f}x", ">= 0.35x"),
            ("pass-through floor: COPY-out -> COPY-in + key (rows/s)", f"{floor_rate:,.0f}", ""),
            ("  copy / key build (s)", "{copy:.1f} / {key:.1f}".format(**floor), ""),
            ("  ratio of ours to the pass-through floor", f"{ours / floor_rate:.2f}x", ""),
        ]
        if dlt:
            dlt_rate = dlt["rows"] / dlt["seconds"] if dlt["rows"] else rows / dlt["seconds"]
            lines += [("dlt sql_database+connectorx+parquet (rows/s)", f"{dlt_rate:,.0f}", ""),
                      ("  ratio of ours to dlt", f"{ours / dlt_rate:.2f}x", ">= 2x"),
                      ("  dlt peak RSS (MB)", f"{dlt['max_rss_mb']:,.0f}", "")]
        lines += [
            (f"incremental run, {changed:,} changes (s)", f"{incremental['timings']['total']:.2f}", ""),
            ("  as a fraction of the initial load", f"{incremental['timings']['total'] / initial['timings']['total']:.1%}", "<= 10%"),
            ("no-change run, loader time (s)", f"{nothing['timings']['total']:.2f}", "< 1s"),
            ("peak RSS of the initial load (MB)", f"{initial['max_rss_mb']:,.0f}", "<= 1024 at 5M rows"),
            ("  of which Python + GX imports before loading (MB)", f"{initial['baseline_rss_mb']:,.0f}", ""),
            ("staging equals the source after the runs", "yes" if same else "NO", "yes"),
            ("load average at start / end", f"{load_before[0]:.2f} / {load_after[0]:.2f}", f"{os.cpu_count()} cores"),
        ]
        for label, value, target in lines:
            print(f"{label:58} {value:>16}   {target}")
    finally:
        if not args.keep:
            drop_database(settings.app_pg_url, source_db)
            drop_database(settings.pg_url, warehouse_db)
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"kept: {source_db} (app server), {warehouse_db} (warehouse server), {work}")


if __name__ == "__main__":
    main()
