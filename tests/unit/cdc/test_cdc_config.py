"""The sources file: valid declarations load, every mistake is reported with its path and a fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from onramp.cdc.config import DEFAULT_CONFIG, load_config, parse_config
from onramp.cdc.errors import ConfigError

PATH = Path("cdc_sources.yaml")


def parse(data: dict):
    return parse_config(data, PATH)


def minimal(**table) -> dict:
    return {"sources": {"app": {"conn_id": "onramp_app_db", "tables": {"app.users": {"primary_key": ["id"], **table}}}}}


def test_repo_config_declares_the_app_tables():
    config = load_config(DEFAULT_CONFIG)
    ids = [t.id for t in config.tables]
    assert "app/app.users" in ids and "app/app.feature_usage" in ids
    users = config.find("app.users")
    assert users.pii == ("email", "full_name", "phone", "ip_address")
    assert (users.slot_name, users.raw_table, users.staging_table) == ("onramp_app_users", "app_users_changes", "users")


def test_defaults_and_overrides():
    data = minimal(mode="xmin")
    data["defaults"] = {"batch_rows": 5}
    data["sources"]["app"]["max_slot_lag_bytes"] = 10
    config = parse(data)
    source = config.source("app")
    assert (source.batch_rows, source.max_slot_lag_bytes, source.fallback) == (5, 10, "xmin")
    assert config.tables[0].mode == "xmin" and config.warehouse_conn_id == "onramp_warehouse"


@pytest.mark.parametrize(("change", "message"), [
    ({"primary_key": []}, "primary_key: required"),
    ({"primary_key": ["Id"]}, "'Id' is not a lowercase SQL identifier"),
    ({"primary_key": ["id; drop table x"]}, "is not a lowercase SQL identifier"),
    ({"exclude_columns": ["id"]}, "'id' is part of the primary key"),
    ({"columns": ["a"], "exclude_columns": ["b"]}, "not both"),
    ({"mode": "trigger"}, "'trigger' must be one of log, xmin"),
    ({"colour": "red"}, "app.users.colour: unknown key"),
    ({"target": "x" * 70}, "longer than 63"),
])
def test_table_mistakes_are_named(change, message):
    with pytest.raises(ConfigError) as caught:
        parse(minimal(**change))
    assert message in str(caught.value) and "cdc_sources.yaml is invalid" in str(caught.value)


def test_every_problem_is_listed_at_once_and_source_mistakes_too():
    data = {"sources": {"Bad Name": {"tables": {"nodot": {}}, "batch_rows": 0, "fallback": "maybe"}}}
    with pytest.raises(ConfigError) as caught:
        parse(data)
    text = str(caught.value)
    for part in ("'Bad Name' is not a lowercase", "conn_id", "schema.table", "batch_rows: 0 must be a positive",
                 "fallback: 'maybe' must be one of xmin, fail"):
        assert part in text


def test_two_tables_with_one_staging_name_collide():
    data = minimal()
    data["sources"]["other"] = {"conn_id": "x", "tables": {"crm.users": {"primary_key": ["id"]}}}
    with pytest.raises(ConfigError, match="staging.users is already the target of app/app.users"):
        parse(data)


def test_find_accepts_id_qualified_or_target_and_refuses_ambiguity():
    data = minimal()
    data["sources"]["other"] = {"conn_id": "x", "tables": {"crm.users": {"primary_key": ["id"], "target": "crm_users"}}}
    config = parse(data)
    assert config.find("crm_users").source == "other"
    assert config.find("app/app.users").source == "app"
    with pytest.raises(ConfigError, match="no declared CDC table 'nope'"):
        config.find("nope")


def test_missing_or_broken_file_is_explained(tmp_path):
    with pytest.raises(ConfigError, match="no CDC sources file"):
        load_config(tmp_path / "absent.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("sources: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)


def test_column_filters():
    config = parse(minimal(columns=["email"]))
    table = config.tables[0]
    assert table.keeps("id") and table.keeps("email") and not table.keeps("phone")
    table = parse(minimal(exclude_columns=["phone"])).tables[0]
    assert table.keeps("email") and not table.keeps("phone")
