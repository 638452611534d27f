"""Type mapping, text → Arrow conversion, drift classification and the change batcher, without a server."""

from __future__ import annotations

import pyarrow as pa
import pytest

from onramp.cdc import pgtypes as t
from onramp.cdc.changes import ChangeBatcher, change_schema
from onramp.cdc.drift import compare_columns
from onramp.cdc.dynamic_sql import read_column
from onramp.cdc.errors import SourceError
from onramp.cdc.pgoutput import UNCHANGED


def col(name, oid, typmod=-1, source_type=None, builtin=True, warehouse_type=None):
    return t.Column(name, oid, typmod, source_type or str(oid), warehouse_type or source_type or str(oid), builtin)


def test_arrow_types_and_load_paths():
    assert col("a", t.INT4).arrow_type == pa.int32()
    assert col("a", t.NUMERIC, (12 << 16 | 3) + 4).arrow_type == pa.decimal128(12, 3)
    assert col("a", t.NUMERIC).arrow_type == pa.string() and not col("a", t.NUMERIC).loads_directly
    assert col("a", t.JSONB).arrow_type == t.JSON_TYPE and col("a", t.JSONB).loads_directly
    assert col("a", 869, source_type="inet").arrow_type == pa.string() and not col("a", 869).loads_directly
    enum = col("mood", 99999, source_type="mood", builtin=False, warehouse_type="text")
    assert enum.arrow_type == pa.string() and read_column(enum).as_string() == '"mood"::text as "mood"'
    assert read_column(col("ts", t.TIMESTAMPTZ)).as_string() == '"ts"'


def test_text_values_become_typed_arrow():
    assert t.text_to_arrow(["t", "f", None], col("b", t.BOOL)).to_pylist() == [True, False, None]
    assert t.text_to_arrow(["\\x00ff"], col("b", t.BYTEA)).to_pylist() == [b"\x00\xff"]
    stamps = t.text_to_arrow(["2024-02-29 10:00:00.5+00", None], col("ts", t.TIMESTAMPTZ))
    assert stamps.type == pa.timestamp("us", tz="UTC") and stamps[0].as_py().isoformat() == "2024-02-29T10:00:00.500000+00:00"
    assert t.text_to_arrow(["NaN", "-Infinity"], col("f", t.FLOAT8)).to_pylist()[1] == float("-inf")


def test_unparsable_value_names_the_column():
    with pytest.raises(SourceError, match="column 'when' .* holds 'infinity'"):
        t.text_to_arrow(["2024-01-01", "infinity"], col("when", t.DATE, source_type="date"))


@pytest.mark.parametrize(("old", "new", "verdict"), [
    ((t.INT4, -1), (t.INT8, -1), "widened"),
    ((t.INT8, -1), (t.INT4, -1), "incompatible"),
    ((t.VARCHAR, 14), (t.VARCHAR, 24), "widened"),
    ((t.VARCHAR, 24), (t.VARCHAR, 14), "incompatible"),
    ((t.VARCHAR, 24), (t.TEXT, -1), "widened"),
    ((t.NUMERIC, (10 << 16 | 2) + 4), (t.NUMERIC, (12 << 16 | 2) + 4), "widened"),
    ((t.NUMERIC, (10 << 16 | 2) + 4), (t.NUMERIC, (10 << 16 | 4) + 4), "incompatible"),
    ((t.INT4, -1), (t.TEXT, -1), "incompatible"),
    ((t.TIMESTAMP, -1), (t.TIMESTAMPTZ, -1), "incompatible"),
])
def test_type_changes_are_classified(old, new, verdict):
    assert t.compare_types(col("c", *old), col("c", *new)) == verdict


def test_drift_events():
    known = [col("id", t.INT4).to_dict(), col("gone", t.TEXT).to_dict(), col("n", t.INT4).to_dict(), col("s", t.INT4).to_dict()]
    current = [col("id", t.INT4), col("n", t.INT8), col("s", t.TEXT), col("new", t.TEXT)]
    changes = {e["column"]: e["change"] for e in compare_columns(known, current)}
    assert changes == {"gone": "dropped", "n": "type_widened", "s": "type_incompatible", "new": "added"}


def test_batcher_emits_bounded_batches_with_metadata():
    batches = []
    columns = [col("id", t.INT8), col("body", t.TEXT)]
    batcher = ChangeBatcher(columns, 2, batches.append)
    batcher.add("I", ["1", "a"], lsn=10, seq=0, xid=5, commit_unix_us=0)
    batcher.add("U", ["1", UNCHANGED], lsn=11, seq=0, xid=6, commit_unix_us=0)
    batcher.add("D", ["1", None], lsn=12, seq=0, xid=7, commit_unix_us=0)
    batcher.flush()
    assert [b.num_rows for b in batches] == [2, 1]
    first = batches[0].to_pylist()
    assert first[1]["_unchanged"] == ",body," and first[1]["body"] is None and first[0]["_unchanged"] is None
    assert batches[0].schema == change_schema(columns) and batcher.counts == {"r": 0, "I": 1, "U": 1, "D": 1, "T": 0}

    batcher.set_columns(columns + [col("extra", t.INT4)])  # a new column: the next batch has the new schema
    batcher.add("I", ["2", "b", "7"], lsn=13, seq=0)
    batcher.flush()
    assert batches[-1].schema.names[-1] == "extra"
