"""Lake files (names, partitions, overwrite on re-run), snapshot chunk plans, xmin windows, gate columns, URLs."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq

from onramp.cdc import pgtypes as t
from onramp.cdc.catalog import TableShape
from onramp.cdc.changes import ChangeBatcher
from onramp.cdc.config import TableConfig
from onramp.cdc.dynamic_sql import xmin_condition as _xmin_condition
from onramp.cdc.gate import referenced_columns
from onramp.cdc.lake import LakeWriter, run_key
from onramp.cdc.snapshot import plan_chunks as _plan_chunks

TABLE = TableConfig(source="app", schema="app", name="users", primary_key=("id",), mode="log", target="users",
                    slot_prefix="onramp_app")
DAY = 86_400_000_000


def write(lake, batch_id: str, run: str, stamps: list[int], columns=None) -> list:
    columns = columns or [t.Column("id", t.INT8, -1, "bigint", "bigint", True)]
    writer = LakeWriter(lake, TABLE, batch_id, run, default_date="2024-01-01")
    batcher = ChangeBatcher(columns, 1000, writer.write)
    for i, stamp in enumerate(stamps):
        batcher.add("I", [str(i)] + [None] * (len(columns) - 1), lsn=i, seq=0, commit_unix_us=stamp)
    batcher.flush()
    return writer.close()


def test_files_are_partitioned_by_commit_date_and_named_by_batch_and_run(tmp_path):
    files = write(tmp_path, "lsn-00000000000000AA", "scheduled__2024-01-01T00:00:00+00:00", [0, DAY, DAY + 5])
    assert [(f.commit_date, f.rows) for f in files] == [("1970-01-01", 1), ("1970-01-02", 2)]
    assert files[0].path == "bronze/app/users/commit_date=1970-01-01/lsn-00000000000000AA__scheduled__2024-01-01T00-00-00-00-00.parquet"
    table = pq.read_table(tmp_path / files[1].path)
    assert table.schema.field("_lsn").type == pa.int64()
    assert pq.ParquetFile(tmp_path / files[1].path).metadata.row_group(0).column(0).compression == "ZSTD"


def test_a_rerun_of_the_same_batch_replaces_its_files_whatever_run_wrote_them(tmp_path):
    write(tmp_path, "lsn-01", "run-a", [0, DAY])
    write(tmp_path, "lsn-01", "run-b", [0])
    write(tmp_path, "lsn-02", "run-b", [0])
    names = sorted(p.name for p in (tmp_path / "bronze").rglob("*.parquet"))
    assert names == ["lsn-01__run-b.parquet", "lsn-02__run-b.parquet"]
    assert not list((tmp_path / "bronze").rglob(".*"))  # no half-written files left


def test_schema_change_mid_batch_starts_a_new_part(tmp_path):
    writer = LakeWriter(tmp_path, TABLE, "lsn-03", "r", default_date="2024-01-01")
    base = [t.Column("id", t.INT8, -1, "bigint", "bigint", True)]
    batcher = ChangeBatcher(base, 1000, writer.write)
    batcher.add("I", ["1"], lsn=1, seq=0, commit_unix_us=0)
    batcher.set_columns(base + [t.Column("tier", t.TEXT, -1, "text", "text", True)])
    batcher.add("I", ["2", "gold"], lsn=2, seq=0, commit_unix_us=0)
    batcher.flush()
    files = writer.close()
    assert [f.path.rsplit("/", 1)[1] for f in files] == ["lsn-03__r.parquet", "lsn-03__r-p2.parquet"]


def test_run_keys_are_file_safe():
    assert run_key("manual__2024-05-01T10:00:00.123+00:00") == "manual__2024-05-01T10-00-00.123-00-00"
    assert run_key("///") == "run"


def test_snapshot_chunks_are_block_ranges_sized_by_rows():
    shape = TableShape(1, [], "d", estimated_rows=2_000_000, pages=40_000)
    assert _plan_chunks(shape, 250_000, 180000) == (5000, 8)
    assert _plan_chunks(TableShape(1, [], "d", 0, 0), 250_000, 180000) == (1, 1)
    assert _plan_chunks(shape, 250_000, 130000) == (40_000, 1)  # no TID range scans before PostgreSQL 14


def test_xmin_window_handles_the_32_bit_wraparound():
    same_epoch = _xmin_condition(100, 200)
    assert ">= 100" in same_epoch and "< 200" in same_epoch and "<= 200 then 0" in same_epoch
    wrapped = _xmin_condition((1 << 32) - 50, (1 << 32) + 10)
    assert f"then {1 << 32} else 0 end" in wrapped


def test_gate_reads_only_the_columns_its_suite_uses():
    spec = {"expectations": [
        {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "email", "row_condition": '_op != "D" and plan == "x"'}},
        {"type": "expect_compound_columns_to_be_unique", "kwargs": {"column_list": ["id", "day"]}},
    ]}
    assert referenced_columns(spec, ["_op", "_lsn", "id", "email", "plan", "day", "bio"]) == ["_op", "id", "email", "plan", "day"]


def test_connection_urls_outside_airflow(monkeypatch):
    from onramp.endpoints import url_for

    monkeypatch.setenv("AIRFLOW_CONN_CRM", "postgres://u:p@db:5433/crm")
    assert url_for("crm") == "postgresql://u:p@db:5433/crm"
    monkeypatch.setenv("AIRFLOW_CONN_CRM", '{"conn_type": "postgres", "host": "h", "login": "u", "schema": "d", "extra": {"sslmode": "require"}}')
    assert url_for("crm") == "postgresql://u@h:5432/d?sslmode=require"
