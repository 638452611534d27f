"""Migrations against a real PostgreSQL database of the test's own."""

from __future__ import annotations

import psycopg
import pytest

from onramp.migrations import MigrationError, migrate


def test_warehouse_migrations_create_every_contract_schema(make_database):
    url = make_database("wh")
    applied = migrate(url, "warehouse")
    assert applied, "a fresh database must get migrations"
    with psycopg.connect(url) as conn:
        schemas = {r[0] for r in conn.execute("select schema_name from information_schema.schemata")}
    assert {"raw", "staging", "marts", "features", "segments", "ops"} <= schemas
    assert migrate(url, "warehouse") == [], "a second run must apply nothing"


def test_edited_migration_is_refused(make_database, tmp_path):
    url = make_database("edit")
    (tmp_path / "t").mkdir()
    path = tmp_path / "t" / "0001_make_table.sql"
    path.write_text("create table t (id int primary key);")
    assert len(migrate(url, "t", root=tmp_path)) == 1
    path.write_text("create table t (id bigint primary key);")
    with pytest.raises(MigrationError, match="changed after it was applied"):
        migrate(url, "t", root=tmp_path)


def test_failing_migration_rolls_back_and_names_the_file(make_database, tmp_path):
    url = make_database("fail")
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "0001_good.sql").write_text("create table good (id int);")
    (tmp_path / "t" / "0002_bad.sql").write_text("create table half (id int); select * from no_such_table;")
    with pytest.raises(MigrationError, match="0002_bad.sql failed and was rolled back"):
        migrate(url, "t", root=tmp_path)
    with psycopg.connect(url) as conn:
        assert conn.execute("select to_regclass('good') is not null, to_regclass('half') is null").fetchone() == (True, True)
        assert conn.execute("select array_agg(version) from onramp_schema_migrations where target='t'").fetchone()[0] == [1]
