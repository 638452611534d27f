"""Declared CDC sources: ``config/cdc_sources.yaml`` lists source databases and the tables to replicate.

Adding a table is a config change, never new code. Every identifier that will reach SQL (schema,
table, column, slot and publication names) is validated here, so the loader can quote them safely
and a typo fails at parse time with the path of the bad key instead of deep inside a run.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from onramp.cdc.errors import ConfigError
from onramp.settings import PROJECT_ROOT

DEFAULT_CONFIG = PROJECT_ROOT / "config" / "cdc_sources.yaml"
IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")
CONN_ID = re.compile(r"^[A-Za-z0-9_-]+$")
MAX_IDENTIFIER = 63  # PostgreSQL truncates longer names silently; refuse them instead
MODES = ("log", "xmin")
FALLBACKS = ("xmin", "fail")
ON_SLOT_LOST = ("fail", "resnapshot")

SOURCE_DEFAULTS: dict[str, Any] = {
    "mode": "log",
    "fallback": "xmin",
    "batch_rows": 100_000,
    "snapshot_chunk_rows": 250_000,
    "max_slot_lag_bytes": 1024**3,
    "on_slot_lost": "fail",
    "reconcile_every": 1,
    "drain_timeout_seconds": 300,
}
_INT_KEYS = ("batch_rows", "snapshot_chunk_rows", "max_slot_lag_bytes", "reconcile_every", "drain_timeout_seconds")
_SOURCE_KEYS = {"conn_id", "slot_prefix", "tables", *SOURCE_DEFAULTS}
_TABLE_KEYS = {"primary_key", "pii", "columns", "exclude_columns", "mode", "suite", "target"}


def config_path() -> Path:
    """The sources file: ``ONRAMP_CDC_CONFIG`` if set (tests, other deployments), else the repo's."""
    from onramp.settings import get_settings

    return Path(get_settings().cdc_config or DEFAULT_CONFIG)


@dataclass(frozen=True)
class TableConfig:
    """One replicated table and everything derived from its declaration."""

    source: str
    schema: str
    name: str
    primary_key: tuple[str, ...]
    mode: str
    target: str
    slot_prefix: str
    pii: tuple[str, ...] = ()
    columns: tuple[str, ...] | None = None
    exclude_columns: tuple[str, ...] = ()
    suite: str | None = None

    @property
    def qualified(self) -> str:
        """``schema.table`` in the source database (the key of ``ops.cdc_tables``)."""
        return f"{self.schema}.{self.name}"

    @property
    def id(self) -> str:
        """Stable id used by the DAG's mapped tasks and the CLI: ``source/schema.table``."""
        return f"{self.source}/{self.qualified}"

    @property
    def slot_name(self) -> str:
        return f"{self.slot_prefix}_{self.target}"

    @property
    def publication_name(self) -> str:
        return self.slot_name

    @property
    def staging_table(self) -> str:
        return self.target

    @property
    def raw_table(self) -> str:
        return f"{self.source}_{self.target}_changes"

    @property
    def work_table(self) -> str:
        """Where an in-progress snapshot is built (schema ``cdc_work``) before it is published to staging."""
        return f"{self.source}_{self.target}"

    @property
    def suite_name(self) -> str:
        return self.suite or f"cdc_{self.source}_{self.target}"

    def keeps(self, column: str) -> bool:
        """Whether a source column is replicated (column filters applied; key columns always are)."""
        if column in self.primary_key:
            return True
        if self.columns is not None:
            return column in self.columns
        return column not in self.exclude_columns


@dataclass(frozen=True)
class SourceConfig:
    name: str
    conn_id: str
    mode: str
    fallback: str
    slot_prefix: str
    batch_rows: int
    snapshot_chunk_rows: int
    max_slot_lag_bytes: int
    on_slot_lost: str
    reconcile_every: int
    drain_timeout_seconds: int
    tables: tuple[TableConfig, ...] = ()


@dataclass(frozen=True)
class CdcConfig:
    path: Path
    warehouse_conn_id: str
    sources: tuple[SourceConfig, ...] = field(default_factory=tuple)

    @property
    def tables(self) -> list[TableConfig]:
        return [t for s in self.sources for t in s.tables]

    def source(self, name: str) -> SourceConfig:
        for s in self.sources:
            if s.name == name:
                return s
        raise ConfigError(f"{self.path}: no source {name!r}; declared: {', '.join(s.name for s in self.sources)}")

    def find(self, ref: str) -> TableConfig:
        """A table by ``source/schema.table``, ``schema.table`` or staging name; ambiguity is an error."""
        matches = [t for t in self.tables if ref in (t.id, t.qualified, t.target)]
        if len(matches) == 1:
            return matches[0]
        known = ", ".join(t.id for t in self.tables) or "none"
        if not matches:
            raise ConfigError(f"no declared CDC table {ref!r} in {self.path}; declared tables: {known}")
        raise ConfigError(f"{ref!r} matches several tables ({', '.join(t.id for t in matches)}); use source/schema.table")


