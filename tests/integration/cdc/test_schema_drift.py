"""Schema drift: added columns follow, dropped ones stay nullable, an incompatible type change blocks one table only."""

from __future__ import annotations

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from onramp.cdc.cli import app
from onramp.cdc.errors import SchemaDriftBlocked

from .conftest import checksum


def setup_two_tables(cdc) -> None:
    for name in ("accounts", "events"):
        cdc.source_sql(f"create table {name} (id int primary key, qty int not null, note text)")
        cdc.source_sql(f"insert into {name} select g, g, 'n' || g from generate_series(1, 50) g")
    cdc.declare({"public.accounts": {"primary_key": ["id"]}, "public.events": {"primary_key": ["id"]}})
    cdc.run("accounts")
    cdc.run("events")


def same(cdc, table: str, columns: list[str]) -> bool:
    return checksum(cdc.source_url, table, columns, ["id"]) == checksum(cdc.warehouse_url, f"staging.{table}", columns, ["id"])


def drift_log(cdc) -> list[tuple]:
    return cdc.warehouse_sql("select table_name, column_name, change, new_type, action from ops.cdc_schema_changes"
                             " order by detected_at, column_name")


def test_added_column_appears_in_parquet_and_warehouse_and_is_recorded(cdc, warm_gx):
    setup_two_tables(cdc)
    cdc.source_sql("alter table accounts add column tier text")
    cdc.source_sql("insert into accounts values (51, 51, 'new', 'gold')")
    cdc.source_sql("update accounts set tier = 'silver' where id = 1")
    cdc.run("accounts")
    assert same(cdc, "accounts", ["id", "qty", "note", "tier"])
    assert cdc.warehouse_sql(f"select count(tier) from raw.{cdc.source}_accounts_changes") == [(2,)]
    change = drift_log(cdc)
    assert change == [("public.accounts", "tier", "added", "text", f"added column to staging.accounts and {cdc.source}_accounts_changes")]
    newest = max((cdc.lake / "bronze" / cdc.source / "accounts").rglob("lsn-*.parquet"), key=lambda p: p.stat().st_mtime)
    assert "tier" in pq.read_schema(newest).names


def test_column_added_with_a_default_reloads_the_table(cdc, warm_gx):
    """Rows that existed before `ADD COLUMN … DEFAULT` got a value no change event carries: a resnapshot fetches it."""
    setup_two_tables(cdc)
    cdc.warehouse_sql("create view public.accounts_view as select id, qty from staging.accounts")
    cdc.source_sql("alter table accounts add column region text not null default 'eu'")
    cdc.source_sql("delete from accounts where id = 2")
    result = cdc.run("accounts")
    assert result["published"] == "merged"
    assert same(cdc, "accounts", ["id", "qty", "note", "region"])
    assert cdc.warehouse_sql("select count(*) from public.accounts_view") == [(49,)]
    assert ("public.accounts", "region", "added", "text", "resnapshot: column added to staging with every row's value") in drift_log(cdc)


def test_dropped_column_stays_nullable_and_type_widening_follows(cdc, warm_gx):
    setup_two_tables(cdc)
    cdc.source_sql("alter table accounts drop column note")
    cdc.source_sql("alter table accounts alter column qty type bigint")
    cdc.source_sql("insert into accounts values (60, 9000000000)")
    cdc.run("accounts")
    assert same(cdc, "accounts", ["id", "qty"])
    types = dict(cdc.warehouse_sql("select column_name, data_type || ':' || is_nullable from information_schema.columns"
                                   " where table_schema = 'staging' and table_name = 'accounts'"))
    assert types["note"] == "text:YES" and types["qty"] == "bigint:YES" and types["id"] == "integer:NO"
    assert cdc.warehouse_sql("select note from staging.accounts where id in (1, 60) order by id") == [("n1",), (None,)]
    changes = {(c, ch) for _, c, ch, _, _ in drift_log(cdc)}
    assert changes == {("note", "dropped"), ("qty", "type_widened")}


def test_incompatible_type_change_blocks_that_table_only_until_resnapshot(cdc, warm_gx, tmp_path):
    setup_two_tables(cdc)
    cdc.source_sql("alter table accounts alter column qty type text using 'q' || qty")
    cdc.source_sql("update events set qty = 0 where id = 1")

    with pytest.raises(SchemaDriftBlocked) as caught:
        cdc.run("accounts")
    message = str(caught.value)
    assert "column 'qty' changed type in the source from integer to text" in message
    assert f"onramp cdc resnapshot {cdc.source}/public.accounts" in message and "other tables go on" in message
    assert cdc.warehouse_sql("select status from ops.cdc_tables where table_name = 'public.accounts'") == [("blocked",)]
    assert ("public.accounts", "qty", "type_incompatible", "text", "blocked the table") in drift_log(cdc)

    # The command line runs every table: the blocked one fails with the same advice, the other goes on.
    cli = CliRunner().invoke(app, ["run", "--config", str(cdc.config_file), "--source-url", cdc.source_url,
                                   "--warehouse-url", cdc.warehouse_url, "--lake-dir", str(cdc.lake)])
    assert cli.exit_code == 1
    assert "public.accounts failed" in cli.output and "Traceback" not in cli.output
    assert same(cdc, "events", ["id", "qty", "note"])

    result = cdc.run("accounts", resnapshot=True)
    assert result["published"] == "merged"
    assert same(cdc, "accounts", ["id", "qty", "note"])
    assert cdc.warehouse_sql("select status, blocked_reason from ops.cdc_tables where table_name = 'public.accounts'") == [("streaming", None)]
    kept = cdc.warehouse_sql("select column_name from information_schema.columns where table_schema = 'raw'"
                             f" and table_name = '{cdc.source}_accounts_changes' and column_name like 'qty%%'")
    assert sorted(r[0] for r in kept)[0] == "qty" and len(kept) == 2  # old values kept in a renamed column
