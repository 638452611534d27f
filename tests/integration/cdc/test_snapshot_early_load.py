"""The snapshot's chunks are gated and loaded while the extraction reads on; publishing stays after the gate task."""

from __future__ import annotations

import json
import shutil

import pytest

from onramp import quality
from onramp.cdc.cycle import Manifest, apply, extract, gate

from .conftest import checksum

COLUMNS = ["id", "name", "qty", "price", "tags", "updated_at"]


def make_items(cdc, rows: int = 3000) -> None:
    cdc.source_sql("create table items (id int primary key, name text not null, qty int, price numeric(12,2),"
                   " tags jsonb, updated_at timestamptz)")
    cdc.source_sql("insert into items select g, 'item ' || g, g % 5, g * 1.25, '[]', now()"
                   f" from generate_series(1, {rows}) g")
    cdc.declare({"public.items": {"primary_key": ["id"]}}, snapshot_chunk_rows=500, batch_rows=200)


def test_the_extraction_gates_and_loads_every_chunk_and_the_tasks_skip_them(cdc, warm_gx):
    make_items(cdc)
    manifest = extract(cdc.context("items"))
    chunks = manifest.snapshot.chunks
    assert len(chunks) > 2
    assert all(c.gated.suite == "cdc_changes" and c.loaded == c.rows for c in chunks)
    # loaded and committed with their progress, but not published: staging does not exist before the apply
    assert cdc.warehouse_sql("select status, snapshot_next_chunk, snapshot_chunks from ops.cdc_tables") == \
        [("snapshotting", len(chunks), len(chunks))]
    assert cdc.warehouse_sql("select to_regclass('staging.items') is null") == [(True,)]
    assert cdc.warehouse_sql("select count(*) from ops.cdc_batches where kind = 'snapshot'") == [(len(chunks),)]

    through_xcom = Manifest.from_dict(json.loads(json.dumps(manifest.to_dict())))  # through XCom: JSON only
    gated = gate(cdc.context("items"), through_xcom)
    assert gated.gated.chunks_gated_during_extract == len(chunks)
    assert gated.gated.rows == 3000
    result = apply(cdc.context("items"), gated)
    assert result.snapshot_rows == 3000 and result.published == "created"
    assert checksum(cdc.source_url, "items", COLUMNS, ["id"]) == checksum(cdc.warehouse_url, "staging.items", COLUMNS, ["id"])
    # the snapshot's metadata (the same for every row, so loaded as column defaults) is there, the defaults are not
    snapshot = manifest.snapshot
    assert cdc.warehouse_sql(
        "select count(*), count(distinct _cdc_lsn), min(_cdc_lsn - '0/0'), count(_cdc_xid),"
        " min((extract(epoch from _cdc_commit_ts) * 1000000)::bigint) from staging.items"
    ) == [(3000, 1, snapshot.lsn, 0, snapshot.taken_unix_us)]
    assert cdc.warehouse_sql("select count(*) from information_schema.columns where table_schema = 'staging'"
                             " and table_name = 'items' and column_default is not null") == [(0,)]


def test_early_load_off_leaves_the_chunks_to_the_gate_and_apply_tasks(cdc, warm_gx):
    make_items(cdc, 1500)
    manifest = extract(cdc.context("items"), early_load=False)
    assert not any(c.gated is not None or c.loaded is not None for c in manifest.snapshot.chunks)
    assert cdc.warehouse_sql("select snapshot_next_chunk from ops.cdc_tables") == [(0,)]
    gated = gate(cdc.context("items"), manifest)
    assert gated.gated.chunks_gated_during_extract == 0 and gated.gated.rows == 1500
    assert apply(cdc.context("items"), gated).snapshot_rows == 1500
    assert checksum(cdc.source_url, "items", COLUMNS, ["id"]) == checksum(cdc.warehouse_url, "staging.items", COLUMNS, ["id"])


def test_a_chunk_failing_the_gate_is_quarantined_by_the_gate_task_and_nothing_is_published(cdc, warm_gx, tmp_path):
    make_items(cdc)
    suites = tmp_path / "suites"
    suites.mkdir()
    shutil.copy(quality.EXPECTATIONS_DIR / "cdc_changes.json", suites / "cdc_changes.json")
    own = suites / f"{cdc.table('items').suite_name}.json"
    own.write_text(json.dumps({"name": own.stem, "expectations": [
        {"type": "expect_column_values_to_be_between", "kwargs": {"column": "id", "max_value": 1200}}]}))

    with pytest.raises(quality.GateFailed) as failed:
        cdc.run("items", suite_dir=suites)
    assert failed.value.quarantine_path is not None and failed.value.quarantine_path.is_file()
    done, total = cdc.warehouse_sql("select snapshot_next_chunk, snapshot_chunks from ops.cdc_tables")[0]
    assert 0 < done < total  # the chunks before the failing one were gated and loaded into the work table
    assert cdc.warehouse_sql("select to_regclass('staging.items') is null") == [(True,)]
    assert cdc.warehouse_sql("select count(*) from ops.quality_results where not success") == [(1,)]

    own.unlink()  # the fix: the table goes back to the generic suite, the next run resumes the snapshot
    cdc.run("items", suite_dir=suites)
    assert checksum(cdc.source_url, "items", COLUMNS, ["id"]) == checksum(cdc.warehouse_url, "staging.items", COLUMNS, ["id"])
    assert cdc.warehouse_sql("select status from ops.cdc_tables") == [("streaming",)]


def test_the_apply_step_still_loads_and_resumes_chunks_the_extraction_left(cdc, warm_gx):
    """Chunks left to the apply step (early load off or stopped) are loaded there, and survive a kill between them."""
    make_items(cdc)
    manifest = gate(cdc.context("items"), extract(cdc.context("items"), early_load=False))
    assert cdc.forked_run_apply(cdc.context("items"), manifest, crash_at="mid_snapshot_apply") == -9
    done, total = cdc.warehouse_sql("select snapshot_next_chunk, snapshot_chunks from ops.cdc_tables")[0]
    assert 0 < done < total
    result = apply(cdc.context("items"), manifest)
    assert result.published == "created"
    assert checksum(cdc.source_url, "items", COLUMNS, ["id"]) == checksum(cdc.warehouse_url, "staging.items", COLUMNS, ["id"])


def test_a_load_error_during_the_extraction_leaves_the_rest_to_the_apply_step(cdc, warm_gx, monkeypatch):
    from onramp.cdc import warehouse

    make_items(cdc)
    real, calls = warehouse.set_snapshot_meta_defaults, []

    def flaky(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("the warehouse went away")
        return real(*args, **kwargs)

    monkeypatch.setattr(warehouse, "set_snapshot_meta_defaults", flaky)
    manifest = extract(cdc.context("items"))
    chunks = manifest.snapshot.chunks
    assert [c.loaded is not None for c in chunks] == [True] + [False] * (len(chunks) - 1)
    assert cdc.warehouse_sql("select snapshot_next_chunk from ops.cdc_tables") == [(1,)]
    gated = gate(cdc.context("items"), manifest)
    assert gated.gated.rows == 3000
    assert apply(cdc.context("items"), gated).snapshot_rows == 3000
    assert checksum(cdc.source_url, "items", COLUMNS, ["id"]) == checksum(cdc.warehouse_url, "staging.items", COLUMNS, ["id"])
