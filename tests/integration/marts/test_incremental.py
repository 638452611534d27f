"""fct_onboarding_events follows the load batches: an incremental run merges only the events of new batches and
the persons they touch (re-stitching an anonymous id linked since), picks up a batch that became visible late
within the lookback, and a run with nothing new changes nothing."""

from __future__ import annotations

import hashlib

import pytest

from .conftest import BASE_BUILT_AT

pytestmark = pytest.mark.integration

FIRST, SECOND, THIRD = "2026-11-12T10:00:00+00:00", "2026-11-12T11:00:00+00:00", "2026-11-12T12:00:00+00:00"
SELECT = ["build", "--select", "+fct_onboarding_events", "int_events_sessionized"]


def _events(warehouse) -> dict[str, dict]:
    return {r["message_id"]: r for r in warehouse.rows("select * from marts_build.fct_onboarding_events")}


def _without_built_at(rows: dict[str, dict]) -> dict[str, dict]:
    return {key: {k: v for k, v in row.items() if k != "built_at"} for key, row in rows.items()}


def _session_id(person: str, started_at: str) -> str:
    return hashlib.md5(f"{person}|{started_at}".encode()).hexdigest()


def test_incremental_run_adds_new_events_and_restitches_old_ones(warehouse_copy):
    before = _events(warehouse_copy)
    # batch b2: a late identify links anon-a2 (two page views on 11-09) to user 102, who then views a page
    warehouse_copy.load_batch("b2", "2026-11-12 09:00+00", [
        ("e26", "identify", "identify", None, "102", "anon-a2", "2026-11-11 10:00", {}),
        ("e27", "page", "page", "Billing", "102", None, "2026-11-11 10:01", {"path": "/billing"}),
    ])
    run = warehouse_copy.build(SELECT, built_at=FIRST)
    assert {n.name: n.status for n in run.nodes}["assert_incremental_events_match_full_build"] == "pass"

    after = _events(warehouse_copy)
    assert set(after) == set(before) | {"e26", "e27"}
    # re-stitched: anon-a2's old rows now belong to 102, and its first view opens 102's session of 11-09
    assert [(after[m]["person_id"], after[m]["user_id"]) for m in ("e12", "e13")] == [("102", 102)] * 2
    first_session = _session_id("102", "2026-11-09T08:50:00.000000")
    assert {after[m]["session_id"] for m in ("e12", "e13", "e14", "e15")} == {first_session}
    assert before["e14"]["session_id"] != first_session
    # only the touched persons were merged: 102 (b2) and 103 (b1, inside the 60-minute lookback of the newest batch)
    rewritten = {m for m, row in after.items() if row["built_at"].isoformat() == FIRST}
    assert rewritten == {m for m, row in after.items() if row["person_id"] in ("102", "103")}
    untouched = {m for m in before if after[m]["person_id"] not in ("102", "103")}
    assert untouched and all(after[m]["built_at"].isoformat() == BASE_BUILT_AT for m in untouched)
    assert _without_built_at({m: after[m] for m in untouched}) == _without_built_at({m: before[m] for m in untouched})
    unique = warehouse_copy.rows("select count(*) as n, count(distinct message_id) as d from marts_build.fct_onboarding_events")
    assert unique[0]["n"] == unique[0]["d"] == len(before) + 2

    # batch b3 committed before b2 but became visible only now: inside the lookback, so the next run reads it.
    # It carries an identify sent offline on 11-01: anon-a5's earliest link is now 103, so 101 loses the page
    # view that held its session of 11-04 together, and 101's event of 08:45 opens a session of its own.
    warehouse_copy.load_batch("b3", "2026-11-12 08:40+00", [
        ("e28", "page", "page", "Docs", None, "anon-a6", "2026-11-12 08:30", {"path": "/docs"}),
        ("e29", "identify", "identify", None, "103", "anon-a5", "2026-11-01 12:00", {}),
    ])
    warehouse_copy.build(SELECT, built_at=SECOND)
    second = _events(warehouse_copy)
    assert set(second) == set(after) | {"e28", "e29"}
    assert second["e28"]["person_id"] == "anon-a6"
    assert second["e08"]["person_id"] == "103"
    assert after["e08b"]["session_id"] == after["e07"]["session_id"]
    assert (second["e08b"]["session_id"], second["e08b"]["is_session_start"]) == \
           (_session_id("101", "2026-11-04T08:45:00.000000"), True)

    # nothing new: the run re-reads the batches of the last hour and merges the same values
    warehouse_copy.build(SELECT, built_at=THIRD)
    third = _events(warehouse_copy)
    assert _without_built_at(third) == _without_built_at(second)
