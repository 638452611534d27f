"""The simulator's event history: deterministic, agreeing with the app rows of the same users, realistic clients."""

from __future__ import annotations

import json
import tracemalloc
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa
import pytest

from onramp.collector.enrichment import Enricher
from onramp.collector.ingest import RequestContext, parse_us, process
from onramp.collector.plan import TrackingPlan
from onramp.events.row import TS_US
from onramp.local.simulator import personas as P
from onramp.local.simulator.generate import generate_chunk
from onramp.local.simulator.history import INVALID_KEY, SKEW_KEY, density_for, history_events
from onramp.local.simulator.rng import Draws
from onramp.local.simulator.timeline import GAP_MARGIN, SESSION_GAP, SKEW_RANGE, build

SEED = 11
N = 3_000
MINUTE_MS = 60_000


@pytest.fixture(scope="module")
def tables() -> dict[str, pa.Table]:
    """The app rows ``onramp simulate --users 3000 --seed 11`` writes."""
    return generate_chunk(Draws(SEED), 1, N + 1, N, {})


@pytest.fixture(scope="module")
def events() -> list[dict]:
    return list(history_events(SEED, N, events_per_user=30, chunk_size=1_000))


@pytest.fixture(scope="module")
def plan() -> TrackingPlan:
    return TrackingPlan()


def true_ms(event: dict) -> int:
    """When it really happened: the timestamp less the device clock's error."""
    return parse_us(event["timestamp"]) // 1000 - event.get(SKEW_KEY, 0)