class _Problems:
    def __init__(self, path: Path):
        self.path = path
        self.items: list[str] = []

    def add(self, where: str, message: str) -> None:
        self.items.append(f"{where}: {message}")

    def raise_if_any(self) -> None:
        if self.items:
            lines = "\n".join(f"  - {item}" for item in self.items)
            raise ConfigError(f"{self.path} is invalid:\n{lines}\nsee docs/cdc.md for the format")


def _identifier(value: Any, where: str, problems: _Problems) -> str | None:
    if not isinstance(value, str) or not IDENTIFIER.match(value):
        problems.add(where, f"{value!r} is not a lowercase SQL identifier (letters, digits, underscores)")
        return None
    if len(value) > MAX_IDENTIFIER:
        problems.add(where, f"{value!r} is longer than {MAX_IDENTIFIER} characters")
        return None
    return value


def _identifier_list(value: Any, where: str, problems: _Problems) -> tuple[str, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list):
        problems.add(where, "must be a list of column names")
        return None
    names = [_identifier(v, f"{where}[{i}]", problems) for i, v in enumerate(value)]
    if len(set(value)) != len(value):
        problems.add(where, "lists a column twice")
    return tuple(n for n in names if n)


def _choice(value: Any, allowed: Iterable[str], where: str, problems: _Problems) -> str:
    allowed = tuple(allowed)
    if value not in allowed:
        problems.add(where, f"{value!r} must be one of {', '.join(allowed)}")
    return value


def _unknown_keys(mapping: dict, allowed: set[str], where: str, problems: _Problems) -> None:
    for key in sorted(set(mapping) - allowed):
        problems.add(f"{where}.{key}", f"unknown key; allowed: {', '.join(sorted(allowed))}")


def _settings(raw: dict, base: dict, where: str, problems: _Problems) -> dict:
    merged = dict(base)
    for key in SOURCE_DEFAULTS:
        if key in raw:
            merged[key] = raw[key]
    for key in _INT_KEYS:
        value = merged[key]
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            problems.add(f"{where}.{key}", f"{value!r} must be a positive whole number")
    _choice(merged["mode"], MODES, f"{where}.mode", problems)
    _choice(merged["fallback"], FALLBACKS, f"{where}.fallback", problems)
    _choice(merged["on_slot_lost"], ON_SLOT_LOST, f"{where}.on_slot_lost", problems)
    return merged


