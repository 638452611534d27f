"""Log-based CDC end to end on real servers: snapshot, inserts/updates/deletes, lake files, change log."""

from __future__ import annotations

import pandas as pd
import psycopg
import pyarrow.dataset as ds
from typer.testing import CliRunner

from onramp.cdc.cli import app

from .conftest import checksum

COLUMNS = ["id", "email", "plan", "score", "active", "signed_up_at", "attrs", "ip", "note"]

DDL = """
create table app.customers (
    id bigint primary key,
    email text not null,
    plan text not null,
    score double precision,
    active boolean not null,
    signed_up_at timestamptz not null,
    attrs jsonb,
    ip inet,
    note text
)"""


def seed(cdc, rows: int = 500) -> None:
    cdc.source_sql("create schema app")
    cdc.source_sql(DDL)
    cdc.source_sql(
        "insert into app.customers select g, 'u' || g || '@example.com', (array['free','pro'])[1 + g %% 2], g * 1.5,"
        " g %% 3 = 0, timestamptz '2024-01-01' + g * interval '1 hour', jsonb_build_object('n', g), '10.0.0.1',"
        " null from generate_series(1, %s) g", (rows,))


def same(cdc) -> tuple[int, str]:
    source = checksum(cdc.source_url, "app.customers", COLUMNS, ["id"])
    staging = checksum(cdc.warehouse_url, "staging.customers", COLUMNS, ["id"])
    assert source == staging
    return source


def test_snapshot_then_changes_keep_staging_equal_to_source(cdc):
    seed(cdc)
    cdc.declare({"app.customers": {"primary_key": ["id"], "pii": ["email"]}}, snapshot_chunk_rows=100)
    first = cdc.run("app.customers")
    assert first["snapshot_rows"] == 500 and first["published"] == "created"
    assert same(cdc)[0] == 500

    cdc.source_sql("insert into app.customers select g, 'n' || g, 'pro', null, true, now(), null, null, 'new'"
                   " from generate_series(501, 520) g")
    cdc.source_sql("update app.customers set plan = 'free', attrs = '{\"x\": true}' where id between 1 and 10")
    cdc.source_sql("delete from app.customers where id between 11 and 15")
    with psycopg.connect(cdc.source_url) as conn:  # one transaction changes the same key twice
        conn.execute("update app.customers set note = 'a' where id = 100")
        conn.execute("update app.customers set note = 'b' where id = 100")
    second = cdc.run("app.customers")
    assert second["changes"] == 20 + 10 + 5 + 2
    assert same(cdc)[0] == 515
    # staging keeps room on each page so that updates can stay on their page (HOT)
    options = cdc.warehouse_sql("select reloptions from pg_class where oid = 'staging.customers'::regclass")
    assert options == [(["fillfactor=90"],)]

    raw = cdc.warehouse_sql(f"select _op, count(*) from raw.{cdc.source}_customers_changes group by 1 order by 1")
    assert raw == [("D", 5), ("I", 20), ("U", 12)]
    dupes = cdc.warehouse_sql(f"select count(*) - count(distinct (_lsn, _seq)) from raw.{cdc.source}_customers_changes")
    assert dupes == [(0,)]
    deleted = cdc.warehouse_sql(f"select id, email from raw.{cdc.source}_customers_changes where _op = 'D' order by id")
    assert deleted == [(i, None) for i in range(11, 16)]  # deletes carry the key only

    # A run with nothing to do reads nothing and moves the slot to where the server is.
    third = cdc.run("app.customers")
    assert third["changes"] == 0 and same(cdc)[0] == 515
    state = cdc.warehouse_sql("select status, mode, applied_lsn is not null from ops.cdc_tables")
    assert state == [("streaming", "log", True)]
    lag = cdc.warehouse_sql("select count(*) from ops.cdc_slot_lag where phase = 'apply'")
    assert lag == [(3,)]

    # The bronze folder is one dataset for any Parquet reader: snapshot rows then every change.
    folder = cdc.lake / "bronze" / cdc.source / "customers"
    frame = pd.read_parquet(folder)
    assert len(frame) == 500 + 37
    assert sorted(frame["_op"].unique()) == ["D", "I", "U", "r"]
    assert {p.name.split("=")[0] for p in folder.iterdir()} == {"commit_date"}
    dataset = ds.dataset(folder, format="parquet", partitioning="hive")
    assert dataset.count_rows() == 537

    status = CliRunner().invoke(app, ["status", "--config", str(cdc.config_file), "--warehouse-url", cdc.warehouse_url])
    assert status.exit_code == 0, status.output
    assert f"{cdc.source}/app.customers" in status.output and "streaming" in status.output
