"""The gate of the warehouse models: a GX suite per published model, run over its dbt candidate in ``*_build``.

Each suite is ``expectations/<schema>_<model>.json``: static expectations (keys, nulls, ranges, accepted
values), plus two checks whose bounds come from what analysts read now, the published table:

- ``volume``: the candidate's rows against the published table's (``min_ratio``/``max_ratio``); for an
  incremental model the table must not shrink, and the delta (rows built since the last publish) is what the
  column expectations check;
- ``drift`` (features): for each numeric column, the mean of the new as-of date must stay within
  ``max_mean_shift_std`` standard deviations of the published newest date's mean.

Expectations run in PostgreSQL (GX's SQL data source), so a 20M-row fact table is never pulled into Python.
A failure is recorded in ``ops.quality_results`` (stage ``marts``), the candidate stays in ``*_build`` for
inspection, and :class:`~onramp.quality.GateFailed` stops the run before the publish: nothing downstream
sees it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from psycopg.sql import SQL, Identifier

from onramp import db, quality
from onramp.marts.manifest import PublishedModel
from onramp.quality import GateFailed, GateResult

NUMERIC_TYPES = ("smallint", "integer", "bigint", "numeric", "double precision", "real")
STAGE = "marts"


@dataclass
class Baseline:
    """What the candidate is compared with: the published table now."""

    published_rows: int = 0
    published_through: str | None = None  # max(built_at) published, for an incremental model's delta
    column_stats: dict[str, tuple[float, float]] = field(default_factory=dict)  # numeric column -> (mean, stddev)


def _numeric_columns(conn: psycopg.Connection, schema: str, table: str) -> list[str]:
    rows = conn.execute(db.sql("marts", "published_columns"), {"table": Identifier(schema, table).as_string()})
    return [name for name, type_ in rows if type_.split("(")[0] in NUMERIC_TYPES]


def baseline(conn: psycopg.Connection, model: PublishedModel, drift: bool) -> Baseline:
    qualified = Identifier(model.schema, model.name).as_string()
    if not conn.execute(db.sql("marts", "table_exists"), {"table": qualified}).fetchone()[0]:
        return Baseline()
    target = Identifier(model.schema, model.name)
    rows, through = conn.execute(SQL("select count(*), max(built_at)::text from {}").format(target)).fetchone()
    stats: dict[str, tuple[float, float]] = {}
    if drift and rows:
        columns = [c for c in _numeric_columns(conn, model.schema, model.name) if c not in model.key]
        if columns:
            parts = SQL(", ").join(SQL("avg({0})::float8, stddev_pop({0})::float8").format(Identifier(c)) for c in columns)
            latest = SQL("where as_of_date = (select max(as_of_date) from {})").format(target) \
                if "as_of_date" in model.key else SQL("")
            values = conn.execute(SQL("select {} from {} {}").format(parts, target, latest)).fetchone()
            for i, column in enumerate(columns):
                mean, std = values[2 * i], values[2 * i + 1]
                if mean is not None:
                    stats[column] = (mean, std or 0.0)
    return Baseline(rows, through, stats)


def candidate_query(model: PublishedModel, base: Baseline) -> str:
    """The rows the column expectations check: the whole candidate, or for an incremental model its delta."""
    table = Identifier(model.build_schema, model.name)
    if model.incremental and base.published_through:
        return SQL("select * from {} where built_at > {}::timestamptz").format(
            table, base.published_through).as_string()
    return SQL("select * from {}").format(table).as_string()


def dynamic_expectations(spec: dict, model: PublishedModel, base: Baseline, candidate_rows: int) -> list[dict]:
    """Volume and drift expectations with bounds from the published table (empty on the first publish)."""
    out: list[dict] = []
    volume = spec.get("volume") or {}
    if base.published_rows and volume and not model.incremental:
        out.append({"type": "expect_table_row_count_to_be_between", "kwargs": {
            "min_value": math.floor(base.published_rows * volume.get("min_ratio", 0.0)),
            "max_value": math.ceil(base.published_rows * volume.get("max_ratio", 1e9))},
            "meta": {"protects": "volume against the published build: a partial or exploded build never replaces it"}})
    drift = spec.get("drift") or {}
    shift = drift.get("max_mean_shift_std")
    if shift is not None and candidate_rows:
        for column, (mean, std) in sorted(base.column_stats.items()):
            if column in drift.get("ignore", []):
                continue
            width = max(shift * std, abs(mean) * drift.get("min_relative_width", 0.05), 1e-9)
            out.append({"type": "expect_column_mean_to_be_between", "kwargs": {
                "column": column, "min_value": mean - width, "max_value": mean + width},
                "meta": {"protects": f"distribution drift of {column} against the published features"}})
    return out


def _candidate_rows(conn: psycopg.Connection, query: str) -> int:
    return conn.execute(SQL("select count(*) from ({}) as candidate").format(SQL(query))).fetchone()[0]


def _validate(connection_string: str, suite_name: str, batch_id: str, query: str, expectations: list[dict]) -> list:
    gx_context = quality.gx_context()
    source = gx_context.data_sources.add_or_update_postgres(f"onramp_{suite_name}", connection_string=connection_string)
    asset = source.add_query_asset("candidate", query=query)
    batch = asset.add_batch_definition_whole_table("whole").get_batch()
    suite = quality.build_suite({"expectations": expectations}, f"{suite_name}:{batch_id}")
    return batch.validate(suite).results


def validate_model(warehouse_url: str, model: PublishedModel, batch_id: str,
                   suites_dir: Path | None = None) -> GateResult:
    """Run the model's suite over its candidate; never raises for a failing candidate (see :func:`gate`)."""
    spec = quality.load_suite_spec(model.suite, suites_dir)
    with db.connect(warehouse_url, "marts-gate") as conn:
        base = baseline(conn, model, drift=bool(spec.get("drift")))
        query = candidate_query(model, base)
        rows = _candidate_rows(conn, query)
        failures: list[str] = []
        if model.incremental and base.published_rows:
            total = conn.execute(SQL("select count(*) from {}").format(
                Identifier(model.build_schema, model.name))).fetchone()[0]
            if total < base.published_rows:
                failures.append(f"volume: {model.build_schema}.{model.name} holds {total} rows, fewer than the "
                                f"{base.published_rows} already published; an incremental model must not lose rows")
    expectations = spec["expectations"] + dynamic_expectations(spec, model, base, rows)
    results = _validate(db.sqlalchemy_url(warehouse_url, "marts-gate"), model.suite, batch_id, query, expectations)
    failures += [quality.describe(r) for r in results if not r.success]
    details = [{"expectation": r.expectation_config.type,
                "kwargs": {k: str(v) for k, v in r.expectation_config.kwargs.items() if k != "batch_id"},
                "success": bool(r.success), "observed": str((r.result or {}).get("observed_value", "")),
                "unexpected_count": (r.result or {}).get("unexpected_count")} for r in results]
    return GateResult(model.suite, batch_id, not failures, rows, len(results), failures, details)


def gate(warehouse_url: str, models: list[PublishedModel], batch_id: str,
         suites_dir: Path | None = None) -> list[GateResult]:
    """Validate every candidate, record each result, and raise GateFailed naming all that failed."""
    results = []
    for model in models:
        result = validate_model(warehouse_url, model, batch_id, suites_dir)
        quality.record(warehouse_url, result, STAGE)
        results.append(result)
    failed = [r for r in results if not r.success]
    if failed:
        merged = GateResult(", ".join(r.suite for r in failed), batch_id, False, sum(r.rows for r in failed),
                            sum(r.evaluated for r in failed),
                            [f"{r.suite}: {f}" for r in failed for f in r.failures])
        error = GateFailed(merged, None)
        error.args = (f"{error.args[0]}\nnothing was published: the candidates stay in marts_build/features_build for "
                      "inspection; fix the model or its input (or the suite in expectations/), then re-run "
                      "the warehouse_marts DAG",)
        raise error
    return results
