"""Decoder of PostgreSQL's ``pgoutput`` logical replication protocol, version 1 (pure functions, no I/O).

Reference: "Logical Replication Message Formats" in the PostgreSQL manual. A transaction arrives
whole, after its commit: Begin, Relation (when the table's shape is new to the session), then
Insert / Update / Delete / Truncate, then Commit. Column values come as text (the type's output
function), ``None`` for NULL, or :data:`UNCHANGED` for a TOASTed value the update did not touch.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

PG_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
PG_EPOCH_UNIX_US = int(PG_EPOCH.timestamp()) * 1_000_000


class _Unchanged:
    """A TOASTed column an UPDATE left as it was: keep the current value."""

    def __repr__(self) -> str:
        return "UNCHANGED"


UNCHANGED = _Unchanged()


class ProtocolError(ValueError):
    """A message that is not valid pgoutput (version 1)."""


@dataclass(frozen=True)
class RelationColumn:
    name: str
    type_oid: int
    typmod: int
    is_key: bool


@dataclass(frozen=True)
class Begin:
    final_lsn: int  # LSN of the commit record
    commit_time_us: int  # microseconds since 2000-01-01 UTC
    xid: int


@dataclass(frozen=True)
class Commit:
    flags: int
    commit_lsn: int
    end_lsn: int  # end of the commit record: confirm this and the transaction is never sent again
    commit_time_us: int


@dataclass(frozen=True)
class Relation:
    relid: int
    namespace: str
    name: str
    replica_identity: str
    columns: tuple[RelationColumn, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class Insert:
    relid: int
    new: list


@dataclass(frozen=True)
class Update:
    relid: int
    new: list
    old: list | None = None  # present when the key changed (K) or with REPLICA IDENTITY FULL (O)
    old_kind: str | None = None


@dataclass(frozen=True)
class Delete:
    relid: int
    old: list
    old_kind: str


@dataclass(frozen=True)
class Truncate:
    relids: tuple[int, ...]
    options: int


@dataclass(frozen=True)
class Other:
    """Origin, Type and logical Message messages: not needed to rebuild a table."""

    kind: str


_I16 = struct.Struct("!h")
_I32 = struct.Struct("!i")
_U32 = struct.Struct("!I")
_BEGIN = struct.Struct("!QqI")
_COMMIT = struct.Struct("!BQQq")


def pg_time_to_unix_us(commit_time_us: int) -> int:
    return commit_time_us + PG_EPOCH_UNIX_US


def pg_time(commit_time_us: int) -> datetime:
    return PG_EPOCH + timedelta(microseconds=commit_time_us)


def _cstring(buf: bytes, pos: int) -> tuple[str, int]:
    end = buf.index(0, pos)
    return buf[pos:end].decode("utf-8"), end + 1


def _tuple(buf: bytes, pos: int) -> tuple[list, int]:
    (count,) = _I16.unpack_from(buf, pos)
    pos += 2
    values: list = []
    append = values.append
    for _ in range(count):
        kind = buf[pos]
        pos += 1
        if kind == 0x74:  # 't' text
            (length,) = _I32.unpack_from(buf, pos)
            pos += 4
            append(buf[pos:pos + length].decode("utf-8"))
            pos += length
        elif kind == 0x6E:  # 'n' null
            append(None)
        elif kind == 0x75:  # 'u' unchanged TOAST
            append(UNCHANGED)
        elif kind == 0x62:  # 'b' binary (only with the binary option, which Onramp does not request)
            (length,) = _I32.unpack_from(buf, pos)
            pos += 4
            append(bytes(buf[pos:pos + length]))
            pos += length
        else:
            raise ProtocolError(f"unknown tuple column kind {kind!r} at byte {pos - 1}")
    return values, pos


def _begin(buf: bytes) -> Begin:
    final_lsn, commit_time, xid = _BEGIN.unpack_from(buf, 1)
    return Begin(final_lsn, commit_time, xid)


def _commit(buf: bytes) -> Commit:
    flags, commit_lsn, end_lsn, commit_time = _COMMIT.unpack_from(buf, 1)
    return Commit(flags, commit_lsn, end_lsn, commit_time)


def _insert(buf: bytes) -> Insert:
    (relid,) = _U32.unpack_from(buf, 1)
    if buf[5] != 0x4E:
        raise ProtocolError("insert without a new tuple")
    new, _ = _tuple(buf, 6)
    return Insert(relid, new)


def _update(buf: bytes) -> Update:
    (relid,) = _U32.unpack_from(buf, 1)
    pos = 5
    old = old_kind = None
    if buf[pos] in (0x4B, 0x4F):  # 'K' old key, 'O' old full row
        old_kind = chr(buf[pos])
        old, pos = _tuple(buf, pos + 1)
    if buf[pos] != 0x4E:
        raise ProtocolError("update without a new tuple")
    new, _ = _tuple(buf, pos + 1)
    return Update(relid, new, old, old_kind)


def _delete(buf: bytes) -> Delete:
    (relid,) = _U32.unpack_from(buf, 1)
    old_kind = chr(buf[5])
    if old_kind not in ("K", "O"):
        raise ProtocolError("delete without an old key or row")
    old, _ = _tuple(buf, 6)
    return Delete(relid, old, old_kind)


def _relation(buf: bytes) -> Relation:
    (relid,) = _U32.unpack_from(buf, 1)
    namespace, pos = _cstring(buf, 5)
    name, pos = _cstring(buf, pos)
    replica_identity = chr(buf[pos])
    (count,) = _I16.unpack_from(buf, pos + 1)
    pos += 3
    columns = []
    for _ in range(count):
        flags = buf[pos]
        column, pos = _cstring(buf, pos + 1)
        type_oid, typmod = struct.unpack_from("!Ii", buf, pos)
        pos += 8
        columns.append(RelationColumn(column, type_oid, typmod, bool(flags & 1)))
    return Relation(relid, namespace, name, replica_identity, tuple(columns))


def _truncate(buf: bytes) -> Truncate:
    (count,) = _U32.unpack_from(buf, 1)
    options = buf[5]
    relids = struct.unpack_from(f"!{count}I", buf, 6)
    return Truncate(tuple(relids), options)


def _other(buf: bytes) -> Other:
    return Other(chr(buf[0]))


# The first byte of a message says what it is.
_DECODERS = {ord(k): f for k, f in (("B", _begin), ("C", _commit), ("I", _insert), ("U", _update), ("D", _delete),
                                    ("R", _relation), ("T", _truncate), ("O", _other), ("Y", _other), ("M", _other))}


def decode(payload: bytes | memoryview):
    """One pgoutput message → Begin | Commit | Relation | Insert | Update | Delete | Truncate | Other."""
    buf = bytes(payload)
    if not buf:
        raise ProtocolError("empty message")
    decoder = _DECODERS.get(buf[0])
    if decoder is None:
        raise ProtocolError(f"unknown pgoutput message type {chr(buf[0])!r}")
    return decoder(buf)


# ----------------------------------------------------------------------------- encoders (tests, tools)

def _enc_tuple(values: list) -> bytes:
    out = [_I16.pack(len(values))]
    for value in values:
        if value is None:
            out.append(b"n")
        elif value is UNCHANGED:
            out.append(b"u")
        else:
            data = value.encode("utf-8")
            out.append(b"t" + _I32.pack(len(data)) + data)
    return b"".join(out)


def encode(message) -> bytes:
    """Inverse of :func:`decode`, for tests that need protocol bytes without a server."""
    if isinstance(message, Begin):
        return b"B" + _BEGIN.pack(message.final_lsn, message.commit_time_us, message.xid)
    if isinstance(message, Commit):
        return b"C" + _COMMIT.pack(message.flags, message.commit_lsn, message.end_lsn, message.commit_time_us)
    if isinstance(message, Insert):
        return b"I" + _U32.pack(message.relid) + b"N" + _enc_tuple(message.new)
    if isinstance(message, Update):
        old = b"" if message.old is None else message.old_kind.encode() + _enc_tuple(message.old)
        return b"U" + _U32.pack(message.relid) + old + b"N" + _enc_tuple(message.new)
    if isinstance(message, Delete):
        return b"D" + _U32.pack(message.relid) + message.old_kind.encode() + _enc_tuple(message.old)
    if isinstance(message, Relation):
        out = [b"R", _U32.pack(message.relid), message.namespace.encode() + b"\0", message.name.encode() + b"\0",
               message.replica_identity.encode(), _I16.pack(len(message.columns))]
        for c in message.columns:
            out.append(bytes([1 if c.is_key else 0]) + c.name.encode() + b"\0" + struct.pack("!Ii", c.type_oid, c.typmod))
        return b"".join(out)
    if isinstance(message, Truncate):
        return b"T" + _U32.pack(len(message.relids)) + bytes([message.options]) + struct.pack(f"!{len(message.relids)}I", *message.relids)
    raise TypeError(f"cannot encode {message!r}")


def lsn_to_int(lsn: str) -> int:
    """'16/B374D848' → integer."""
    high, _, low = lsn.partition("/")
    return (int(high, 16) << 32) | int(low, 16)


def lsn_to_str(value: int) -> str:
    return f"{value >> 32:X}/{value & 0xFFFFFFFF:X}"