def parse_config(data: Any, path: Path) -> CdcConfig:
    """Validate the parsed YAML; raises :class:`ConfigError` listing every problem at once."""
    problems = _Problems(path)
    if not isinstance(data, dict):
        problems.add("(top)", "the file must hold a mapping with 'sources'")
        problems.raise_if_any()
    _unknown_keys(data, {"version", "warehouse_conn_id", "defaults", "sources"}, "(top)", problems)
    if data.get("version", 1) != 1:
        problems.add("version", "only version 1 is understood")
    warehouse_conn_id = data.get("warehouse_conn_id", "onramp_warehouse")
    if not isinstance(warehouse_conn_id, str) or not CONN_ID.match(warehouse_conn_id):
        problems.add("warehouse_conn_id", f"{warehouse_conn_id!r} is not an Airflow connection id")
    defaults_raw = data.get("defaults") or {}
    if not isinstance(defaults_raw, dict):
        problems.add("defaults", "must be a mapping")
        defaults_raw = {}
    _unknown_keys(defaults_raw, set(SOURCE_DEFAULTS), "defaults", problems)
    defaults = _settings(defaults_raw, SOURCE_DEFAULTS, "defaults", problems)

    sources_raw = data.get("sources")
    if not isinstance(sources_raw, dict) or not sources_raw:
        problems.add("sources", "declare at least one source: a mapping of source name to {conn_id, tables}")
        problems.raise_if_any()

    sources: list[SourceConfig] = []
    targets: dict[str, str] = {}
    slots: dict[str, str] = {}
    for source_name, source_raw in sources_raw.items():
        where = f"sources.{source_name}"
        _identifier(source_name, where, problems)
        if not isinstance(source_raw, dict):
            problems.add(where, "must be a mapping with conn_id and tables")
            continue
        _unknown_keys(source_raw, _SOURCE_KEYS, where, problems)
        conn_id = source_raw.get("conn_id")
        if not isinstance(conn_id, str) or not CONN_ID.match(conn_id):
            problems.add(f"{where}.conn_id", f"{conn_id!r}: name the Airflow connection of this source database")
        slot_prefix = source_raw.get("slot_prefix", f"onramp_{source_name}")
        _identifier(slot_prefix, f"{where}.slot_prefix", problems)
        merged = _settings(source_raw, defaults, where, problems)
        tables_raw = source_raw.get("tables")
        if not isinstance(tables_raw, dict) or not tables_raw:
            problems.add(f"{where}.tables", "declare at least one table as schema.table: {primary_key: [...]}")
            tables_raw = {}
        tables = []
        for qualified, table_raw in tables_raw.items():
            twhere = f"{where}.tables.{qualified}"
            parts = str(qualified).split(".")
            if len(parts) != 2:
                problems.add(twhere, "name tables as schema.table")
                continue
            schema = _identifier(parts[0], f"{twhere} (schema)", problems)
            name = _identifier(parts[1], f"{twhere} (table)", problems)
            table_raw = table_raw or {}
            if not isinstance(table_raw, dict):
                problems.add(twhere, "must be a mapping with primary_key")
                continue
            _unknown_keys(table_raw, _TABLE_KEYS, twhere, problems)
            pk = _identifier_list(table_raw.get("primary_key"), f"{twhere}.primary_key", problems)
            if not pk:
                problems.add(f"{twhere}.primary_key", "required: the column(s) that identify a row, e.g. [id]")
            pii = _identifier_list(table_raw.get("pii"), f"{twhere}.pii", problems) or ()
            include = _identifier_list(table_raw.get("columns"), f"{twhere}.columns", problems)
            exclude = _identifier_list(table_raw.get("exclude_columns"), f"{twhere}.exclude_columns", problems) or ()
            if include is not None and exclude:
                problems.add(twhere, "set either columns (keep only these) or exclude_columns, not both")
            for column in set(pk or ()) & set(exclude):
                problems.add(f"{twhere}.exclude_columns", f"{column!r} is part of the primary key and must be replicated")
            mode = _choice(table_raw.get("mode", merged["mode"]), MODES, f"{twhere}.mode", problems)
            suite = table_raw.get("suite")
            if suite is not None and (not isinstance(suite, str) or not IDENTIFIER.match(suite)):
                problems.add(f"{twhere}.suite", f"{suite!r} must name a file expectations/<suite>.json")
            target = _identifier(table_raw.get("target", name), f"{twhere}.target", problems)
            if not (schema and name and pk and target):
                continue
            table = TableConfig(
                source=source_name, schema=schema, name=name, primary_key=pk, mode=mode, target=target,
                slot_prefix=slot_prefix, pii=pii, columns=include, exclude_columns=exclude, suite=suite,
            )
            for derived, label in ((table.slot_name, "slot/publication name"), (table.raw_table, "raw table name"),
                                   (table.work_table, "work table name")):
                if len(derived) > MAX_IDENTIFIER:
                    problems.add(twhere, f"derived {label} {derived!r} exceeds {MAX_IDENTIFIER} characters; set a shorter target")
            if target in targets:
                problems.add(f"{twhere}.target", f"staging.{target} is already the target of {targets[target]}; set target: to another name")
            targets[target] = table.id
            if table.slot_name in slots:
                problems.add(twhere, f"slot {table.slot_name} is already used by {slots[table.slot_name]}")
            slots[table.slot_name] = table.id
            tables.append(table)
        if isinstance(conn_id, str):
            sources.append(SourceConfig(
                name=source_name, conn_id=conn_id, mode=merged["mode"], fallback=merged["fallback"],
                slot_prefix=slot_prefix, batch_rows=merged["batch_rows"],
                snapshot_chunk_rows=merged["snapshot_chunk_rows"], max_slot_lag_bytes=merged["max_slot_lag_bytes"],
                on_slot_lost=merged["on_slot_lost"], reconcile_every=merged["reconcile_every"],
                drain_timeout_seconds=merged["drain_timeout_seconds"], tables=tuple(tables),
            ))
    problems.raise_if_any()
    return CdcConfig(path=path, warehouse_conn_id=warehouse_conn_id, sources=tuple(sources))


def load_config(path: Path | None = None) -> CdcConfig:
    """Read and validate the sources file (safe at DAG parse time: a local file, no connection)."""
    path = Path(path) if path else config_path()
    if not path.is_file():
        raise ConfigError(f"no CDC sources file at {path}; create it (see docs/cdc.md) or set ONRAMP_CDC_CONFIG")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}") from None
    return parse_config(data, path)
