"""Declared CDC sources: ``config/cdc_sources.yaml`` lists source databases and the tables to replicate.

Adding a table is a config change, never new code. Every identifier that will reach SQL (schema,
table, column, slot and publication names) is validated here, so the loader can quote them safely
and a typo fails at parse time with the path of the bad key instead of deep inside a run.

Two passes, one error. Pydantic models (``_File``, ``_Settings``, ``_Source``, ``_Table``) check each
declaration on its own: shape, unknown keys, identifiers, choices, numbers. :func:`parse_config` then
checks what involves several declarations (derived names, two tables with one staging name or slot),
once every declaration is valid on its own. Every problem is listed in one :class:`ConfigError`, each
with its path in the file (``sources.app.tables.app.users.primary_key: ...``) and what to do.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, ClassVar

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

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


# ----------------------------------------------------------------------------- each declaration on its own

def _problem(message: str, where: str = "") -> PydanticCustomError:
    """A validation error in our words; ``where`` qualifies the key's path (`` (schema)``)."""
    return PydanticCustomError("cdc_config", "{message}", {"message": message, "where": where})


def _identifier(value: Any, where: str = "") -> str:
    if not isinstance(value, str) or not IDENTIFIER.match(value):
        raise _problem(f"{value!r} is not a lowercase SQL identifier (letters, digits, underscores)", where)
    if len(value) > MAX_IDENTIFIER:
        raise _problem(f"{value!r} is longer than {MAX_IDENTIFIER} characters", where)
    return value


def _column_list(value: Any) -> Any:
    if value is None:
        return value
    if not isinstance(value, list):
        raise _problem("must be a list of column names")
    if len({repr(v) for v in value}) != len(value):
        raise _problem("lists a column twice")
    return value


def _primary_key(value: Any) -> Any:
    if not value:
        raise _problem("required: the column(s) that identify a row, e.g. [id]")
    return _column_list(value)


def _table_name(value: Any) -> str:
    parts = str(value).split(".")
    if len(parts) != 2:
        raise _problem("name tables as schema.table")
    _identifier(parts[0], " (schema)")
    _identifier(parts[1], " (table)")
    return value


def _rule(ok: Callable[[Any], Any], says: str) -> BeforeValidator:
    """A check in our words; ``says`` is formatted with the offending ``value``."""

    def check(value: Any) -> Any:
        if not ok(value):
            raise _problem(says.format(value=value))
        return value

    return BeforeValidator(check)


def _one_of(*allowed: str) -> BeforeValidator:
    return _rule(lambda v: v in allowed, "{value!r} must be one of " + ", ".join(allowed))


def _is_conn_id(value: Any) -> bool:
    return isinstance(value, str) and bool(CONN_ID.match(value))


def _is_filled_mapping(value: Any) -> bool:
    return isinstance(value, dict) and bool(value)


Identifier = Annotated[str, BeforeValidator(_identifier)]
Columns = Annotated[list[Identifier] | None, BeforeValidator(_column_list)]
Positive = Annotated[int | None, _rule(lambda v: type(v) is int and v > 0, "{value!r} must be a positive whole number")]
Mode = Annotated[str | None, _one_of(*MODES)]
REQUIRED = Field(None, validate_default=True)  # absent: the field's validator says what to declare


