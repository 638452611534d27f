"""Pure generators of the simulator: determinism, realistic distributions, personas that shape behaviour."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from onramp.local.simulator import personas as P
from onramp.local.simulator.batch import format_timestamps
from onramp.local.simulator.generate import COLUMNS, EPOCH_US, START_US, generate_chunk, signup_times
from onramp.local.simulator.rng import Draws, child_keys

N = 6_000


@pytest.fixture(scope="module")
def chunk() -> dict[str, pa.Table]:
    return generate_chunk(Draws(42), 1, N + 1, N, {})


def _per_persona(chunk: dict[str, pa.Table], values: np.ndarray) -> dict[str, float]:
    """Mean of a per-user value for each persona."""
    persona = np.asarray(chunk["user_personas"]["persona"].to_pylist())
    return {name: float(values[persona == name].mean()) for name in P.PERSONA_NAMES}


def _count_per_user(chunk: dict[str, pa.Table], table: pa.Table, column: str = "user_id") -> np.ndarray:
    return np.bincount(table[column].to_numpy(), minlength=N + 1)[1:]


def test_draws_are_a_pure_function_of_seed_stream_and_key() -> None:
    keys = np.arange(1, 50_000)
    a, b = Draws(1).uniform("x", keys), Draws(1).uniform("x", keys[::-1])[::-1]
    assert np.array_equal(a, b)  # order of keys does not matter
    assert not np.array_equal(a, Draws(2).uniform("x", keys))
    assert not np.array_equal(a, Draws(1).uniform("y", keys))
    assert 0.49 < a.mean() < 0.51 and a.min() >= 0 and a.max() < 1
    shares = np.bincount(Draws(3).choice("c", keys, [1, 2, 7]), minlength=3) / len(keys)
    assert np.allclose(shares, [0.1, 0.2, 0.7], atol=0.01)
    counts = Draws(4).poisson("p", keys, np.full(len(keys), 3.0), cap=30)
    assert abs(counts.mean() - 3.0) < 0.05 and abs(counts.var() - 3.0) < 0.15


def test_child_keys_expand_parents_in_order() -> None:
    parent, ordinal, keys = child_keys(np.array([10, 11, 12]), np.array([2, 0, 3]))
    assert parent.tolist() == [0, 0, 2, 2, 2]
    assert ordinal.tolist() == [0, 1, 0, 1, 2]
    assert len(set(keys.tolist())) == 5


def test_one_chunk_is_deterministic_and_seed_dependent(chunk: dict[str, pa.Table]) -> None:
    again = generate_chunk(Draws(42), 1, N + 1, N, {})
    assert all(chunk[name].equals(again[name]) for name in chunk)
    other = generate_chunk(Draws(43), 1, N + 1, N, {})
    assert not chunk["users"].equals(other["users"])


def test_rows_do_not_depend_on_chunk_size() -> None:
    whole = generate_chunk(Draws(9), 1, 2_001, 2_000, {})
    next_ids: dict[str, int] = {}
    parts = [generate_chunk(Draws(9), s, min(s + 333, 2_001), 2_000, next_ids) for s in range(1, 2_001, 333)]
    for name in whole:
        assert whole[name].equals(pa.concat_tables([p[name] for p in parts])), name


def test_tables_have_the_columns_copy_sends_and_unique_keys(chunk: dict[str, pa.Table]) -> None:
    for name, columns in COLUMNS.items():
        assert tuple(chunk[name].column_names) == columns
        ids = chunk[name]["id"].to_numpy()
        assert len(np.unique(ids)) == len(ids), name
    users = chunk["users"]
    assert pc.count_distinct(users["email"]).as_py() == N
    assert pc.count_distinct(users["referral_code"]).as_py() == N
    assert all("@" in e and " " not in e for e in users["email"].to_pylist()[:500])
    progress = chunk["user_onboarding_progress"]
    pairs = progress["user_id"].to_numpy() * 100 + progress["step_id"].to_numpy()
    assert len(np.unique(pairs)) == len(pairs)


def test_referential_integrity_inside_the_generated_data(chunk: dict[str, pa.Table]) -> None:
    user_ids = set(chunk["users"]["id"].to_pylist())
    workspace_ids = set(chunk["workspaces"]["id"].to_pylist())
    for table, column in (("workspace_members", "workspace_id"), ("invitations", "workspace_id"),
                          ("subscriptions", "workspace_id"), ("feature_usage", "workspace_id")):
        assert set(chunk[table][column].drop_null().to_pylist()) <= workspace_ids, table
    for table in ("workspace_members", "user_onboarding_progress", "subscriptions", "feature_usage"):
        assert set(chunk[table]["user_id"].to_pylist()) <= user_ids, table
    invitees = chunk["users"].filter(pc.equal(chunk["users"]["signup_source"], "invite"))["id"].to_pylist()
    accepted = chunk["invitations"].filter(pc.equal(chunk["invitations"]["status"], "accepted"))
    assert sorted(accepted["accepted_user_id"].to_pylist()) == sorted(invitees)
    assert (accepted["inviter_user_id"].to_numpy() < accepted["accepted_user_id"].to_numpy()).all()


def test_timestamps_stay_inside_the_history_and_in_order(chunk: dict[str, pa.Table]) -> None:
    signup = chunk["users"]["signed_up_at"].cast(pa.int64()).to_numpy()
    assert (np.diff(signup) >= 0).all() and signup.min() >= START_US and signup.max() < EPOCH_US
    for name, table in chunk.items():
        if "created_at" in table.column_names:
            created = table["created_at"].cast(pa.int64()).to_numpy()
            updated = table["updated_at"].cast(pa.int64()).to_numpy()
            assert (updated >= created).all() and updated.max() <= EPOCH_US + 15 * 86_400_000_000, name
    steps = chunk["user_onboarding_progress"]
    by_user = dict(zip(chunk["users"]["id"].to_pylist(), signup.tolist(), strict=True))
    started = steps["started_at"].cast(pa.int64()).to_numpy()
    assert all(started[i] > by_user[u] for i, u in enumerate(steps["user_id"].to_pylist()[:5000]))


def test_signups_grow_and_peak_in_the_afternoon() -> None:
    ids = np.arange(1, 100_001)
    t = signup_times(Draws(5), ids, len(ids))
    hours = np.bincount((t // 3_600_000_000) % 24, minlength=24)
    assert hours[14] > 2 * hours[3]
    first, last = np.sum(t < START_US + 60 * 86_400_000_000), np.sum(t > EPOCH_US - 60 * 86_400_000_000)
    assert last > 1.4 * first


def test_marginal_distributions_are_realistic(chunk: dict[str, pa.Table]) -> None:
    users = chunk["users"]
    source = pc.value_counts(users["signup_source"]).to_pylist()
    shares = {row["values"]: row["counts"] / N for row in source}
    expected = (P.PERSONA_SHARES[:, None] * P.SOURCE_TABLE / P.SOURCE_TABLE.sum(axis=1, keepdims=True)).sum(0)
    for name, share in zip(P.SOURCES, expected, strict=True):
        assert abs(shares.get(name, 0.0) - share) < 0.035, name
    countries = {row["values"]: row["counts"] / N for row in pc.value_counts(users["country_code"]).to_pylist()}
    assert 0.25 < countries["US"] < 0.35 and countries["US"] == max(countries.values())
    plans = {row["values"]: row["counts"] / N for row in pc.value_counts(users["plan"]).to_pylist()}
    assert plans["free"] > 0.55 and plans["enterprise"] < plans["pro"] and set(plans) == set(P.PLANS)
    devices = {row["values"]: row["counts"] / N for row in pc.value_counts(users["device_type"]).to_pylist()}
    assert devices["desktop"] > devices["mobile"] > devices["tablet"] > 0.02
    ua_pairs = set(zip(users["os"].to_pylist(), users["browser"].to_pylist(), strict=True))
    assert all(P.user_agent(os_name, browser).startswith("Mozilla/5.0") for os_name, browser in ua_pairs)
    phones = users["phone"].drop_null().to_pylist()
    assert 0.6 < len(phones) / N < 0.8 and all(p.startswith("+") and p[1:].isdigit() for p in phones)


def test_personas_shape_behaviour(chunk: dict[str, pa.Table]) -> None:
    users = chunk["users"]
    paid = _per_persona(chunk, np.asarray(pc.not_equal(users["plan"], "free")))
    churned = _per_persona(chunk, np.asarray(pc.equal(users["status"], "churned")))
    mobile = _per_persona(chunk, np.asarray(pc.equal(users["device_type"], "mobile")))
    progress = chunk["user_onboarding_progress"]
    completed = progress.filter(pc.equal(progress["status"], "completed"))
    steps = _per_persona(chunk, _count_per_user(chunk, completed))
    features = _per_persona(chunk, _count_per_user(chunk, chunk["feature_usage"]))
    invites = _per_persona(chunk, _count_per_user(chunk, chunk["invitations"], "inviter_user_id"))
    api = chunk["feature_usage"].filter(pc.is_in(chunk["feature_usage"]["feature"], pa.array(["api", "integrations"])))
    api_users = _per_persona(chunk, _count_per_user(chunk, api) > 0)

    assert paid["quick_converter"] > 0.5 > 0.05 > paid["tire_kicker"]
    assert churned["tire_kicker"] > 0.4 > churned["power_integrator"]
    assert mobile["tire_kicker"] > 0.45 > 0.1 > mobile["power_integrator"]
    assert steps["tire_kicker"] < 2 < 5 < steps["power_integrator"]
    assert features["power_integrator"] > features["explorer"] > features["tire_kicker"]
    assert invites["team_builder"] > 3 * max(v for k, v in invites.items() if k != "team_builder")
    assert api_users["power_integrator"] > 2 * api_users["quick_converter"]


def test_format_timestamps_matches_pyarrow() -> None:
    us = np.array([0, -1, 1_700_000_000_123_456, EPOCH_US, 951_782_400_000_000], dtype=np.int64)  # 2000-02-29
    array = pa.array(us, type=pa.timestamp("us", tz="UTC"))
    got = format_timestamps(array).to_pylist()
    want = [v.strftime("%Y-%m-%d %H:%M:%S.%fZ") for v in array.to_pylist()]
    assert got == want
    with_null = format_timestamps(pa.array([None, 0], type=pa.timestamp("us", tz="UTC")))
    assert with_null.to_pylist() == [None, "1970-01-01 00:00:00.000000Z"]
