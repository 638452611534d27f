"""When each event of a chunk's history happens, for whom, in which session: columns, no dicts yet.

Everything is derived from the tables :func:`~onramp.local.simulator.generate.generate_chunk` wrote for the
same users (signup time, onboarding progress, feature usage, invitations, subscriptions) plus draws keyed by
user ids, so the events agree with the app database and never depend on the chunk size. Times are epoch
milliseconds (what Segment SDKs send): an event "at" an app timestamp is at that timestamp truncated to the ms.

Volume: the events the app rows imply always exist (the floor, about 20 per user). On top, optional events
are switched on by one density ``lam`` (:func:`onramp.local.simulator.history.density_for` picks it for a
target events-per-user): ``0 < lam <= 1`` opens sessions with a page/screen view, ``1 < lam <= 2`` adds
the /signup page view, research visits before signup, a view of each onboarding step as it starts and an
identify after an upgrade, ``lam > 2`` adds repeated feature uses and browsing views without bound.

Sessions: events of one person less than 29 min apart share a session, 31 min or more apart do not, and a
gap in between is bridged by a view at its middle, so sessionizing at 30 min in SQL recovers the sessions
even with the collector's clock-skew correction moving a time by its upload latency.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from onramp.local.simulator import personas as P
from onramp.local.simulator.generate import signup_times
from onramp.local.simulator.rng import CHILD_SLOTS, Draws, child_keys

SECOND = 1_000
MINUTE = 60 * SECOND
HOUR = 60 * MINUTE
DAY = 24 * HOUR
SESSION_GAP = 30 * MINUTE
GAP_MARGIN = MINUTE  # no two consecutive events of a person are between 29 and 31 min apart
SKEWED_SESSIONS = 0.02  # share of sessions sent from a device whose clock is off
SKEW_RANGE = (2 * MINUTE, 6 * HOUR)  # log-uniform size of that error, either sign
INVALID_SHARE = 0.002  # share of events a buggy client sends against the tracking plan
REQUIRED_STEPS = np.array([s.id for s in P.STEPS if s.is_required])
NO_GAP = np.int64(1) << 62


class Kind(IntEnum):
    """One kind of history event; at the same millisecond, lower kinds come first."""

    LANDING = 0  # first page of the signup visit (UTM + referrer when it is the person's first visit)
    RESEARCH = 1  # page of an anonymous visit before the signup visit
    SIGNUP_PAGE = 2
    SIGNUP_STARTED = 3
    FORM_FILLED = 4
    IDENTIFY = 5
    ALIAS = 6
    SIGNUP_COMPLETED = 7
    OPEN_VIEW = 8  # the page/screen a session opens with
    STEP_VIEW = 9  # an onboarding step's page/screen, at the step's started_at
    EMAIL_VERIFIED = 10
    STEP_COMPLETED = 11
    ONBOARDING_COMPLETED = 12
    FEATURE_USED = 13
    INVITE_SENT = 14
    PLAN_UPGRADED = 15
    IDENTIFY_PLAN = 16  # traits.plan after an upgrade
    NAV_VIEW = 17  # browsing inside a session (and the view that bridges a 29-31 min gap)


VIEWS = np.array([Kind.LANDING, Kind.RESEARCH, Kind.SIGNUP_PAGE, Kind.OPEN_VIEW, Kind.STEP_VIEW, Kind.NAV_VIEW])
CORRUPTIBLE = np.array([k for k in Kind if k not in VIEWS and k not in (Kind.IDENTIFY, Kind.ALIAS, Kind.IDENTIFY_PLAN)]
                       + [Kind.OPEN_VIEW, Kind.STEP_VIEW, Kind.NAV_VIEW])
_COLUMNS = ("gen", "actor", "ts", "kind", "ref", "num", "num2")


@dataclass
class Timeline:
    """One row per event, sorted by (generating user, time, kind); ``k`` numbers each user's events."""

    gen: np.ndarray  # row in the chunk of the user whose rows produced the event
    actor: np.ndarray  # user id of whoever did it (the inviter, for an accepted invitation's invite_sent)
    ts: np.ndarray  # true time, epoch ms
    kind: np.ndarray
    ref: np.ndarray  # row of the source table (progress, feature_usage, invitations, subscriptions) or variant
    num: np.ndarray  # per kind: form duration ms, running usage_count, role, steps completed...
    num2: np.ndarray  # per kind: feature seconds, steps skipped, seconds since signup
    session: np.ndarray  # session number within the chunk
    skew: np.ndarray  # device clock error of the event's session, ms (0 for most)
    invalid: np.ndarray  # sent against the tracking plan
    k: np.ndarray  # index of the event among its generating user's events

    def __len__(self) -> int:
        return len(self.ts)


