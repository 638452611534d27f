from __future__ import annotations

import pytest

from onramp.settings import (
    SettingsError,
    documented_settings,
    load_settings,
    redact,
    with_database,
)


def test_defaults_point_at_local_services(tmp_path):
    s = load_settings({}, env_file=tmp_path / "missing.env")
    assert s.pg_url == "postgresql://postgres@127.0.0.1:5432/postgres"
    assert s.redis_url == "redis://127.0.0.1:6379/0"
    assert s.app_db_url == "postgresql://postgres@127.0.0.1:55432/app", "the source app has its own server"
    assert s.warehouse_url.endswith("/warehouse") and s.airflow_db_url.endswith("/airflow")
    assert s.lake_path == s.home_path / "lake"


def test_environment_wins_over_env_file(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("# comment\nONRAMP_AIRFLOW_PORT=9001\nexport ONRAMP_REDIS_PREFIX='x:'\n\nONRAMP_SIM_SEED=7\n")
    s = load_settings({"ONRAMP_SIM_SEED": "8"}, env_file=env_file)
    assert (s.airflow_port, s.redis_prefix, s.sim_seed) == (9001, "x:", 8)


def test_bad_number_names_the_variable(tmp_path):
    with pytest.raises(SettingsError, match="ONRAMP_AIRFLOW_PORT='eighty' is not a whole number"):
        load_settings({"ONRAMP_AIRFLOW_PORT": "eighty"}, env_file=tmp_path / "none")


@pytest.mark.parametrize(
    ("key", "value"),
    [("ONRAMP_PG_URL", "mysql://root@127.0.0.1/x"), ("ONRAMP_REDIS_URL", "127.0.0.1:6379"), ("ONRAMP_PG_URL", "postgresql:///x")],
)
def test_bad_urls_are_refused_with_an_example(tmp_path, key, value):
    with pytest.raises(SettingsError, match=f"{key}=.* set it like"):
        load_settings({key: value}, env_file=tmp_path / "none")


def test_bad_embedded_mode(tmp_path):
    with pytest.raises(SettingsError, match="ONRAMP_EMBEDDED"):
        load_settings({"ONRAMP_EMBEDDED": "sometimes"}, env_file=tmp_path / "none")


def test_typed_settings_parse_and_bad_values_say_what_to_write(tmp_path):
    s = load_settings({"ONRAMP_STREAM_BATCH_SECONDS": "0.5", "ONRAMP_COLLECTOR_TRUST_FORWARDED_FOR": "yes"},
                      env_file=tmp_path / "none")
    assert (s.stream_batch_seconds, s.collector_trust_forwarded_for) == (0.5, True)
    with pytest.raises(SettingsError, match="ONRAMP_STREAM_BATCH_SECONDS='soon' is not a number"):
        load_settings({"ONRAMP_STREAM_BATCH_SECONDS": "soon"}, env_file=tmp_path / "none")
    with pytest.raises(SettingsError, match="ONRAMP_COLLECTOR_TRUST_FORWARDED_FOR=.*true or false"):
        load_settings({"ONRAMP_COLLECTOR_TRUST_FORWARDED_FOR": "maybe"}, env_file=tmp_path / "none")
    with pytest.raises(SettingsError, match="ONRAMP_COLLECTOR_UNKNOWN_EVENTS='drop' must be"):
        load_settings({"ONRAMP_COLLECTOR_UNKNOWN_EVENTS": "drop"}, env_file=tmp_path / "none")
    with pytest.raises(SettingsError, match="ONRAMP_COLLECTOR_PORT=0 must be at least 1"):
        load_settings({"ONRAMP_COLLECTOR_PORT": "0"}, env_file=tmp_path / "none")


def test_url_helpers_keep_credentials_but_redact_them_for_printing():
    url = "postgresql://etl:s3cret@db:5433/postgres?sslmode=require"
    assert with_database(url, "warehouse") == "postgresql://etl:s3cret@db:5433/warehouse?sslmode=require"
    assert "s3cret" not in redact(url) and "***" in redact(url)
    assert redact("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"


def test_every_setting_is_documented_in_env_example():
    from onramp.settings import PROJECT_ROOT

    example = (PROJECT_ROOT / ".env.example").read_text()
    for key, _default, doc in documented_settings():
        assert doc, f"{key} has no documentation"
        assert key in example, f"{key} missing from .env.example"


def test_env_file_junk_is_ignored_and_unknown_variables_too(tmp_path):
    f = tmp_path / ".env"
    f.write_text("no equals sign\n=\nONRAMP_SIM_SEED = 9 \nONRAMP_NOT_A_SETTING=1\nOTHER=2\n")
    assert load_settings({}, env_file=f).sim_seed == 9


def test_every_problem_is_listed_at_once(tmp_path):
    with pytest.raises(SettingsError) as caught:
        load_settings({"ONRAMP_AIRFLOW_PORT": "x", "ONRAMP_EMBEDDED": "maybe", "ONRAMP_REDIS_URL": "nope"},
                      env_file=tmp_path / "none")
    for part in ("ONRAMP_AIRFLOW_PORT='x'", "ONRAMP_EMBEDDED='maybe'", "ONRAMP_REDIS_URL='nope'"):
        assert part in str(caught.value)


def test_as_env_reproduces_the_settings(tmp_path):
    s = load_settings({"ONRAMP_SIM_SEED": "3", "ONRAMP_COLLECTOR_TRUST_FORWARDED_FOR": "true"}, env_file=tmp_path / "x")
    assert load_settings(s.as_env(), env_file=tmp_path / "x") == s


def test_history_size_setting_defaults_to_20_and_0_turns_it_off(tmp_path):
    assert load_settings({}, env_file=tmp_path / "none").sim_history_events_per_user == 20
    assert load_settings({"ONRAMP_SIM_HISTORY_EVENTS_PER_USER": "0"},
                         env_file=tmp_path / "none").sim_history_events_per_user == 0
    with pytest.raises(SettingsError, match="ONRAMP_SIM_HISTORY_EVENTS_PER_USER=-1 must be at least 0"):
        load_settings({"ONRAMP_SIM_HISTORY_EVENTS_PER_USER": "-1"}, env_file=tmp_path / "none")
