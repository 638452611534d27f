"""Guardrails: slot lag recorded and limited, a lost slot stops loudly and resnapshot recovers, apply retries are safe."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from onramp.cdc import cycle
from onramp.cdc.cli import app
from onramp.cdc.errors import CdcError, SlotLagExceeded, SlotLost

from .conftest import checksum

COLUMNS = ["id", "v"]


def seed(cdc, **settings) -> None:
    cdc.source_sql("create table things (id int primary key, v text)")
    cdc.source_sql("create table bulk (x text)")  # not replicated: only makes WAL
    cdc.source_sql("insert into things select g, 'v' || g from generate_series(1, 100) g")
    cdc.declare({"public.things": {"primary_key": ["id"]}}, **settings)
    cdc.run("things")


def equal(cdc) -> bool:
    return checksum(cdc.source_url, "things", COLUMNS, ["id"]) == checksum(cdc.warehouse_url, "staging.things", COLUMNS, ["id"])


def test_slot_lag_is_recorded_and_over_the_limit_fails_loudly_after_catching_up(cdc, warm_gx):
    seed(cdc, max_slot_lag_bytes=1024 * 1024)
    cdc.source_sql("insert into bulk select repeat('x', 1000) from generate_series(1, 3000)")  # ~3 MB of WAL
    cdc.source_sql("update things set v = 'late' where id = 1")
    with pytest.raises(SlotLagExceeded) as caught:
        cdc.run("things")
    message = str(caught.value)
    assert cdc.table("things").slot_name in message and "max_slot_lag_bytes" in message
    assert "This run's data is applied" in message
    assert equal(cdc)  # the run still applied and confirmed: the lag is gone
    over = cdc.warehouse_sql("select phase, over_limit from ops.cdc_slot_lag_latest")
    assert over == [("apply", False)]
    extract_lag = cdc.warehouse_sql("select lag_bytes > limit_bytes from ops.cdc_slot_lag where phase = 'extract'"
                                    " order by measured_at desc limit 1")
    assert extract_lag == [(True,)]
    cdc.run("things")  # caught up: the next run is quiet


def test_lost_slot_stops_the_table_and_resnapshot_recovers_deletes_too(cdc, warm_gx):
    seed(cdc)
    slot = cdc.table("things").slot_name
    cdc.source_sql("select pg_drop_replication_slot(%s)", (slot,))
    cdc.source_sql("delete from things where id <= 10")  # lost with the slot: only a new snapshot can know
    cdc.source_sql("insert into things values (500, 'new')")
    with pytest.raises(SlotLost, match=f"replication slot {slot} does not exist.*onramp cdc resnapshot"):
        cdc.run("things")

    cli = CliRunner().invoke(app, ["resnapshot", "things", "--config", str(cdc.config_file),
                                   "--source-url", cdc.source_url, "--warehouse-url", cdc.warehouse_url,
                                   "--lake-dir", str(cdc.lake)])
    assert cli.exit_code == 0, cli.output
    assert equal(cdc)
    cdc.source_sql("update things set v = 'after' where id = 500")
    cdc.run("things")
    assert equal(cdc)


def test_lost_slot_can_resnapshot_by_itself_when_configured(cdc, warm_gx):
    seed(cdc, on_slot_lost="resnapshot")
    cdc.source_sql("select pg_drop_replication_slot(%s)", (cdc.table("things").slot_name,))
    cdc.source_sql("delete from things where id = 1")
    result = cdc.run("things")
    assert result["published"] == "merged" and equal(cdc)


def test_drop_slot_command_frees_the_wal_and_says_what_next(cdc, warm_gx):
    seed(cdc)
    cli = CliRunner().invoke(app, ["drop-slot", "things", "--config", str(cdc.config_file), "--source-url", cdc.source_url])
    assert cli.exit_code == 0 and "resnapshot" in cli.output
    assert cdc.source_sql("select count(*) from pg_replication_slots where slot_name = %s", (cdc.table("things").slot_name,)) == [(0,)]


def test_apply_retried_after_its_commit_only_confirms(cdc, warm_gx):
    """Airflow retries a task whose process died after the commit: the same manifest must not apply twice."""
    seed(cdc)
    cdc.source_sql("update things set v = 'x' where id <= 3")
    context = cdc.context("things")
    manifest = cycle.gate(context, cycle.extract(context))
    assert cdc.forked_run_apply(context, manifest, crash_at="before_confirm") == -9
    again = cycle.apply(context, manifest)
    assert again.already_applied is True
    assert equal(cdc)
    assert cdc.warehouse_sql(f"select count(*) from raw.{cdc.source}_things_changes") == [(3,)]
    slot = cdc.source_sql("select confirmed_flush_lsn::text from pg_replication_slots where slot_name = %s",
                          (cdc.table("things").slot_name,))
    assert slot == cdc.warehouse_sql("select applied_lsn::text from ops.cdc_tables")


def test_foreign_slot_with_our_name_is_never_taken_over(cdc):
    cdc.source_sql("create table things (id int primary key, v text)")
    cdc.declare({"public.things": {"primary_key": ["id"]}})
    slot = cdc.table("things").slot_name
    cdc.source_sql("select pg_create_logical_replication_slot(%s, 'pgoutput')", (slot,))
    with pytest.raises(CdcError, match="no record of it"):
        cycle.extract(cdc.context("things"))
