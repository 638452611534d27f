"""The xmin-window fallback: used (and said so) where logical decoding is off; loses no late commit; finds deletes."""

from __future__ import annotations

import psycopg
import pytest

from onramp.cdc.errors import SourceError

from .conftest import checksum

COLUMNS = ["id", "name", "qty", "updated_at"]


def seed(cdc, rows: int = 200) -> None:
    cdc.source_sql("create table orders (id int primary key, name text, qty int, updated_at timestamptz not null)")
    cdc.source_sql(f"insert into orders select g, 'o' || g, g, clock_timestamp() from generate_series(1, {rows}) g")


def equal(cdc) -> bool:
    return checksum(cdc.source_url, "orders", COLUMNS, ["id"]) == checksum(cdc.warehouse_url, "staging.orders", COLUMNS, ["id"])


def test_fallback_is_chosen_and_explained_where_wal_level_is_not_logical(cdc_no_logical):
    cdc = cdc_no_logical
    seed(cdc)
    cdc.declare({"public.orders": {"primary_key": ["id"]}})
    cdc.run("orders")
    assert equal(cdc)
    mode, reason = cdc.warehouse_sql("select mode, mode_reason from ops.cdc_tables")[0]
    assert mode == "xmin"
    assert "wal_level=replica" in reason and "xmin-window fallback" in reason

    cdc.declare({"public.orders": {"primary_key": ["id"]}}, fallback="fail")
    with pytest.raises(SourceError, match="wal_level=replica.*set fallback: xmin"):
        cdc.run("orders")


def test_a_long_transaction_committing_after_later_ones_is_not_lost(cdc_no_logical):
    cdc = cdc_no_logical
    seed(cdc)
    cdc.declare({"public.orders": {"primary_key": ["id"]}})
    cdc.run("orders")

    long_txn = psycopg.connect(cdc.source_url)
    long_txn.execute("insert into orders values (1001, 'long', 1, clock_timestamp())")  # starts first, older xid
    cdc.source_sql("insert into orders values (1002, 'later', 1, clock_timestamp())")  # commits first
    cdc.run("orders")
    seen = {r[0] for r in cdc.warehouse_sql("select id from staging.orders where id > 1000")}
    assert seen == set()  # nothing past the still-running transaction is taken yet: the window stops at it
    watermark = cdc.source_sql("select max(updated_at) from orders")[0][0]  # what an updated_at loader would keep
    long_txn.commit()
    long_txn.close()

    cdc.run("orders")
    assert equal(cdc)
    # An updated_at high-water mark kept after the later commit would never read the long transaction's row:
    next_pull = {r[0] for r in cdc.source_sql("select id from orders where updated_at > %s", (watermark,))}
    assert 1001 not in next_pull
    assert cdc.warehouse_sql("select name from staging.orders where id = 1001") == [("long",)]


def test_deletes_are_found_by_key_reconciliation_and_reported_as_such(cdc_no_logical):
    cdc = cdc_no_logical
    seed(cdc)
    cdc.declare({"public.orders": {"primary_key": ["id"]}}, reconcile_every=2)
    cdc.run("orders")
    cdc.source_sql("delete from orders where id <= 5")
    cdc.source_sql("update orders set qty = -1 where id = 6")
    first = cdc.run("orders")  # reconciliation not due yet: the update lands, the deletes wait
    assert first["changes"] == 1
    assert cdc.warehouse_sql("select count(*) from staging.orders where id <= 5") == [(5,)]
    cdc.run("orders")
    assert equal(cdc)
    raw = cdc.warehouse_sql(f"select _op, _detected_by, count(*) from raw.{cdc.source}_orders_changes group by 1, 2 order by 1")
    assert raw == [("D", "reconciliation", 5), ("U", "xmin", 1)]
    assert cdc.warehouse_sql("select sum(reconciled_deletes) from ops.cdc_batches") == [(5,)]


def test_xmin_mode_survives_kills_too(cdc_no_logical, warm_gx):
    cdc = cdc_no_logical
    seed(cdc)
    cdc.declare({"public.orders": {"primary_key": ["id"]}})
    cdc.run("orders")
    changes = 0
    for digit, point in enumerate(("mid_extract", "after_parquet", "mid_apply")):
        changes += len(cdc.source_sql("update orders set qty = qty + 1 where id %% 10 = %s returning id", (digit,)))
        changes += len(cdc.source_sql("delete from orders where id = %s returning id", (digit * 10 + 105,)))
        assert cdc.forked_run("orders", crash_at=point) == -9
        cdc.run("orders")
        assert equal(cdc), point
    total, distinct = cdc.warehouse_sql(f"select count(*), count(distinct (_op, _xid, id)) from raw.{cdc.source}_orders_changes")[0]
    assert total == distinct == changes
