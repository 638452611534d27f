"""Exactly once under SIGKILL: a cycle killed at any point, then re-run, leaves the warehouse as if nothing happened.

The child process kills itself with SIGKILL at an injected point (ONRAMP_CDC_CRASH_AT), like an OOM
kill or a pulled plug would: no cleanup code runs. After each crash a normal run must bring staging
to the source's exact content (checksums) with every change in the raw log exactly once.
"""

from __future__ import annotations

import random
import signal
import threading

import psycopg

from .conftest import checksum

COLUMNS = ["id", "name", "qty", "price", "tags", "updated_at"]


def make_changes(cdc, rng: random.Random, next_id: list[int]) -> int:
    """Random inserts, updates and deletes, one transaction held open while later ones commit; returns rows changed."""
    changed = 0
    with psycopg.connect(cdc.source_url, autocommit=True) as conn:
        long_txn = psycopg.connect(cdc.source_url)
        long_txn.execute("update items set qty = qty + 1000 where id = (select min(id) from items)")
        changed += 1
        for _ in range(rng.randint(3, 6)):
            kind = rng.choice(["insert", "update", "delete"])
            if kind == "insert":
                n = rng.randint(1, 30)
                cur = conn.execute("insert into items select g, 'new ' || g, g %% 7, g * 0.5, jsonb_build_array(g), now()"
                                   " from generate_series(%s::int, %s::int) g", (next_id[0], next_id[0] + n - 1))
                next_id[0] += n
            elif kind == "update":
                cur = conn.execute("update items set qty = qty + 1, price = price * 1.1, updated_at = now()"
                                   " where id in (select id from items where id > 1 order by random() limit %s)", (rng.randint(1, 40),))
            else:
                cur = conn.execute("delete from items where id in (select id from items where id > 1"
                                   " order by random() limit %s)", (rng.randint(1, 10),))
            changed += cur.rowcount
        long_txn.commit()  # commits after the transactions above, with an older transaction id
        long_txn.close()
    return changed


def assert_exactly_once(cdc, expected_changes: int) -> None:
    assert checksum(cdc.source_url, "items", COLUMNS, ["id"]) == checksum(cdc.warehouse_url, "staging.items", COLUMNS, ["id"])
    total, distinct = cdc.warehouse_sql(f"select count(*), count(distinct (_lsn, _seq)) from raw.{cdc.source}_items_changes")[0]
    assert total == distinct, "the change log holds a change twice"
    assert total == expected_changes, f"the change log holds {total} changes, the source made {expected_changes}"


def killed(exit_code: int) -> bool:
    return exit_code == -signal.SIGKILL


def test_sigkill_at_every_point_then_rerun_is_exactly_once(cdc, warm_gx):
    rng = random.Random(7)
    cdc.source_sql("create table items (id int primary key, name text not null, qty int, price numeric(12,2),"
                   " tags jsonb, updated_at timestamptz)")
    cdc.source_sql("insert into items select g, 'item ' || g, g % 5, g * 1.25, '[]', now() from generate_series(1, 3000) g")
    cdc.declare({"public.items": {"primary_key": ["id"]}}, snapshot_chunk_rows=500, batch_rows=50)

    # The initial snapshot, killed while copying chunks and again while loading them, then resumed.
    assert killed(cdc.forked_run("items", crash_at="mid_extract"))
    assert cdc.warehouse_sql("select status from ops.cdc_tables") == [("snapshotting",)]
    changes_during_snapshot = make_changes(cdc, rng, next_id := [10_000])
    assert killed(cdc.forked_run("items", crash_at="mid_snapshot_apply"))
    chunks_done = cdc.warehouse_sql("select snapshot_next_chunk, snapshot_chunks from ops.cdc_tables")[0]
    assert 0 < chunks_done[0] < chunks_done[1]
    changes_during_snapshot += make_changes(cdc, rng, next_id)
    cdc.run("items")
    # Changes made after the slot was created are in the log once, even though the snapshot was resumed.
    assert_exactly_once(cdc, changes_during_snapshot)
    expected = changes_during_snapshot

    for point in ("mid_extract", "after_parquet", "mid_apply", "before_confirm"):
        expected += make_changes(cdc, rng, next_id)
        assert killed(cdc.forked_run("items", crash_at=point)), f"{point}: the child was not killed there"
        expected += make_changes(cdc, rng, next_id)
        cdc.run("items")
        assert_exactly_once(cdc, expected)

    # A kill before the confirm left the slot behind the warehouse; the next run confirmed it.
    applied = cdc.warehouse_sql("select applied_lsn::text from ops.cdc_tables")[0][0]
    slot = cdc.source_sql("select confirmed_flush_lsn::text from pg_replication_slots where slot_name = %s",
                          (cdc.table("items").slot_name,))
    assert slot == [(applied,)]


def test_the_command_line_cycle_survives_a_kill_between_commit_and_confirm(cdc, warm_gx):
    """The same through `python -m onramp.cdc.cli run` in a fresh interpreter, killed before the slot confirm."""
    cdc.source_sql("create table items (id int primary key, name text not null, qty int, price numeric(12,2),"
                   " tags jsonb, updated_at timestamptz)")
    cdc.source_sql("insert into items select g, 'item ' || g, 1, 1, '[]', now() from generate_series(1, 100) g")
    cdc.declare({"public.items": {"primary_key": ["id"]}})
    cdc.run("items")
    changes = make_changes(cdc, random.Random(3), [1000])
    result = cdc.subprocess_run("items", crash_at="before_confirm")
    assert killed(result.returncode), result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    assert cdc.run("items")["changes"] == 0  # the killed run's changes were committed; nothing is read twice
    assert_exactly_once(cdc, changes)


def test_a_concurrent_writer_during_the_snapshot_loses_nothing(cdc):
    """Rows written while the snapshot streams are caught by the slot: snapshot and stream have no gap."""
    cdc.source_sql("create table items (id int primary key, name text not null, qty int, price numeric(12,2),"
                   " tags jsonb, updated_at timestamptz)")
    cdc.source_sql("insert into items select g, 'item ' || g, 1, 1, '[]', now() from generate_series(1, 20000) g")
    cdc.declare({"public.items": {"primary_key": ["id"]}}, snapshot_chunk_rows=2000)
    stop = threading.Event()
    written = [0]

    def writer():
        with psycopg.connect(cdc.source_url, autocommit=True) as conn:
            n = 100_000
            while not stop.is_set():
                conn.execute("insert into items values (%s, 'w', 0, 0, '[]', now())", (n,))
                conn.execute("update items set qty = qty + 1 where id = %s", (n - 100_000 + 1,))
                n += 1
                written[0] += 1

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        cdc.run("items")
    finally:
        stop.set()
        thread.join()
    assert written[0] > 0
    cdc.run("items")
    assert checksum(cdc.source_url, "items", COLUMNS, ["id"]) == checksum(cdc.warehouse_url, "staging.items", COLUMNS, ["id"])
