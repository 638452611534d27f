"""PostgreSQL column types → warehouse DDL types and Arrow/Parquet types, and text → Arrow conversion.

One mapping serves every path, so a column has the same Parquet type whether it came from the
snapshot (ADBC) or from the change stream (pgoutput text values): readers of the lake see one schema.

* Built-in types keep their PostgreSQL type in the warehouse; user-defined ones (enums, composites,
  extension types) become ``text`` there, as they would not exist in the warehouse database.
* Types Arrow has no faithful equivalent for (``inet``, ``interval``, arrays, ``uuid``...) travel as their
  PostgreSQL text form (a ``string`` in Parquet) and are cast back on load.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import pyarrow as pa
import pyarrow.compute as pc

from onramp.cdc.errors import SourceError

BOOL, INT2, INT4, INT8, OID = 16, 21, 23, 20, 26
FLOAT4, FLOAT8, NUMERIC = 700, 701, 1700
TEXT, VARCHAR, BPCHAR, NAME, CHAR = 25, 1043, 1042, 19, 18
DATE, TIMESTAMP, TIMESTAMPTZ = 1082, 1114, 1184
BYTEA, JSON, JSONB = 17, 114, 3802

_SIMPLE_ARROW: dict[int, pa.DataType] = {
    BOOL: pa.bool_(), INT2: pa.int16(), INT4: pa.int32(), INT8: pa.int64(), OID: pa.int64(),
    FLOAT4: pa.float32(), FLOAT8: pa.float64(),
    TEXT: pa.string(), VARCHAR: pa.string(), BPCHAR: pa.string(), NAME: pa.string(), CHAR: pa.string(),
    DATE: pa.date32(), TIMESTAMP: pa.timestamp("us"), TIMESTAMPTZ: pa.timestamp("us", tz="UTC"),
    BYTEA: pa.binary(),
}
JSON_TYPE = pa.json_()
# Types whose Arrow form ADBC writes in exactly the binary COPY format of the same PostgreSQL type.
_DIRECT_LOAD = {BOOL, INT2, INT4, INT8, FLOAT4, FLOAT8, NUMERIC, TEXT, VARCHAR, BPCHAR, DATE, TIMESTAMP,
                TIMESTAMPTZ, BYTEA, JSON, JSONB}
# Types ADBC reads from PostgreSQL straight into the Arrow type chosen here (others are read as ::text).
_NATIVE_READ = {BOOL, INT2, INT4, INT8, FLOAT4, FLOAT8, TEXT, VARCHAR, BPCHAR, DATE, TIMESTAMP, TIMESTAMPTZ,
                BYTEA, JSON, JSONB}

# Safe widenings of a source column: the warehouse column can be ALTERed in place, no value changes.
_WIDER_INTS = {INT2: {INT4, INT8, NUMERIC}, INT4: {INT8, NUMERIC}, INT8: {NUMERIC}, FLOAT4: {FLOAT8}}


def numeric_precision_scale(typmod: int) -> tuple[int, int] | None:
    if typmod < 4:
        return None
    value = typmod - 4
    return (value >> 16) & 0xFFFF, value & 0xFFFF


def varchar_length(typmod: int) -> int | None:
    return typmod - 4 if typmod >= 4 else None


@dataclass(frozen=True)
class Column:
    """A replicated column: its source type, its warehouse type and how it travels through Arrow."""

    name: str
    type_oid: int  # resolved: a domain's base type; user-defined types keep their own oid
    typmod: int
    source_type: str  # format_type() in the source, for messages and drift records
    warehouse_type: str  # DDL type of the staging / raw column
    builtin: bool  # False: a user-defined type carried as text
    is_key: bool = False

    @property
    def arrow_type(self) -> pa.DataType:
        if not self.builtin:
            return pa.string()
        if self.type_oid in _SIMPLE_ARROW:
            return _SIMPLE_ARROW[self.type_oid]
        if self.type_oid in (JSON, JSONB):
            return JSON_TYPE
        if self.type_oid == NUMERIC:
            ps = numeric_precision_scale(self.typmod)
            if ps and 0 < ps[0] <= 38 and 0 <= ps[1] <= ps[0]:
                return pa.decimal128(*ps)
        return pa.string()

    @property
    def loads_directly(self) -> bool:
        """True when ADBC can COPY the Arrow column into the warehouse type without a text cast."""
        if not self.builtin or self.type_oid not in _DIRECT_LOAD:
            return False
        return not (self.type_oid == NUMERIC and pa.types.is_string(self.arrow_type))

    @property
    def reads_natively(self) -> bool:
        """True when ADBC reads the column straight into its Arrow type (others are read as ``::text``)."""
        return self.builtin and self.type_oid in _NATIVE_READ

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Column:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


def compare_types(old: Column, new: Column) -> str:
    """'same', 'widened' (warehouse can ALTER in place) or 'incompatible'."""
    if (old.type_oid, old.typmod, old.builtin) == (new.type_oid, new.typmod, new.builtin):
        return "same"
    if not (old.builtin and new.builtin):
        # user-defined types travel as text; a change between two of them is still text
        return "same" if not (old.builtin or new.builtin) else "incompatible"
    if new.type_oid in _WIDER_INTS.get(old.type_oid, set()):
        if new.type_oid == NUMERIC and new.typmod >= 4:
            precision, scale = numeric_precision_scale(new.typmod)
            digits = {INT2: 5, INT4: 10, INT8: 19}.get(old.type_oid, 0)
            return "widened" if precision - scale >= digits else "incompatible"
        return "widened"
    if old.type_oid == new.type_oid == VARCHAR:
        old_len, new_len = varchar_length(old.typmod), varchar_length(new.typmod)
        return "widened" if new_len is None or (old_len is not None and new_len >= old_len) else "incompatible"
    if old.type_oid == VARCHAR and new.type_oid == TEXT:
        return "widened"
    if old.type_oid == new.type_oid == NUMERIC:
        old_ps, new_ps = numeric_precision_scale(old.typmod), numeric_precision_scale(new.typmod)
        if new_ps is None:
            return "widened"
        if old_ps is None:
            return "incompatible"
        return "widened" if new_ps[1] >= old_ps[1] and new_ps[0] - new_ps[1] >= old_ps[0] - old_ps[1] else "incompatible"
    return "incompatible"


# ----------------------------------------------------------------------------- Arrow conversion

def text_to_arrow(values: list, column: Column) -> pa.Array:
    """Convert pgoutput text values (None for NULL) into the column's Arrow type."""
    target = column.arrow_type
    if pa.types.is_string(target):
        return pa.array(values, pa.string())
    if target == JSON_TYPE:
        return pa.ExtensionArray.from_storage(JSON_TYPE, pa.array(values, pa.string()))
    if pa.types.is_boolean(target):
        return pa.array([None if v is None else v == "t" for v in values], pa.bool_())
    if pa.types.is_binary(target):
        return pa.array([None if v is None else bytes.fromhex(v[2:]) for v in values], pa.binary())
    strings = pa.array(values, pa.string())
    try:
        return strings.cast(target)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        bad = _first_unparsable(values, target)
        raise SourceError(
            f"column {column.name!r} ({column.source_type}) holds {bad!r}, which Parquet type {target} cannot "
            f"represent ({exc}); exclude the column (exclude_columns) or change its values in the source"
        ) from None


def _first_unparsable(values: list, target: pa.DataType) -> str | None:
    for value in values:
        if value is None:
            continue
        try:
            pa.array([value], pa.string()).cast(target)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return value
    return None


def conform(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    """Give a batch exactly ``schema``: cast columns, wrap JSON, add missing columns as nulls, drop metadata."""
    arrays = []
    for target in schema:
        index = batch.schema.get_field_index(target.name)
        if index < 0:
            arrays.append(pa.nulls(batch.num_rows, target.type))
            continue
        array = batch.column(index)
        if array.type == target.type:
            arrays.append(array)
        elif target.type == JSON_TYPE:
            storage = array.storage if isinstance(array, pa.ExtensionArray) else array
            arrays.append(pa.ExtensionArray.from_storage(JSON_TYPE, storage.cast(pa.string())))
        else:
            source = array.storage if isinstance(array, pa.ExtensionArray) else array
            try:
                arrays.append(pc.cast(source, target.type))
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                raise SourceError(
                    f"column {target.name!r}: values of type {array.type} cannot become Parquet type {target.type} "
                    f"({exc}); exclude the column (exclude_columns) or fix its values in the source"
                ) from None
    return pa.RecordBatch.from_arrays(arrays, schema=schema)
