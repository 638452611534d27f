"""The pgoutput decoder against hand-built protocol messages (the integration tests use a real server)."""

from __future__ import annotations

import pytest

from onramp.cdc import pgoutput as p


def roundtrip(message):
    return p.decode(p.encode(message))


def test_messages_round_trip():
    relation = p.Relation(16401, "app", "users", "d", (p.RelationColumn("id", 20, -1, True), p.RelationColumn("bio", 25, -1, False)))
    for message in (
        p.Begin(0x16B374D848, 786_000_000_000, 731),
        p.Commit(0, 0x16B374D848, 0x16B374D880, 786_000_000_000),
        relation,
        p.Insert(16401, ["1", "héllo"]),
        p.Update(16401, ["2", p.UNCHANGED]),
        p.Update(16401, ["3", None], old=["2", None], old_kind="K"),
        p.Delete(16401, ["3", None], "K"),
        p.Truncate((16401, 16402), 1),
    ):
        assert roundtrip(message) == message


def test_values_keep_null_unchanged_and_empty_apart():
    decoded = roundtrip(p.Insert(1, [None, p.UNCHANGED, "", "0"]))
    assert decoded.new == [None, p.UNCHANGED, "", "0"]


def test_unknown_message_is_an_error():
    with pytest.raises(p.ProtocolError, match="unknown pgoutput message type 'Z'"):
        p.decode(b"Z")
    assert p.decode(b"O" + b"\0" * 9 + b"origin\0").kind == "O"


def test_lsn_text_form():
    assert p.lsn_to_int("16/B374D848") == 0x16B374D848
    assert p.lsn_to_str(0x16B374D848) == "16/B374D848"
    assert p.lsn_to_str(p.lsn_to_int("0/0")) == "0/0"


def test_commit_time_is_microseconds_since_2000():
    assert p.pg_time(0).isoformat() == "2000-01-01T00:00:00+00:00"
    assert p.pg_time_to_unix_us(0) == 946_684_800_000_000
