"""The marts' write-audit-publish against a real PostgreSQL: the gate reads candidates in ``*_build``, the
publish makes them what analysts read, atomically, and a failed gate publishes nothing."""

from __future__ import annotations

import json

import psycopg
import pytest

from onramp.marts.gate import gate
from onramp.marts.manifest import PublishedModel
from onramp.marts.publish import PublishError, publish
from onramp.migrations import migrate
from onramp.quality import GateFailed

DIM = PublishedModel("dim_people", "marts_build", "marts", ("person_id",), incremental=False)
FACT = PublishedModel("fct_visits", "marts_build", "marts", ("visit_id",), incremental=True)
FEATURES = PublishedModel("person_features", "features_build", "features", ("as_of_date", "person_id"), incremental=True)


@pytest.fixture
def warehouse(make_database) -> str:
    url = make_database("marts")
    migrate(url, "warehouse")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("create table marts_build.dim_people (person_id bigint, country text, built_at timestamptz)")
        conn.execute("create table marts_build.fct_visits (visit_id text, person_id bigint, seconds int,"
                     " built_at timestamptz)")
        conn.execute("create table features_build.person_features (as_of_date date, person_id bigint, visits int,"
                     " built_at timestamptz)")
    return url


@pytest.fixture
def suites(tmp_path):
    def write(name: str, expectations: list[dict], **extra) -> None:
        (tmp_path / f"{name}.json").write_text(json.dumps({"name": name, "expectations": expectations, **extra}))

    write("marts_dim_people", [
        {"type": "expect_column_values_to_be_unique", "kwargs": {"column": "person_id"}},
        {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "country"}},
    ], volume={"min_ratio": 0.5, "max_ratio": 3})
    write("marts_fct_visits", [
        {"type": "expect_column_values_to_be_between", "kwargs": {"column": "seconds", "min_value": 0}},
    ])
    write("features_person_features", [
        {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "visits"}},
    ], drift={"max_mean_shift_std": 1.0})
    return tmp_path


def _build(url: str, people: int, visits: list[tuple[str, int, int]], features: list[tuple[str, int, int]]) -> None:
    """What a dbt build leaves in the candidate tables: dim rebuilt whole, facts and features merged in place."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("truncate marts_build.dim_people")
        conn.execute("insert into marts_build.dim_people select g, 'DE', clock_timestamp() from generate_series(1, %s) g",
                     (people,))
        for visit_id, person, seconds in visits:
            conn.execute("delete from marts_build.fct_visits where visit_id = %s", (visit_id,))
            conn.execute("insert into marts_build.fct_visits values (%s, %s, %s, clock_timestamp())",
                         (visit_id, person, seconds))
        for day, person, count in features:
            conn.execute("delete from features_build.person_features where as_of_date = %s and person_id = %s",
                         (day, person))
            conn.execute("insert into features_build.person_features values (%s, %s, %s, clock_timestamp())",
                         (day, person, count))


def _published(url: str, table: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(f"select * from {table} order by 1, 2").fetchall()  # noqa: S608 - test's own names


def test_a_passing_build_is_published_whole_and_incremental_models_by_delta(warehouse, suites):
    models = [DIM, FACT, FEATURES]
    _build(warehouse, 10, [("a", 1, 5), ("b", 2, 7)], [("2026-10-01", 1, 3), ("2026-10-01", 2, 4)])
    gate(warehouse, models, "run-1", suites)
    first = {p.model: p for p in publish(warehouse, "run-1", models)}
    assert first["marts.dim_people"].rows_total == 10 and first["marts.fct_visits"].rows_published == 2

    _build(warehouse, 12, [("b", 2, 9), ("c", 3, 1)], [("2026-10-02", 1, 3), ("2026-10-02", 2, 5)])
    gate(warehouse, models, "run-2", suites)
    second = {p.model: p for p in publish(warehouse, "run-2", models)}
    assert second["marts.dim_people"].mode == "replace" and second["marts.dim_people"].rows_total == 12
    assert second["marts.fct_visits"].mode == "merge" and second["marts.fct_visits"].rows_published == 2
    assert [(r[0], r[2]) for r in _published(warehouse, "marts.fct_visits")] == [("a", 5), ("b", 9), ("c", 1)]
    assert len(_published(warehouse, "features.person_features")) == 4
    # nothing new: publishing again merges nothing and replaces the dim with the same rows
    third = {p.model: p for p in publish(warehouse, "run-3", models)}
    assert third["marts.fct_visits"].rows_published == 0 and third["marts.dim_people"].rows_total == 12
    with psycopg.connect(warehouse) as conn:
        recorded = conn.execute("select count(*) from ops.mart_publications").fetchone()[0]
        results = conn.execute("select count(*), bool_and(success) from ops.quality_results where stage = 'marts'").fetchone()
    assert recorded == 9 and results == (6, True)


def test_a_failed_gate_names_what_failed_and_publishes_nothing(warehouse, suites):
    models = [DIM, FACT]
    _build(warehouse, 10, [("a", 1, 5)], [])
    gate(warehouse, models, "run-1", suites)
    publish(warehouse, "run-1", models)
    before = _published(warehouse, "marts.dim_people")

    with psycopg.connect(warehouse, autocommit=True) as conn:  # a duplicated key, as a broken join would make
        conn.execute("insert into marts_build.dim_people values (3, 'FR', clock_timestamp())")
    with pytest.raises(GateFailed) as failed:
        gate(warehouse, models, "run-2", suites)
    message = str(failed.value)
    assert "marts_dim_people" in message and "expect_column_values_to_be_unique" in message
    assert "nothing was published" in message
    assert _published(warehouse, "marts.dim_people") == before
    with psycopg.connect(warehouse) as conn:
        row = conn.execute("select success, failures from ops.quality_results where suite = 'marts_dim_people'"
                           " and batch_id = 'run-2'").fetchone()
    assert row[0] is False and "unique" in row[1][0]


def test_volume_and_drift_are_measured_against_what_is_published(warehouse, suites):
    _build(warehouse, 100, [], [("2026-10-01", p, 10 + p % 3) for p in range(1, 51)])
    gate(warehouse, [DIM, FEATURES], "run-1", suites)
    publish(warehouse, "run-1", [DIM, FEATURES])

    _build(warehouse, 20, [], [])  # the dim lost 80 % of its rows: a partial build
    with pytest.raises(GateFailed, match="expect_table_row_count_to_be_between"):
        gate(warehouse, [DIM], "run-2", suites)

    _build(warehouse, 100, [], [("2026-10-02", p, 500) for p in range(1, 51)])  # every person jumped to 500 visits
    with pytest.raises(GateFailed, match="expect_column_mean_to_be_between on column 'visits'"):
        gate(warehouse, [FEATURES], "run-3", suites)


def test_a_column_type_change_stops_the_publish_with_what_to_do(warehouse, suites):
    _build(warehouse, 3, [], [])
    publish(warehouse, "run-1", [DIM])
    with psycopg.connect(warehouse, autocommit=True) as conn:
        conn.execute("alter table marts_build.dim_people alter column country type varchar(2)")
    with pytest.raises(PublishError, match="marts.dim_people.country is text but the new build makes it"):
        publish(warehouse, "run-2", [DIM])
