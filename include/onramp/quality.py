"""Great Expectations gates: validate a batch against ``expectations/<suite>.json`` before it is published.

Write, audit, publish: a loader writes a batch, calls :func:`gate`, and only on success publishes it.
A failed gate records its result in ``ops.quality_results``, writes the batch to the lake's
quarantine folder, and raises :class:`GateFailed` naming the suite, the batch, what failed, and
how to replay. GX is imported lazily (it costs seconds and logs a lot), never at DAG parse time.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from onramp import db
from onramp.settings import PROJECT_ROOT

if TYPE_CHECKING:
    import pandas as pd

EXPECTATIONS_DIR = PROJECT_ROOT / "expectations"


class SuiteError(ValueError):
    """A suite file is missing or malformed; the message names the file."""


class GateFailed(RuntimeError):
    """A batch failed its quality gate: it is quarantined and nothing downstream may publish it."""

    def __init__(self, result: GateResult, quarantine_path: Path | None):
        self.result = result
        self.quarantine_path = quarantine_path
        lines = [f"quality gate {result.suite!r} failed for batch {result.batch_id!r}:"]
        lines += [f"  - {f}" for f in result.failures]
        if quarantine_path:
            lines.append(f"the batch is quarantined at {quarantine_path}; fix the data or the suite "
                         f"(expectations/{result.suite}.json), then re-run the task to replay it")
        super().__init__("\n".join(lines))


@dataclass
class GateResult:
    suite: str
    batch_id: str
    success: bool
    rows: int
    evaluated: int
    failures: list[str] = field(default_factory=list)
    details: list[dict] = field(default_factory=list)


def _quiet_gx():
    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    import great_expectations as gx

    return gx


def suite_path(suite: str) -> Path:
    return EXPECTATIONS_DIR / f"{suite}.json"


def load_suite_spec(suite: str, directory: Path | None = None) -> dict:
    """The suite's JSON: ``{"name": ..., "expectations": [{"type": ..., "kwargs": {...}}, ...]}``."""
    path = (directory or EXPECTATIONS_DIR) / f"{suite}.json"
    if not path.is_file():
        raise SuiteError(f"no suite {suite!r}: expected a file {path}")
    try:
        spec = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise SuiteError(f"{path} is not valid JSON: {exc}") from None
    if not isinstance(spec.get("expectations"), list) or not spec["expectations"]:
        raise SuiteError(f"{path} must hold a non-empty 'expectations' list")
    for i, exp in enumerate(spec["expectations"]):
        if not isinstance(exp, dict) or "type" not in exp or not isinstance(exp.get("kwargs", {}), dict):
            raise SuiteError(f"{path}: expectation #{i} needs a 'type' and a 'kwargs' object")
    return spec


@cache
def gx_context():
    gx = _quiet_gx()
    from great_expectations.data_context.types.base import ProgressBarsConfig
    from great_expectations.execution_engine import pandas_execution_engine

    # GX fingerprints every in-memory batch by hashing all of its values (an MD5 kept in the batch markers,
    # which Onramp never reads): ~60 ms per 50k-row stream batch. Frames above this size are not hashed.
    pandas_execution_engine.HASH_THRESHOLD = 0
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    return context


def build_suite(spec: dict, name: str):
    gx = _quiet_gx()
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

    configs = [ExpectationConfiguration(type=e["type"], kwargs=e.get("kwargs", {}), meta=e.get("meta")) for e in spec["expectations"]]
    try:
        return gx.ExpectationSuite(name=name, expectations=configs)
    except Exception as exc:  # GX raises several types for unknown or malformed expectations
        raise SuiteError(f"suite {name!r}: {exc}") from None


def describe(result) -> str:
    config = result.expectation_config
    kwargs = {k: v for k, v in config.kwargs.items() if k not in ("batch_id",)}
    column = kwargs.pop("column", None)
    where = f" on column {column!r}" if column else ""
    info = result.result or {}
    if result.exception_info and result.exception_info.get("raised_exception"):
        return f"{config.type}{where}: could not be evaluated: {result.exception_info.get('exception_message')}"
    if "unexpected_count" in info:
        sample = info.get("partial_unexpected_list") or []
        return f"{config.type}{where} {kwargs or ''}: {info['unexpected_count']} unexpected values, e.g. {sample[:5]}".replace(" {}", "")
    observed = info.get("observed_value")
    return f"{config.type}{where} {kwargs or ''}: observed {observed!r}".replace(" {}", "")


def validate(data: pd.DataFrame, suite: str, batch_id: str, directory: Path | None = None) -> GateResult:
    """Validate ``data`` against the suite; never raises for a failing batch (see :func:`gate`)."""
    spec = load_suite_spec(suite, directory)
    context = gx_context()
    name = f"{suite}:{batch_id}"
    gx_suite = build_suite(spec, name)
    source_name = f"onramp_{suite}"
    try:
        source = context.data_sources.get(source_name)
    except (KeyError, ValueError):
        source = context.data_sources.add_pandas(source_name)
    try:
        asset = source.get_asset("batch")
    except (LookupError, ValueError):
        asset = source.add_dataframe_asset("batch")
    try:
        definition = asset.get_batch_definition("whole")
    except (KeyError, ValueError):
        definition = asset.add_batch_definition_whole_dataframe("whole")
    batch = definition.get_batch(batch_parameters={"dataframe": data})
    outcome = batch.validate(gx_suite)
    failures = [describe(r) for r in outcome.results if not r.success]
    details = [
        {"expectation": r.expectation_config.type, "kwargs": {k: str(v) for k, v in r.expectation_config.kwargs.items()},
         "success": bool(r.success), "unexpected_count": (r.result or {}).get("unexpected_count")}
        for r in outcome.results
    ]
    return GateResult(suite, batch_id, bool(outcome.success), len(data), len(outcome.results), failures, details)


def record(warehouse_url: str, result: GateResult, stage: str, quarantine_path: Path | None = None) -> None:
    """Keep the gate's outcome in ``ops.quality_results`` (idempotent per suite and batch)."""
    from psycopg.types.json import Jsonb

    with db.connect(warehouse_url, "quality") as conn:
        conn.execute(db.sql("quality", "record_result"), {
            "suite": result.suite, "batch_id": result.batch_id, "stage": stage, "success": result.success,
            "rows": result.rows, "evaluated": result.evaluated, "failures": Jsonb(result.failures),
            "details": Jsonb(result.details), "quarantine_path": str(quarantine_path) if quarantine_path else None,
        })


def quarantine(data: pd.DataFrame, lake_dir: Path, suite: str, batch_id: str) -> Path:
    """Write the failed batch where it can be inspected and replayed: ``<lake>/quarantine/<suite>/<batch>.parquet``."""
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in batch_id)
    path = Path(lake_dir) / "quarantine" / suite / f"{safe}.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    data.to_parquet(path, compression="zstd", index=False)
    return path


def gate(data: pd.DataFrame, suite: str, batch_id: str, *, warehouse_url: str, lake_dir: Path, stage: str,
         directory: Path | None = None) -> GateResult:
    """Validate, record, and on failure quarantine the batch and raise :class:`GateFailed`."""
    result = validate(data, suite, batch_id, directory)
    path = None if result.success else quarantine(data, lake_dir, suite, batch_id)
    record(warehouse_url, result, stage, path)
    if not result.success:
        raise GateFailed(result, path)
    return result