@dataclass
class Facts:
    """Per user of the chunk: what the renderer needs beyond the app rows."""

    persona: np.ndarray
    method: np.ndarray  # index into P.SIGNUP_METHODS
    alias: np.ndarray
    mobile: np.ndarray
    signup_ms: np.ndarray


class _Parts:
    """Event columns collected piece by piece, concatenated once."""

    def __init__(self) -> None:
        self.cols: dict[str, list[np.ndarray]] = {name: [] for name in _COLUMNS}

    def add(self, kind: int, gen: np.ndarray, actor: np.ndarray, ts: np.ndarray, ref: np.ndarray | int = 0,
            num: np.ndarray | int = 0, num2: np.ndarray | int = 0) -> None:
        n = len(gen)
        for name, value in (("gen", gen), ("actor", actor), ("ts", ts), ("kind", kind), ("ref", ref), ("num", num),
                            ("num2", num2)):
            self.cols[name].append(np.broadcast_to(np.asarray(value, dtype=np.int64), (n,)))

    def arrays(self) -> dict[str, np.ndarray]:
        return {name: np.concatenate(parts) if parts else np.zeros(0, np.int64) for name, parts in self.cols.items()}


def ms(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """A timestamp column as epoch milliseconds (nulls as 0)."""
    return np.asarray(column.cast(pa.int64()).fill_null(0), dtype=np.int64) // 1000


def codes(column: pa.ChunkedArray | pa.Array, vocabulary: tuple[str, ...]) -> np.ndarray:
    """A string column as indexes into ``vocabulary``."""
    return np.asarray(pc.index_in(column, value_set=pa.array(vocabulary)).fill_null(-1), dtype=np.int64)


def _group_start(groups: np.ndarray) -> np.ndarray:
    """For sorted group labels: the position where each element's group starts."""
    starts = np.flatnonzero(np.r_[True, groups[1:] != groups[:-1]])
    return np.repeat(starts, np.diff(np.r_[starts, len(groups)]))


def _lognormal(draws: Draws, stream: str, keys: np.ndarray, median: np.ndarray, sigma: float) -> np.ndarray:
    return median * np.exp(sigma * draws.normal(stream, keys))


def build(draws: Draws, tables: dict[str, pa.Table], lam: float, total_users: int) -> tuple[Timeline, Facts]:
    """The chunk's events as columns (see the module docstring for what ``lam`` switches on)."""
    users = tables["users"]
    ids = users["id"].to_numpy()
    start = int(ids[0]) if len(ids) else 0
    persona = codes(tables["user_personas"]["persona"], P.PERSONA_NAMES)
    facts = Facts(
        persona=persona,
        method=draws.choice_by_row("history.method", ids, persona,
                                   np.array([P.HABITS[name].signup_methods for name in P.PERSONA_NAMES])),
        alias=draws.bernoulli("history.alias", ids, 0.2),
        mobile=codes(users["device_type"], P.DEVICES) == P.DEVICES.index("mobile"),
        signup_ms=ms(users["signed_up_at"]),
    )
    parts = _Parts()
    _signup(parts, draws, ids, facts, codes(users["signup_source"], P.SOURCES), lam)
    _onboarding(parts, draws, tables["user_onboarding_progress"], start, facts.signup_ms, lam)
    _features(parts, draws, tables["feature_usage"], start, persona, lam)
    _invitations(parts, draws, tables["invitations"], tables["workspace_members"], start)
    _upgrades(parts, draws, tables["subscriptions"], start, lam)
    cols = parts.arrays()
    foreign = cols["actor"] != ids[cols["gen"]] if len(ids) else np.zeros(0, bool)
    cols["signup"] = facts.signup_ms[cols["gen"]] if len(ids) else np.zeros(0, np.int64)
    cols["signup"][foreign] = signup_times(draws, cols["actor"][foreign], total_users) // 1000
    cols = _sessions(cols, draws, ids, persona, lam)
    return _finish(cols, draws, ids), facts


def _signup(parts: _Parts, draws: Draws, ids: np.ndarray, facts: Facts, source: np.ndarray, lam: float) -> None:
    """The signup visit (landing, form, identify, signup_completed) and the anonymous visits before it."""
    rows = np.arange(len(ids))
    habit = {name: P.habit_array(name)[facts.persona] for name in ("research_visits", "research_days",
                                                                   "form_seconds")}
    signup = facts.signup_ms
    form_at = signup - 200 - (draws.uniform("history.submit", ids) * 1300).astype(np.int64)
    duration = np.clip(_lognormal(draws, "history.form", ids, habit["form_seconds"] * SECOND, 0.5),
                       3 * SECOND, 15 * MINUTE).astype(np.int64)
    started = form_at - duration
    landing = started - np.minimum(10 * SECOND + draws.exponential("history.landing", ids, 3 * MINUTE),
                                   20 * MINUTE).astype(np.int64)
    parts.add(Kind.LANDING, rows, ids, landing)
    keep = 1 + draws.uniform("history.signup_page", ids) < lam
    parts.add(Kind.SIGNUP_PAGE, rows[keep], ids[keep], started[keep] - 500
              - (draws.uniform("history.signup_page.at", ids[keep]) * 1500).astype(np.int64))
    parts.add(Kind.SIGNUP_STARTED, rows, ids, started)
    parts.add(Kind.FORM_FILLED, rows, ids, form_at, num=duration)
    parts.add(Kind.IDENTIFY, rows, ids, signup - 2)
    parts.add(Kind.ALIAS, rows[facts.alias], ids[facts.alias], signup[facts.alias] - 1)
    parts.add(Kind.SIGNUP_COMPLETED, rows, ids, signup)

    # Research visits: invited people come straight from the email; the others may look around first.
    visits = np.where(source == P.SOURCES.index("invite"), 0,
                      draws.poisson("history.research", ids, habit["research_visits"], cap=4))
    v_row, _, v_keys = child_keys(ids, visits)
    gap = 2 * HOUR + draws.exponential("history.research.gap", v_keys, habit["research_days"][v_row] * DAY)
    cum = np.cumsum(gap.astype(np.int64))
    cum -= np.repeat(np.r_[0, cum][np.cumsum(visits) - visits], visits)  # running sum within each person
    v_start = landing[v_row] - cum
    v_keep = 1 + draws.uniform("history.research.keep", v_keys) < lam
    v_row, v_keys, v_start = v_row[v_keep], v_keys[v_keep], v_start[v_keep]
    pages = 1 + draws.integers("history.research.pages", v_keys, 0, 3)
    p_visit, p_ord, p_keys = child_keys(v_keys, pages)
    step = np.where(p_ord == 0, 0, 10 * SECOND + np.minimum(
        draws.exponential("history.research.read", p_keys, MINUTE), 10 * MINUTE)).astype(np.int64)
    at = np.cumsum(step)
    at -= np.repeat(np.r_[0, at][np.cumsum(pages) - pages], pages)
    parts.add(Kind.RESEARCH, v_row[p_visit], ids[v_row[p_visit]], v_start[p_visit] + at,
              ref=draws.integers("history.research.path", p_keys, 0, len(RESEARCH_PAGES)))


RESEARCH_PAGES = (("/", "Onramp: onboarding that adapts"), ("/pricing", "Pricing"), ("/features", "Features"),
                  ("/customers", "Customers"), ("/integrations", "Integrations"),
                  ("/blog/onboarding-guide", "The onboarding guide"))


def _onboarding(parts: _Parts, draws: Draws, progress: pa.Table, start: int, signup: np.ndarray, lam: float) -> None:
    """A view as each step starts; step completion, email verification and onboarding completion at their times."""
    user = progress["user_id"].to_numpy()
    row = user - start
    step = progress["step_id"].to_numpy().astype(np.int64)
    status = codes(progress["status"], ("completed", "in_progress", "skipped"))
    started, done_at, updated = ms(progress["started_at"]), ms(progress["completed_at"]), ms(progress["updated_at"])
    index = np.arange(len(user))
    keys = user * CHILD_SLOTS + step
    view = 1 + draws.uniform("history.step_view", keys) < lam
    parts.add(Kind.STEP_VIEW, row[view], user[view], started[view], ref=index[view])
    done = status == 0
    parts.add(Kind.STEP_COMPLETED, row[done], user[done], done_at[done], ref=index[done])
    email = done & (step == 1)
    parts.add(Kind.EMAIL_VERIFIED, row[email], user[email], done_at[email], ref=index[email],
              num2=(done_at[email] - signup[row[email]]) // SECOND)

    n = len(signup)
    required = done & np.isin(step, REQUIRED_STEPS)
    finished = np.bincount(row[required], minlength=n) == len(REQUIRED_STEPS)
    at = np.zeros(n, dtype=np.int64)
    np.maximum.at(at, row[required], done_at[required])
    completed = np.bincount(row[done & (done_at <= at[row])], minlength=n)
    skipped = np.bincount(row[(status == 2) & (updated <= at[row])], minlength=n)
    who = np.flatnonzero(finished)
    parts.add(Kind.ONBOARDING_COMPLETED, who, who + start, at[who], ref=who, num=completed[who], num2=skipped[who])


def _features(parts: _Parts, draws: Draws, usage: pa.Table, start: int, persona: np.ndarray, lam: float) -> None:
    """feature_used at first_used_at (usage_count 1) and last_used_at (usage_count), repeats in between."""
    user = usage["user_id"].to_numpy()
    row = user - start
    count = usage["usage_count"].to_numpy().astype(np.int64)
    first, last = usage["first_used_at"].cast(pa.int64()).to_numpy(), usage["last_used_at"].cast(pa.int64()).to_numpy()
    keys = user * CHILD_SLOTS + 128 + codes(usage["feature"], P.FEATURES)
    extra = np.zeros(len(user), dtype=np.int64)
    if lam > 2:
        extra = np.floor((lam - 2) * np.log1p(count) + draws.uniform("history.feature.extra", keys)).astype(np.int64)
        extra = np.clip(extra, 0, np.clip(count - 2, 0, CHILD_SLOTS - 2))
    index = np.arange(len(user))
    dwell = P.habit_array("dwell_seconds")[persona[row]]
    e_row, e_ord, _ = child_keys(index, extra)
    u = draws.uniform("history.feature.when", keys[e_row] * CHILD_SLOTS + e_ord)
    order = np.lexsort((u, e_row))  # sorted uniforms within each feature row
    u = u[order]
    total = extra + 2
    nth = 2 + e_ord + np.floor(u * (count[e_row] - total[e_row] + 1)).astype(np.int64)  # strictly increasing
    span = (last - first)[e_row]
    at_us = first[e_row] + (span * (nth - 1) / np.maximum(count[e_row] - 1, 1)).astype(np.int64)
    repeat = count >= 2
    f_row = np.concatenate([index, index[repeat], e_row])
    f_nth = np.concatenate([np.ones(len(index), np.int64), count[repeat], nth])
    f_us = np.concatenate([first, last[repeat], at_us])
    f_ord = np.concatenate([np.zeros(len(index), np.int64), np.ones(int(repeat.sum()), np.int64), 2 + e_ord])
    seconds = np.maximum(1, _lognormal(draws, "history.feature.seconds", keys[f_row] * CHILD_SLOTS + f_ord,
                                       dwell[f_row], 0.8)).astype(np.int64)
    parts.add(Kind.FEATURE_USED, row[f_row], user[f_row], f_us // 1000, ref=f_row, num=f_nth, num2=seconds)


def _invitations(parts: _Parts, draws: Draws, invitations: pa.Table, members: pa.Table, start: int) -> None:
    """invite_sent by the inviter at sent_at; an accepted one is generated with its invitee (whose row it is)."""
    inviter = invitations["inviter_user_id"].to_numpy()
    accepted_user = np.asarray(invitations["accepted_user_id"].fill_null(0), dtype=np.int64)
    accepted = accepted_user > 0
    owner = np.where(accepted, accepted_user, inviter)  # the chunk user the row follows
    member_role = codes(members["role"], ("member", "admin", "owner"))  # one row per user, in id order
    ordinal = np.arange(len(owner)) - _group_start(owner)
    keys = owner * CHILD_SLOTS + np.where(accepted, 512, 256 + ordinal)
    role = np.where(accepted, member_role[np.maximum(accepted_user - start, 0)],
                    draws.bernoulli("history.invite.admin", keys, 0.15).astype(np.int64))
    parts.add(Kind.INVITE_SENT, owner - start, inviter, ms(invitations["sent_at"]), ref=np.arange(len(owner)),
              num=role)


def _upgrades(parts: _Parts, draws: Draws, subscriptions: pa.Table, start: int, lam: float) -> None:
    """plan_upgraded when a paid subscription starts (then identify with the new plan)."""
    paid = np.flatnonzero(np.asarray(pc.not_equal(subscriptions["plan"], "free")))
    user = subscriptions["user_id"].to_numpy()[paid]
    at = ms(subscriptions["started_at"])[paid]
    parts.add(Kind.PLAN_UPGRADED, user - start, user, at, ref=paid)
    keep = 1 + draws.uniform("history.identify_plan", user) < lam
    parts.add(Kind.IDENTIFY_PLAN, user[keep] - start, user[keep], at[keep], ref=paid[keep])


def _sort(cols: dict[str, np.ndarray], *keys: str) -> dict[str, np.ndarray]:
    """Rows ordered by ``keys`` (last one first, like np.lexsort); ties keep their order."""
    order = np.lexsort(tuple(cols[k] for k in reversed(keys)))
    return {name: values[order] for name, values in cols.items()}


def _sessions(cols: dict[str, np.ndarray], draws: Draws, ids: np.ndarray, persona: np.ndarray,
              lam: float) -> dict[str, np.ndarray]:
    """Group each person's events into sessions; add the views that open, bridge and fill them."""
    start = int(ids[0]) if len(ids) else 0
    cols["grp"] = cols["gen"] * 2 + (cols["actor"] != cols["gen"] + start)  # the invitee's copy of an inviter
    cols = _sort(cols, "grp", "ts", "kind")
    same = np.r_[False, cols["grp"][1:] == cols["grp"][:-1]]
    gap = np.r_[NO_GAP, np.diff(cols["ts"])]
    bridge = np.flatnonzero(same & (gap > SESSION_GAP - GAP_MARGIN) & (gap <= SESSION_GAP + GAP_MARGIN))
    extra = {name: values[bridge] for name, values in cols.items()}
    extra.update(ts=cols["ts"][bridge] - gap[bridge] // 2, kind=np.full(len(bridge), Kind.NAV_VIEW, np.int64),
                 ref=np.full(len(bridge), -1, np.int64), num=np.zeros(len(bridge), np.int64),
                 num2=np.zeros(len(bridge), np.int64))
    cols = _sort({name: np.concatenate([cols[name], extra[name]]) for name in cols}, "grp", "ts", "kind")

    grp, ts = cols["grp"], cols["ts"]
    new = np.r_[True, (grp[1:] != grp[:-1]) | (np.diff(ts) > SESSION_GAP)]
    session = np.cumsum(new) - 1
    first, last = np.flatnonzero(new), np.r_[np.flatnonzero(new)[1:], len(ts)] - 1
    s_grp, s_gen = grp[first], cols["gen"][first]
    before = np.where(np.r_[False, s_grp[1:] == s_grp[:-1]], ts[first] - np.r_[0, ts[last][:-1]], NO_GAP)
    after = np.where(np.r_[s_grp[:-1] == s_grp[1:], False], np.r_[ts[first][1:], 0] - ts[last], NO_GAP)
    # a view may move a session's edge by half the room its gap leaves above 31 min (the other half is the
    # neighbour's), and at most a few minutes
    signup = cols["signup"][first]  # of the person: nothing they do as a user comes before it
    lead_room = np.minimum(np.maximum(0, before - SESSION_GAP - GAP_MARGIN) // 2,
                           np.maximum(0, ts[first] - signup - 1))
    tail_room = np.maximum(0, after - SESSION_GAP - GAP_MARGIN) // 2
    s_ordinal = np.arange(len(first)) - _group_start(s_gen)
    s_keys = (ids[s_gen] << 24) + s_ordinal
    added = []

    opens = ~np.isin(cols["kind"][first], VIEWS) & (draws.uniform("history.open", s_keys) < lam)
    lead = np.minimum(5 * SECOND + (draws.uniform("history.open.lead", s_keys) * 85 * SECOND).astype(np.int64),
                      lead_room)
    added.append(_view_rows(cols, first[opens], ts[first][opens] - lead[opens], Kind.OPEN_VIEW, -1))

    post = ts[first] >= signup  # browsing views belong to the app, after signup
    if lam > 2:
        browse = P.habit_array("browse")[persona[s_gen]]
        count = np.floor((lam - 2) * browse + draws.uniform("history.nav", s_keys)).astype(np.int64)
        count = np.where(post, np.minimum(count, CHILD_SLOTS - 1), 0)
        tail = np.minimum((draws.uniform("history.nav.tail", s_keys) * 3 * MINUTE).astype(np.int64), tail_room)
        n_sess, _, n_keys = child_keys(s_keys, count)
        lo, hi = ts[first][n_sess], ts[last][n_sess] + tail[n_sess]
        at = lo + (draws.uniform("history.nav.at", n_keys) * (hi - lo + 1)).astype(np.int64)
        added.append(_view_rows(cols, first[n_sess], at, Kind.NAV_VIEW,
                                draws.integers("history.nav.path", n_keys, 0, 1 << 20)))
    cols["session"] = session
    for rows in added:
        rows["session"] = session[rows.pop("_at")]
    cols = {name: np.concatenate([cols[name], *(rows[name] for rows in added)]) for name in cols}

    skewed = draws.bernoulli("history.skew", s_keys, SKEWED_SESSIONS)
    size = np.exp(np.log(SKEW_RANGE[0]) + draws.uniform("history.skew.size", s_keys)
                  * np.log(SKEW_RANGE[1] / SKEW_RANGE[0]))
    sign = np.where(draws.bernoulli("history.skew.sign", s_keys, 0.5), 1, -1)
    cols["skew"] = np.where(skewed, sign * size.astype(np.int64), 0)[cols["session"]]
    return cols


def _view_rows(cols: dict[str, np.ndarray], like: np.ndarray, ts: np.ndarray, kind: int,
               ref: np.ndarray | int) -> dict[str, np.ndarray]:
    """View events in the sessions of rows ``like`` (same person and generating user)."""
    n = len(like)
    return {"gen": cols["gen"][like], "actor": cols["actor"][like], "grp": cols["grp"][like],
            "signup": cols["signup"][like], "ts": ts,
            "kind": np.full(n, kind, np.int64), "ref": np.broadcast_to(np.asarray(ref, np.int64), (n,)).copy(),
            "num": np.zeros(n, np.int64), "num2": np.zeros(n, np.int64), "_at": like}


def _finish(cols: dict[str, np.ndarray], draws: Draws, ids: np.ndarray) -> Timeline:
    """Final order (generating user, time, kind), event numbers, and the few events a buggy client breaks."""
    cols = _sort(cols, "gen", "ts", "kind")
    gen = cols["gen"]
    k = np.arange(len(gen)) - _group_start(gen) if len(gen) else np.zeros(0, np.int64)
    keys = (ids[gen] << 24) + k if len(gen) else k
    invalid = np.isin(cols["kind"], CORRUPTIBLE) & (draws.uniform("history.invalid", keys) < INVALID_SHARE)
    return Timeline(gen=gen, actor=cols["actor"], ts=cols["ts"], kind=cols["kind"], ref=cols["ref"], num=cols["num"],
                    num2=cols["num2"], session=cols["session"], skew=cols["skew"], invalid=invalid, k=k)