class _Declaration(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    not_a_mapping: ClassVar[str] = "must be a mapping"
    empty_when_null: ClassVar[bool] = True  # `key:` with nothing after it declares an empty mapping

    @model_validator(mode="before")
    @classmethod
    def _mapping(cls, data: Any) -> Any:
        data = {} if data is None and cls.empty_when_null else data
        if not isinstance(data, dict):
            raise _problem(cls.not_a_mapping)
        return data


class _Table(_Declaration):
    not_a_mapping: ClassVar[str] = "must be a mapping with primary_key"
    primary_key: Annotated[list[Identifier], BeforeValidator(_primary_key)] = REQUIRED
    pii: Columns = None
    columns: Columns = None
    exclude_columns: Columns = None
    mode: Mode = None
    suite: Annotated[str | None, _rule(lambda v: v is None or (isinstance(v, str) and IDENTIFIER.match(v)),
                                       "{value!r} must name a file expectations/<suite>.json")] = None
    target: Identifier | None = None

    @field_validator("exclude_columns")
    @classmethod
    def _one_filter(cls, exclude: list[str] | None, info: ValidationInfo) -> list[str] | None:
        """Checked with the keys declared above it (``info.data``: those that are valid)."""
        problems = []
        if info.data.get("columns") is not None and exclude:
            problems.append("set either columns (keep only these) or exclude_columns, not both")
        problems += [f"{c!r} is part of the primary key and must be replicated"
                     for c in info.data.get("primary_key") or () if c in (exclude or ())]
        if problems:
            raise _problem("; ".join(problems))
        return exclude


class _Settings(_Declaration):
    """The tunables a source takes from ``defaults`` unless it sets them itself."""

    mode: Mode = None
    fallback: Annotated[str | None, _one_of(*FALLBACKS)] = None
    batch_rows: Positive = None
    snapshot_chunk_rows: Positive = None
    max_slot_lag_bytes: Positive = None
    on_slot_lost: Annotated[str | None, _one_of(*ON_SLOT_LOST)] = None
    reconcile_every: Positive = None
    drain_timeout_seconds: Positive = None

    def over(self, base: dict[str, Any]) -> dict[str, Any]:
        """``base`` with the settings this declaration sets."""
        mine = self.model_dump(include=set(SOURCE_DEFAULTS), exclude_none=True)
        return {**base, **mine}


class _Source(_Settings):
    not_a_mapping: ClassVar[str] = "must be a mapping with conn_id and tables"
    conn_id: Annotated[str, _rule(_is_conn_id, "{value!r}: name the Airflow connection of this source database")] = REQUIRED
    slot_prefix: Identifier | None = None
    tables: Annotated[dict[Annotated[str, BeforeValidator(_table_name)], _Table],
                      _rule(_is_filled_mapping, "declare at least one table as schema.table: {{primary_key: [...]}}")] = REQUIRED


class _File(_Declaration):
    not_a_mapping: ClassVar[str] = "the file must hold a mapping with 'sources'"
    empty_when_null: ClassVar[bool] = False
    version: Annotated[int, _rule(lambda v: v == 1, "only version 1 is understood")] = 1
    warehouse_conn_id: Annotated[str, _rule(_is_conn_id, "{value!r} is not an Airflow connection id")] = "onramp_warehouse"
    defaults: _Settings = _Settings()
    sources: Annotated[dict[Identifier, _Source],
                       _rule(_is_filled_mapping,
                             "declare at least one source: a mapping of source name to {{conn_id, tables}}")] = REQUIRED


_DECLARATION_AT_DEPTH = {0: _File, 1: _Settings, 2: _Source, 4: _Table}  # () defaults sources.<s> sources.<s>.tables.<t>


def _path(loc: tuple) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part != "[key]":
            path += f".{part}" if path else str(part)
    return path or "(top)"


def _explain(error: dict) -> str:
    """One pydantic error as ``path: what is wrong and what to do``."""
    loc, kind, ctx = error["loc"], error["type"], error.get("ctx") or {}
    where = _path(loc) + ctx.get("where", "")
    if kind == "extra_forbidden":
        allowed = sorted(_DECLARATION_AT_DEPTH[len(loc) - 1].model_fields)
        return f"{where if len(loc) > 1 else '(top).' + where}: unknown key; allowed: {', '.join(allowed)}"
    if kind in ("model_type", "dict_type"):
        return f"{where}: must be a mapping"
    return f"{where}: {ctx.get('message', error['msg'])}"


# ----------------------------------------------------------------------------- declarations together

def _tables(name: str, source: _Source, mode: str, slot_prefix: str) -> list[tuple[str, TableConfig]]:
    """(path in the file, table) for each table of a validated source."""
    tables = []
    for qualified, t in source.tables.items():
        schema, table = qualified.split(".")
        tables.append((f"sources.{name}.tables.{qualified}", TableConfig(
            source=name, schema=schema, name=table, primary_key=tuple(t.primary_key), mode=t.mode or mode,
            target=t.target or table, slot_prefix=slot_prefix, pii=tuple(t.pii or ()),
            columns=tuple(t.columns) if t.columns is not None else None,
            exclude_columns=tuple(t.exclude_columns or ()), suite=t.suite,
        )))
    return tables


def _collisions(tables: list[tuple[str, TableConfig]]) -> list[str]:
    """Names two declarations would share, and derived names PostgreSQL would truncate."""
    problems, targets, slots = [], {}, {}
    for where, table in tables:
        for derived, label in ((table.slot_name, "slot/publication name"), (table.raw_table, "raw table name"),
                               (table.work_table, "work table name")):
            if len(derived) > MAX_IDENTIFIER:
                problems.append(f"{where}: derived {label} {derived!r} exceeds {MAX_IDENTIFIER} characters; "
                                "set a shorter target")
        if table.target in targets:
            problems.append(f"{where}.target: staging.{table.target} is already the target of {targets[table.target]}; "
                            "set target: to another name")
        targets.setdefault(table.target, table.id)
        if table.slot_name in slots:
            problems.append(f"{where}: slot {table.slot_name} is already used by {slots[table.slot_name]}")
        slots.setdefault(table.slot_name, table.id)
    return problems


def _invalid(path: Path, problems: list[str]) -> ConfigError:
    lines = "\n".join(f"  - {item}" for item in problems)
    return ConfigError(f"{path} is invalid:\n{lines}\nsee docs/cdc.md for the format")


def parse_config(data: Any, path: Path) -> CdcConfig:
    """Validate the parsed YAML; raises :class:`ConfigError` listing every problem at once."""
    try:
        declared = _File.model_validate(data)
    except ValidationError as exc:
        raise _invalid(path, [_explain(e) for e in exc.errors()]) from None
    defaults = declared.defaults.over(SOURCE_DEFAULTS)
    sources, every_table = [], []
    for name, source in declared.sources.items():
        merged = source.over(defaults)
        slot_prefix = source.slot_prefix or f"onramp_{name}"
        tables = _tables(name, source, merged["mode"], slot_prefix)
        every_table += tables
        sources.append(SourceConfig(name=name, conn_id=source.conn_id, slot_prefix=slot_prefix,
                                    tables=tuple(t for _, t in tables), **merged))
    problems = _collisions(every_table)
    if problems:
        raise _invalid(path, problems)
    return CdcConfig(path=path, warehouse_conn_id=declared.warehouse_conn_id, sources=tuple(sources))


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
