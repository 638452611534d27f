"""The quality gate with real GX and a real warehouse: pass publishes nothing extra, fail blocks and quarantines."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import psycopg
import pytest

from onramp.migrations import migrate
from onramp.quality import GateFailed, SuiteError, gate, load_suite_spec

SUITES = Path(__file__).resolve().parents[1] / "unit" / "fixtures" / "suites"


@pytest.fixture
def warehouse(make_database):
    url = make_database("quality")
    migrate(url, "warehouse")
    return url


def test_passing_batch_is_recorded(warehouse, tmp_path):
    good = pd.DataFrame({"order_id": [1, 2], "amount": [10.0, 20.0], "plan": ["free", "pro"]})
    result = gate(good, "orders", "b1", warehouse_url=warehouse, lake_dir=tmp_path, stage="test", directory=SUITES)
    assert result.success and result.rows == 2 and result.evaluated == 3
    with psycopg.connect(warehouse) as conn:
        assert conn.execute("select success, rows_checked, quarantine_path from ops.quality_results").fetchall() == [(True, 2, None)]
    assert not (tmp_path / "quarantine").exists()


def test_failing_batch_is_blocked_quarantined_and_explained(warehouse, tmp_path):
    bad = pd.DataFrame({"order_id": [1, None], "amount": [10.0, 5000.0], "plan": ["free", "gold"]})
    with pytest.raises(GateFailed) as caught:
        gate(bad, "orders", "run 7/batch 3", warehouse_url=warehouse, lake_dir=tmp_path, stage="test", directory=SUITES)
    message = str(caught.value)
    assert "quality gate 'orders' failed for batch 'run 7/batch 3'" in message
    assert "expect_column_values_to_be_between on column 'amount'" in message and "[5000.0]" in message
    assert "'gold'" in message and "re-run the task to replay" in message
    path = caught.value.quarantine_path
    assert path.exists() and pd.read_parquet(path).shape == (2, 3)
    with psycopg.connect(warehouse) as conn:
        success, failures, qpath = conn.execute("select success, failures, quarantine_path from ops.quality_results").fetchone()
    assert success is False and len(failures) == 3 and qpath == str(path)

    # Replay after a fix overwrites the batch's row instead of adding one.
    fixed = bad.assign(order_id=[1, 2], amount=[10.0, 50.0], plan=["free", "pro"])
    gate(fixed, "orders", "run 7/batch 3", warehouse_url=warehouse, lake_dir=tmp_path, stage="test", directory=SUITES)
    with psycopg.connect(warehouse) as conn:
        assert conn.execute("select count(*), bool_and(success) from ops.quality_results").fetchone() == (1, True)


def test_missing_or_malformed_suite_names_the_file(tmp_path):
    with pytest.raises(SuiteError, match="no suite 'nope'"):
        load_suite_spec("nope", tmp_path)
    (tmp_path / "broken.json").write_text('{"expectations": [{"kwargs": {}}]}')
    with pytest.raises(SuiteError, match="broken.json: expectation #0 needs a 'type'"):
        load_suite_spec("broken", tmp_path)