def ms(column) -> list[int]:
    return [None if v is None else v // 1000 for v in column.cast(pa.int64()).to_pylist()]


def by_user(events: list[dict]) -> dict[str, list[dict]]:
    """Each person's events (anonymous ones under the user they become), in true time order."""
    owner = {e["anonymousId"]: e["userId"] for e in events if e["type"] == "identify" and e.get("anonymousId")}
    out: dict[str, list[dict]] = defaultdict(list)
    for e in events:
        out[e.get("userId") or owner[e["anonymousId"]]].append(e)
    for timeline in out.values():
        timeline.sort(key=true_ms)
    return out


def tracks(events: list[dict], name: str) -> Iterator[dict]:
    return (e for e in events if e.get("event") == name)


def lines(**kwargs) -> list[str]:
    return [json.dumps(e, sort_keys=False) for e in history_events(SEED, 600, events_per_user=25, **kwargs)]


def test_same_seed_same_bytes_whatever_the_chunks() -> None:
    whole = lines(chunk_size=600)
    assert whole == lines(chunk_size=137)
    head = list(history_events(SEED, 600, events_per_user=25, stop_id=301))
    tail = [json.dumps(e) for e in history_events(SEED, 600, events_per_user=25, start_id=301, chunk_size=50)]
    assert whole[len(head):] == tail  # a sub-range alone gives the same events, invitation ids included
    other = [json.dumps(e) for e in history_events(SEED + 1, 600, events_per_user=25)]
    assert other != whole
    ids = [json.loads(line)["messageId"] for line in whole]
    assert len(set(ids)) == len(ids)


def test_the_size_follows_the_setting_above_what_the_rows_imply() -> None:
    floor = sum(1 for _ in history_events(SEED, 800, events_per_user=1)) / 800
    assert 17 < floor < 23  # what the app rows imply: the default of 20 is about that
    for target in (30, 60):
        assert abs(sum(1 for _ in history_events(SEED, 800, events_per_user=target)) / 800 - target) < 0.05 * target
    assert list(history_events(SEED, 800, events_per_user=0)) == []
    assert density_for(SEED, 800, 1.0) == 0.0
    with pytest.raises(ValueError, match="not within"):
        history_events(SEED, 800, start_id=700, stop_id=900)


def test_every_completed_step_has_one_event_at_its_completed_at(events, tables) -> None:
    progress = tables["user_onboarding_progress"]
    expected = Counter()
    for user, step, status, done in zip(progress["user_id"].to_pylist(), progress["step_id"].to_pylist(),
                                        progress["status"].to_pylist(), ms(progress["completed_at"]), strict=True):
        if status == "completed":
            expected[(str(user), step, done)] += 1
    seen = Counter((e["userId"], e["properties"]["step_id"], true_ms(e))
                   for e in tracks(events, "onboarding_step_completed"))
    assert seen == expected and max(seen.values()) == 1
    users = tables["users"]
    verified = {str(u): t for u, t in zip(users["id"].to_pylist(), ms(users["email_verified_at"]), strict=True) if t}
    assert {e["userId"]: true_ms(e) for e in tracks(events, "email_verified")} == verified
    completed = {e["userId"] for e in tracks(events, "onboarding_completed")}
    required = {s.id for s in P.STEPS if s.is_required}
    done_steps = defaultdict(set)
    for user, step, status in zip(progress["user_id"].to_pylist(), progress["step_id"].to_pylist(),
                                  progress["status"].to_pylist(), strict=True):
        if status == "completed":
            done_steps[str(user)].add(step)
    assert completed == {u for u, steps in done_steps.items() if required <= steps}


def test_people_start_anonymous_and_identify_before_anything_else(events, tables) -> None:
    users = tables["users"]
    signup = dict(zip(map(str, users["id"].to_pylist()), ms(users["signed_up_at"]), strict=True))
    aliased = 0
    for user, timeline in by_user(events).items():
        identify = next(i for i, e in enumerate(timeline) if e["type"] == "identify")
        anonymous_id = timeline[identify]["anonymousId"]
        assert identify > 0 and all("userId" not in e and e["anonymousId"] == anonymous_id
                                    for e in timeline[:identify]), user
        later = timeline[identify + 1:]
        assert all(e["userId"] == user for e in later)
        assert all(e["anonymousId"] == anonymous_id for e in later if e["type"] != "alias")
        completed = next(e for e in later if e.get("event") == "signup_completed")
        assert true_ms(completed) == signup[user] == true_ms(timeline[identify]) + 2
        aliases = [e for e in later if e["type"] == "alias"]
        assert all(a["previousId"] == anonymous_id for a in aliases)
        aliased += len(aliases)
    assert 0.1 < aliased / len(signup) < 0.3


def test_acquisition_and_signup_form_agree_with_the_user_row(events, tables) -> None:
    users = tables["users"].to_pylist()
    people = by_user(events)
    for user in users:
        timeline = people[str(user["id"])]
        first = timeline[0]
        assert first["type"] == "page" and "userId" not in first
        if user["signup_source"] in P.UTM_SOURCE:
            assert first["context"]["campaign"] == {"source": P.UTM_SOURCE[user["signup_source"]],
                                                    "medium": P.UTM_MEDIUM[user["signup_source"]],
                                                    "name": user["utm_campaign"]}
            assert f"utm_campaign={user['utm_campaign']}" in first["properties"]["url"]
        started = next(tracks(timeline, "signup_started"))["properties"]
        assert started["signup_source"] == user["signup_source"]
        assert started["referral_code"] == user["referred_by_code"]
        form = next(tracks(timeline, "form_filled"))
        assert ("phone" in form["properties"]["fields"]) == (user["phone"] is not None) or INVALID_KEY in form
        assert form["properties"]["duration_ms"] == true_ms(form) - true_ms(next(tracks(timeline, "signup_started")))
        identify = next(e for e in timeline if e["type"] == "identify")
        assert identify["traits"]["email"] == user["email"] and identify["traits"]["country"] == user["country_code"]
        views = {e["type"] for e in timeline if e["type"] in ("page", "screen") and "userId" in e}
        assert views <= ({"screen"} if user["device_type"] == "mobile" else {"page"})
        assert all(e["context"]["os"]["name"] == user["os"] for e in timeline)


def test_feature_usage_agrees_first_last_and_count(events, tables) -> None:
    seen = defaultdict(list)
    for e in tracks(events, "feature_used"):
        if e.get(INVALID_KEY) is None:
            seen[(e["userId"], e["properties"]["feature"])].append((true_ms(e), e["properties"]["usage_count"]))
    usage = tables["feature_usage"]
    rows = zip(usage["user_id"].to_pylist(), usage["feature"].to_pylist(), usage["usage_count"].to_pylist(),
               ms(usage["first_used_at"]), ms(usage["last_used_at"]), strict=True)
    checked = 0
    for user, feature, count, first, last in rows:
        uses = sorted(seen.pop((str(user), feature), []))
        if not uses or len(uses) < min(count, 2):
            continue  # one of its events went to the dead letters on purpose
        checked += 1
        assert uses[0] == (first, 1) and len(uses) <= count
        if count > 1:
            assert uses[-1] == (last, count)
        assert all(a[1] < b[1] for a, b in zip(uses, uses[1:], strict=False))  # a running count
    assert not seen and checked > 0.99 * usage.num_rows


def test_invitations_and_upgrades_agree(events, tables) -> None:
    invitations = tables["invitations"].to_pylist()
    sent = {e["properties"]["invitation_id"]: e for e in tracks(events, "invite_sent")}
    assert len(sent) == len(invitations)
    role = dict(zip(tables["workspace_members"]["user_id"].to_pylist(),
                    tables["workspace_members"]["role"].to_pylist(), strict=True))
    for row in invitations:
        event = sent[str(row["id"])]
        assert event["userId"] == str(row["inviter_user_id"])
        assert event["properties"]["workspace_id"] == str(row["workspace_id"])
        assert true_ms(event) == int(row["sent_at"].timestamp() * 1000)
        assert "invitee_email" not in event["properties"]
        if row["accepted_user_id"] and not event.get(INVALID_KEY):
            assert event["properties"]["role"] == role[row["accepted_user_id"]]
    paid = [s for s in tables["subscriptions"].to_pylist() if s["plan"] != "free"]
    upgrades = {e["userId"]: e for e in tracks(events, "plan_upgraded")}
    assert len(upgrades) == len(paid)
    for sub in paid:
        event = upgrades[str(sub["user_id"])]
        expected = {"from_plan": "free", "to_plan": sub["plan"], "billing_interval": sub["billing_interval"],
                    "seats": sub["seats"], "mrr_cents": sub["mrr_cents"], "currency": sub["currency"]}
        assert event.get(INVALID_KEY) or event["properties"] == expected
        assert true_ms(event) == int(sub["started_at"].timestamp() * 1000)


def test_sessions_are_recovered_by_a_30_minute_gap(tables) -> None:
    draws = Draws(SEED)
    timeline, _ = build(draws, tables, density_for(SEED, N, 30.0), N)
    group = timeline.gen * 2 + (timeline.actor != timeline.gen + 1)
    order = np.lexsort((timeline.ts, group))
    g, ts, session = group[order], timeline.ts[order], timeline.session[order]
    same = g[1:] == g[:-1]
    gap = np.diff(ts)[same]
    assert not ((gap > SESSION_GAP - GAP_MARGIN) & (gap <= SESSION_GAP + GAP_MARGIN)).any()
    recovered = np.cumsum(np.r_[True, ~same | (np.diff(ts) > SESSION_GAP)])
    planned = session
    # the same partition: a new recovered session exactly where the planned session changes
    assert np.array_equal(np.r_[True, recovered[1:] != recovered[:-1]], np.r_[True, planned[1:] != planned[:-1]])
    sessions_per_user = len(np.unique(session)) / N
    assert 3 < sessions_per_user < 40


def test_a_person_s_sessions_hold_across_every_event_sent(events) -> None:
    """Across users, the inviter's copy of an accepted invitation may touch one of their sessions; rarely."""
    gaps = []
    for timeline in by_user(events).values():
        times = np.array([true_ms(e) for e in timeline])
        gaps.extend(np.diff(times).tolist())
    gaps = np.array(gaps)
    ambiguous = (gaps > 29 * MINUTE_MS) & (gaps <= 31 * MINUTE_MS)
    assert ambiguous.mean() < 0.001


def test_some_devices_have_a_wrong_clock_that_sent_at_corrects(events) -> None:
    skewed = [e for e in events if SKEW_KEY in e]
    assert 0.015 < len(skewed) / len(events) < 0.025
    sizes = np.abs([e[SKEW_KEY] for e in skewed])
    assert sizes.min() >= SKEW_RANGE[0] and sizes.max() <= SKEW_RANGE[1]
    assert 0.3 < np.mean([e[SKEW_KEY] > 0 for e in skewed]) < 0.7
    # the collector's rule (receivedAt - (sentAt - timestamp)) puts them back at their true time
    plan, enricher = TrackingPlan(), Enricher()
    now = datetime.now(UTC)
    sample = [e for e in skewed if INVALID_KEY not in e][:200]
    wire = [{**{k: v for k, v in e.items() if not k.startswith("_sim_")},
             "sentAt": (now + timedelta(milliseconds=e[SKEW_KEY])).isoformat()} for e in sample]
    out = process(wire, None, RequestContext(source="sim", received_at=now), plan, enricher)
    assert len(out.accepted) == len(sample)
    for event, row in zip(sample, out.accepted, strict=True):
        assert row[TS_US] // 1000 == true_ms(event)


def test_every_event_passes_the_tracking_plan_but_the_few_broken_on_purpose(events, plan) -> None:
    broken = [e for e in events if INVALID_KEY in e]
    assert 0.001 < len(broken) / len(events) < 0.003
    assert len({e.get("event") or e["type"] for e in broken}) >= 5
    for event in events:
        message = {k: v for k, v in event.items() if not k.startswith("_sim_")}
        verdict = plan.check(message)
        if INVALID_KEY in event:
            assert not verdict.ok and verdict.reasons[0].code == event[INVALID_KEY], event
        else:
            assert verdict.ok, (event, verdict.reasons)
    versions = Counter(plan.check(e).schema_version for e in events if e["type"] == "track")
    assert {"signup_started/v2", "form_filled/v2", "feature_used/v2"} <= set(versions)


def test_generation_is_lazy_and_memory_follows_the_chunk_size() -> None:
    density_for(SEED, 1_000_000, 20.0)  # calibrated once (a sample of 3,200 users), cached
    started = datetime.now(UTC)
    stream = history_events(SEED, 1_000_000, chunk_size=500)
    assert isinstance(stream, Iterator) and (datetime.now(UTC) - started).total_seconds() < 1  # nothing yet

    def peak(chunk_size: int) -> int:
        tracemalloc.start()
        for _ in history_events(SEED, 1_000_000, chunk_size=chunk_size, stop_id=601):
            pass
        size = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        return size

    small, large = peak(60), peak(600)
    assert small < large / 4, (small, large)  # a chunk at a time: the rest is freed as it goes
    assert small < 2 * 2**20


def test_message_ids_are_live_mode_s_deterministic_uuid_of_seed_user_and_index() -> None:
    from onramp.local.simulator.history import _uuid
    from onramp.local.simulator.live import deterministic_uuid

    for parts in ((42, "history", "20000/20", 1, 0), (7, "history", "5/30", 999_999, 1234)):
        assert _uuid("\x1f".join(map(str, parts))) == deterministic_uuid(*parts)
    first = next(history_events(SEED, 600, events_per_user=25))
    assert first["messageId"] == deterministic_uuid(SEED, "history", "600/25", 1, 0)


class _Collect:
    """An EventSink / poster that keeps what it is given."""

    def __init__(self) -> None:
        self.sent: list[dict] = []
        self.skews: list[int] = []

    def send(self, event: dict) -> None:
        self.sent.append(event)

    def add(self, event: dict, skew: int) -> None:
        self.sent.append(event)
        self.skews.append(skew)

    def flush(self) -> None: ...

    def close(self) -> None: ...


def test_the_sender_routes_wrong_clocks_apart_and_strips_the_truth_keys() -> None:
    from onramp.local.simulator.history_send import send_history

    events = list(history_events(SEED, 400, events_per_user=25))
    sdk, poster = _Collect(), _Collect()
    report = send_history((dict(e) for e in events), sdk, poster)  # type: ignore[arg-type]
    assert report.events == len(events) == len(sdk.sent) + len(poster.sent)
    assert report.skewed == len(poster.sent) == sum(SKEW_KEY in e for e in events)
    assert report.invalid == sum(INVALID_KEY in e for e in events)
    assert not any(k.startswith("_sim_") for e in sdk.sent + poster.sent for k in e)
    assert poster.skews == [e[SKEW_KEY] for e in events if SKEW_KEY in e]
    file_like = _Collect()
    send_history((dict(e) for e in events), file_like)  # no poster: a file keeps the truth
    assert file_like.sent == events
