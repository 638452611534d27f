"""Pure, vectorised generation of the application tables for a range of user ids.

Every value is a function of (seed, user id) through :class:`~onramp.local.simulator.rng.Draws`, so a chunk
of users can be generated alone, in any order, with any chunk size; only the dense ids of child rows
depend on how many child rows came before, which the caller tracks with running offsets.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from onramp.local.simulator import personas as P
from onramp.local.simulator.rng import CHILD_SLOTS, Draws, child_keys

US = 1_000_000
MINUTE = 60 * US
HOUR = 60 * MINUTE
DAY = 24 * HOUR
EPOCH_US = int(P.SIM_EPOCH.timestamp()) * US
START_US = EPOCH_US - P.HISTORY_DAYS * DAY
GROWTH = 1.0  # signups per day grow by this factor (+100%) over the history window
INVITER_CANDIDATES = 8
TS = pa.timestamp("us", tz="UTC")

# Column order of each table as COPY sends it (must match sql/migrations/app).
COLUMNS: dict[str, tuple[str, ...]] = {
    "users": ("id", "email", "full_name", "phone", "ip_address", "country_code", "locale", "signup_source",
              "utm_campaign", "referral_code", "referred_by_code", "device_type", "os", "browser", "plan",
              "status", "marketing_opt_in", "email_verified_at", "signed_up_at", "last_seen_at",
              "created_at", "updated_at"),
    "workspaces": ("id", "owner_user_id", "name", "industry", "company_size", "created_at", "updated_at"),
    "workspace_members": ("id", "workspace_id", "user_id", "role", "joined_at", "created_at", "updated_at"),
    "invitations": ("id", "workspace_id", "inviter_user_id", "invitee_email", "status", "accepted_user_id",
                    "sent_at", "accepted_at", "created_at", "updated_at"),
    "user_onboarding_progress": ("id", "user_id", "step_id", "status", "started_at", "completed_at",
                                 "created_at", "updated_at"),
    "subscriptions": ("id", "user_id", "workspace_id", "plan", "status", "billing_interval", "seats",
                      "mrr_cents", "currency", "started_at", "ended_at", "cancel_reason", "created_at",
                      "updated_at"),
    "feature_usage": ("id", "user_id", "workspace_id", "feature", "usage_count", "first_used_at",
                      "last_used_at", "created_at", "updated_at"),
}
# Tables whose ids are dense counters across chunks (users and workspaces use the user id).
COUNTED_TABLES = ("workspace_members", "invitations", "user_onboarding_progress", "subscriptions", "feature_usage")
CANCEL_REASONS = ("too_expensive", "missing_features", "switched_competitor", "no_longer_needed",
                  "poor_onboarding")
_REF_ALPHABET = pa.array(list("23456789ABCDEFGHJKLMNPQRSTUVWXYZ"))  # 32 symbols, no 0/O/1/I


def _ascii(name: str) -> str:
    """Email-safe form of a name: accents stripped, lowercase, letters only."""
    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return "".join(ch for ch in folded.lower() if ch.isalpha())


def _flatten_pools(index: int) -> tuple[pa.Array, pa.Array, np.ndarray, np.ndarray]:
    """All first (index 0) or last (1) names of every pool, with per-pool offsets and sizes."""
    names: list[str] = []
    offsets, sizes = [], []
    for key in P.NAME_POOL_KEYS:
        pool = P.NAME_POOLS[key][index]
        offsets.append(len(names))
        sizes.append(len(pool))
        names.extend(pool)
    return pa.array(names), pa.array([_ascii(n) for n in names]), np.array(offsets), np.array(sizes)


_FIRST, _FIRST_ASCII, _FIRST_OFF, _FIRST_LEN = _flatten_pools(0)
_LAST, _LAST_ASCII, _LAST_OFF, _LAST_LEN = _flatten_pools(1)
_COMPANY_ASCII = pa.array([_ascii(w) for w in P.COMPANY_WORDS])


def _strings(values: tuple[str, ...] | list[str], index: np.ndarray) -> pa.Array:
    """Look up many indexes in a small string vocabulary."""
    return pa.array(values).take(pa.array(index))


def _ts(us: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
    """Microseconds since the Unix epoch as a timestamptz column (null where not ``valid``)."""
    mask = None if valid is None else ~np.asarray(valid)
    return pa.array(np.asarray(us, dtype=np.int64), type=TS, mask=mask)


def _text(values: np.ndarray) -> pa.Array:
    """Integers as text."""
    return pc.cast(pa.array(values), pa.string())


def personas_of(draws: Draws, ids: np.ndarray) -> np.ndarray:
    """Hidden persona code (index into personas.PERSONAS) of each user id."""
    return draws.choice("persona", ids, P.PERSONA_SHARES)


def raw_sources_of(draws: Draws, ids: np.ndarray, persona: np.ndarray) -> np.ndarray:
    """Signup source drawn from the persona, before invites without a usable inviter are redirected."""
    return draws.choice_by_row("source", ids, persona, P.SOURCE_TABLE)


def signup_times(draws: Draws, ids: np.ndarray, total_users: int) -> np.ndarray:
    """Signup instants (us), increasing with id: growing volume, busy afternoons and weekdays."""
    x = (ids - 1 + draws.uniform("signup", ids)) / max(total_users, 1)
    x = (np.sqrt(1.0 + 2.0 * GROWTH * x * (1.0 + GROWTH / 2.0)) - 1.0) / GROWTH  # inverse CDF of 1 + g*x
    t = START_US + x * (EPOCH_US - START_US)
    # Monotone warps t - A*P/(2*pi)*sin(2*pi*(t-peak)/P) concentrate signups around each period's peak.
    for period, amplitude, peak in ((7 * DAY, 0.3, 5.5 * DAY), (DAY, 0.6, 15 * HOUR)):  # daily last: stays sharp
        t = t - amplitude * period / (2 * np.pi) * np.sin(2 * np.pi * (t - peak) / period)
    return np.clip(t.astype(np.int64), START_US, EPOCH_US - 10 * MINUTE)


def workspace_created(draws: Draws, ids: np.ndarray, signup: np.ndarray) -> np.ndarray:
    """When an owner's workspace was created: minutes after signup."""
    return np.minimum(signup + draws.exponential("ws.created", ids, 4 * MINUTE).astype(np.int64) + US,
                      EPOCH_US - MINUTE)


def referral_codes(ids: np.ndarray) -> pa.Array:
    """8-character share code per user: a bijection of the id, so codes are unique without a lookup."""
    scrambled = (ids.astype(np.uint64) * np.uint64(0x9E3779B1)) & np.uint64((1 << 40) - 1)
    parts = [_REF_ALPHABET.take(pa.array(((scrambled >> np.uint64(5 * k)) & np.uint64(31)).astype(np.int64)))
             for k in range(8)]
    return pc.binary_join_element_wise(*parts, "")


def resolve_inviters(draws: Draws, ids: np.ndarray, raw_source: np.ndarray) -> np.ndarray:
    """Inviting user of each invited signup (0 when none): an earlier workspace owner, team builders first."""
    inviter = np.zeros(len(ids), dtype=np.int64)
    invited = np.flatnonzero((raw_source == P.SOURCES.index("invite")) & (ids > 1))
    if invited.size == 0:
        return inviter
    me = ids[invited]
    best = np.zeros(len(me), dtype=np.int64)
    fallback = np.zeros(len(me), dtype=np.int64)
    for c in range(INVITER_CANDIDATES):
        cand = 1 + np.floor(draws.uniform(f"inviter.{c}", me) * (me - 1)).astype(np.int64)
        cand_persona = personas_of(draws, cand)
        owner = raw_sources_of(draws, cand, cand_persona) != P.SOURCES.index("invite")
        best = np.where((best == 0) & owner & (cand_persona == P.TEAM_BUILDER), cand, best)
        fallback = np.where((fallback == 0) & owner, cand, fallback)
    inviter[invited] = np.where(best > 0, best, fallback)
    return inviter


@dataclass
class Profile:
    """Who a user is and how they arrived: everything about a signup that does not depend on time."""

    ids: np.ndarray
    persona: np.ndarray
    source: np.ndarray  # index into SOURCES, after invite resolution
    inviter: np.ndarray  # 0 when not invited
    country: np.ndarray
    device: np.ndarray
    os: np.ndarray
    browser: np.ndarray
    campaign: pa.Array
    email: pa.Array
    full_name: pa.Array
    first_name: pa.Array
    phone: pa.Array
    ip_address: pa.Array
    referral_code: pa.Array
    referred_by: np.ndarray  # referring user id, 0 when none
    opt_in: np.ndarray


def profiles(draws: Draws, ids: np.ndarray, persona: np.ndarray | None = None,
             raw_source: np.ndarray | None = None) -> Profile:
    """Draw the time-independent attributes of users ``ids`` (shared by batch and live mode)."""
    ids = np.asarray(ids, dtype=np.int64)
    persona = personas_of(draws, ids) if persona is None else persona
    raw_source = raw_sources_of(draws, ids, persona) if raw_source is None else raw_source
    inviter = resolve_inviters(draws, ids, raw_source)
    source = np.where((raw_source == P.SOURCES.index("invite")) & (inviter == 0),
                      P.SOURCES.index("organic"), raw_source)

    country = draws.choice("country", ids, P.COUNTRY_WEIGHTS)
    device = draws.choice_by_row("device", ids, persona, P.DEVICE_TABLE)
    os_ = draws.choice_by_row("os", ids, device, P.OS_TABLE)
    browser = draws.choice_by_row("browser", ids, os_, P.BROWSER_TABLE)

    pool = P.COUNTRY_POOL[country]
    fi = _FIRST_OFF[pool] + np.floor(draws.uniform("first", ids) * _FIRST_LEN[pool]).astype(np.int64)
    li = _LAST_OFF[pool] + np.floor(draws.uniform("last", ids) * _LAST_LEN[pool]).astype(np.int64)
    first, last = _FIRST.take(pa.array(fi)), _LAST.take(pa.array(li))
    first_a, last_a = _FIRST_ASCII.take(pa.array(fi)), _LAST_ASCII.take(pa.array(li))
    full_name = pc.binary_join_element_wise(first, last, " ")

    # Every pattern ends in the id and names have no digits, so emails are unique by construction.
    digits = _text(ids)
    domain = _strings(P.EMAIL_DOMAINS, draws.choice("email.domain", ids, P.EMAIL_DOMAIN_WEIGHTS))
    initial = pc.utf8_slice_codeunits(first_a, 0, 1)
    pattern = draws.choice("email.pattern", ids, (45, 25, 15, 15))
    local = pc.case_when(
        pc.make_struct(pa.array(pattern == 0), pa.array(pattern == 1), pa.array(pattern == 2)),
        pc.binary_join_element_wise(first_a, ".", last_a, digits, ""),
        pc.binary_join_element_wise(initial, last_a, digits, ""),
        pc.binary_join_element_wise(first_a, "_", last_a, digits, ""),
        pc.binary_join_element_wise(first_a, digits, ""),
    )
    email = pc.binary_join_element_wise(local, domain, "@")

    n_digits = P.COUNTRY_DIGITS[country]
    lead = draws.integers("phone.lead", ids, 2, 10)
    rest = np.floor(draws.uniform("phone.rest", ids) * 10.0 ** (n_digits - 1)).astype(np.int64)
    phone = pc.binary_join_element_wise(
        pa.array(["+"] * len(ids), pa.string()), _strings(P.COUNTRY_CALLING, country), _text(lead),
        _pad_per_row(rest, n_digits - 1), "")
    phone = pc.if_else(pa.array(draws.bernoulli("phone.given", ids, 0.7)), phone, pa.nulls(len(ids), pa.string()))

    first_octet = _PUBLIC_FIRST_OCTETS[draws.integers("ip.0", ids, 0, len(_PUBLIC_FIRST_OCTETS))]
    ip_address = pc.binary_join_element_wise(
        _text(first_octet), _text(draws.integers("ip.1", ids, 0, 256)),
        _text(draws.integers("ip.2", ids, 0, 256)), _text(draws.integers("ip.3", ids, 1, 255)), ".")

    campaign_idx = draws.uniform("utm.campaign", ids)
    campaigns: list[str | None] = [None] * len(ids)
    source_names = np.array(P.SOURCES)[source] if len(ids) else np.array([], dtype=str)
    for name, options in P.UTM_CAMPAIGNS.items():
        rows = np.flatnonzero(source_names == name)
        picks = np.floor(campaign_idx[rows] * len(options)).astype(np.int64)
        for r, k in zip(rows.tolist(), picks.tolist(), strict=True):
            campaigns[r] = options[k]

    referral = source == P.SOURCES.index("referral")
    referred_by = np.where(referral & (ids > 1),
                           1 + np.floor(draws.uniform("referrer", ids) * (ids - 1)).astype(np.int64), 0)
    opt_in = draws.bernoulli("opt_in", ids, P.persona_array("opt_in_p")[persona])
    return Profile(
        ids=ids, persona=persona, source=source, inviter=inviter, country=country, device=device, os=os_,
        browser=browser, campaign=pa.array(campaigns, pa.string()), email=email, full_name=full_name,
        first_name=first, phone=phone, ip_address=ip_address, referral_code=referral_codes(ids),
        referred_by=referred_by, opt_in=opt_in,
    )


_PUBLIC_FIRST_OCTETS = np.array([o for o in range(1, 224) if o not in (10, 100, 127, 169, 172, 192, 198)])


def _pad_per_row(values: np.ndarray, widths: np.ndarray) -> pa.Array:
    """Zero-pad each integer to its own width (phone numbers differ in length by country)."""
    text = _text(values)
    out = text
    for width in np.unique(widths).tolist():
        padded = pc.utf8_lpad(text, width=int(width), padding="0")
        out = pc.if_else(pa.array(widths == width), padded, out)
    return out


def generate_chunk(draws: Draws, start_id: int, stop_id: int, total_users: int,
                   next_ids: dict[str, int]) -> dict[str, pa.Table]:
    """All rows of users ``start_id <= id < stop_id``; advances ``next_ids`` (dense child-row ids)."""
    ids = np.arange(start_id, stop_id, dtype=np.int64)
    n = len(ids)
    prof = profiles(draws, ids)
    persona = prof.persona
    attr = {name: P.persona_array(name)[persona] for name in (
        "step_touch", "step_gap_hours", "feature_mean", "usage_log_mean", "invites_mean", "convert_p",
        "convert_days", "churn_p", "churn_days", "annual_p")}
    signup = signup_times(draws, ids, total_users)
    invited = prof.inviter > 0
    owner = ~invited
    ws_created = workspace_created(draws, ids, signup)
    workspace_of = np.where(invited, prof.inviter, ids)

    # Lifecycle: upgrade to paid, then maybe churn; only what happened before the epoch is visible.
    conv_at = signup + draws.exponential("convert.at", ids, attr["convert_days"] * DAY).astype(np.int64) + HOUR
    converted = draws.bernoulli("convert", ids, attr["convert_p"]) & (conv_at < EPOCH_US)
    churn_from = np.where(converted, conv_at, signup)
    churn_at = churn_from + draws.exponential("churn.at", ids, attr["churn_days"] * DAY).astype(np.int64) + HOUR
    churned = draws.bernoulli("churn", ids, attr["churn_p"]) & (churn_at < EPOCH_US)
    active_until = np.where(churned, churn_at, EPOCH_US)
    paid_plan = draws.choice_by_row("plan.paid", ids, persona, P.PAID_PLAN_TABLE) + 1  # index into PLANS
    plan = np.where(converted & ~churned, paid_plan, 0)
    last_seen = np.maximum(signup, np.where(converted, conv_at, signup))

    tables: dict[str, pa.Table] = {}

    # Onboarding progress: a (users x steps) grid, flattened row-major so rows group by user.
    n_steps = len(P.STEPS)
    grid_keys = ids[:, None] * CHILD_SLOTS + np.arange(n_steps)[None, :]
    r = draws.uniform("step", grid_keys)
    p_done = P.STEP_COMPLETE[persona]
    done = r < p_done
    touched = ~done & (r < p_done + (1 - p_done) * attr["step_touch"][:, None])
    gap_scale = np.where(np.arange(n_steps) == 0, 0.05, 1.0)[None, :]  # verifying email comes first, fast
    gaps = draws.exponential("step.gap", grid_keys, attr["step_gap_hours"][:, None] * HOUR * gap_scale)
    started = signup[:, None] + np.cumsum(gaps, axis=1).astype(np.int64) + MINUTE
    took = draws.exponential("step.took", grid_keys, attr["step_gap_hours"][:, None] * HOUR / 4).astype(np.int64)
    finished = started + took + US
    keep = (done | touched) & (started < active_until[:, None])
    done_in_time = done & (finished < active_until[:, None])
    skipped = touched & draws.bernoulli("step.skip", grid_keys, 0.4)
    status_code = np.where(done_in_time, 0, np.where(skipped & (finished < active_until[:, None]), 2, 1))
    rows_u, rows_s = np.nonzero(keep)
    st, fin, code = started[rows_u, rows_s], finished[rows_u, rows_s], status_code[rows_u, rows_s]
    completed_at_valid = code == 0
    updated = np.where(code == 1, st, fin)
    tables["user_onboarding_progress"] = pa.table({
        "id": _dense(next_ids, "user_onboarding_progress", len(rows_u)),
        "user_id": ids[rows_u],
        "step_id": pa.array((rows_s + 1).astype(np.int16)),
        "status": _strings(("completed", "in_progress", "skipped"), code),
        "started_at": _ts(st), "completed_at": _ts(fin, completed_at_valid),
        "created_at": _ts(st), "updated_at": _ts(updated),
    })
    verified = np.zeros(n, dtype=bool)
    verified_at = np.zeros(n, dtype=np.int64)
    first_step = (rows_s == 0) & completed_at_valid
    verified[rows_u[first_step]] = True
    verified_at[rows_u[first_step]] = fin[first_step]
    np.maximum.at(last_seen, rows_u, updated)

    # Feature usage: k distinct features per user, picked by persona weight (exponential race).
    n_feat = len(P.FEATURES)
    k = np.minimum(draws.poisson("feature.count", ids, attr["feature_mean"], cap=n_feat), n_feat)
    feat_keys = ids[:, None] * CHILD_SLOTS + 64 + np.arange(n_feat)[None, :]
    race = draws.exponential("feature.race", feat_keys, 1.0) / P.FEATURE_TABLE[persona]
    order = np.argsort(race, axis=1, kind="stable")
    chosen = np.arange(n_feat)[None, :] < k[:, None]
    fu_u = np.repeat(np.arange(n), k)
    fu_f = order[chosen]
    fu_keys = ids[fu_u] * CHILD_SLOTS + 128 + fu_f
    first_used = signup[fu_u] + draws.exponential(
        "feature.first", fu_keys, attr["step_gap_hours"][fu_u] * 3 * HOUR).astype(np.int64) + MINUTE
    fu_keep = first_used < active_until[fu_u]
    fu_u, fu_f, fu_keys, first_used = fu_u[fu_keep], fu_f[fu_keep], fu_keys[fu_keep], first_used[fu_keep]
    span = active_until[fu_u] - first_used
    last_used = first_used + (span * np.sqrt(draws.uniform("feature.last", fu_keys))).astype(np.int64)
    uses = 1 + np.floor(np.exp(attr["usage_log_mean"][fu_u] + draws.normal("feature.uses", fu_keys))
                        * np.sqrt(1 + span / (30 * DAY))).astype(np.int64)
    tables["feature_usage"] = pa.table({
        "id": _dense(next_ids, "feature_usage", len(fu_u)),
        "user_id": ids[fu_u], "workspace_id": workspace_of[fu_u],
        "feature": _strings(P.FEATURES, fu_f),
        "usage_count": pa.array(np.minimum(uses, 1_000_000).astype(np.int32)),
        "first_used_at": _ts(first_used), "last_used_at": _ts(last_used),
        "created_at": _ts(first_used), "updated_at": _ts(last_used),
    })
    np.maximum.at(last_seen, fu_u, last_used)

    # Workspaces (owners only; the workspace id is the owner's user id) and memberships.
    own = np.flatnonzero(owner)
    ws_word = draws.integers("ws.word", ids[own], 0, len(P.COMPANY_WORDS))
    ws_suffix = draws.integers("ws.suffix", ids[own], 0, len(P.COMPANY_SUFFIXES))
    tables["workspaces"] = pa.table({
        "id": ids[own], "owner_user_id": ids[own],
        "name": pc.binary_join_element_wise(_strings(P.COMPANY_WORDS, ws_word),
                                            _strings(P.COMPANY_SUFFIXES, ws_suffix), " "),
        "industry": _strings(P.INDUSTRIES, draws.choice("ws.industry", ids[own], P.INDUSTRY_WEIGHTS)),
        "company_size": _strings(P.COMPANY_SIZES, draws.choice_by_row(
            "ws.size", ids[own], persona[own], P.COMPANY_SIZE_TABLE)),
        "created_at": _ts(ws_created[own]), "updated_at": _ts(ws_created[own]),
    })
    joined = np.where(invited, signup, ws_created)
    role = np.where(owner, 0, np.where(draws.bernoulli("member.admin", ids, 0.15), 1, 2))
    tables["workspace_members"] = pa.table({
        "id": _dense(next_ids, "workspace_members", n),
        "workspace_id": workspace_of, "user_id": ids,
        "role": _strings(("owner", "admin", "member"), role),
        "joined_at": _ts(joined), "created_at": _ts(joined), "updated_at": _ts(joined),
    })

    # Invitations: the accepted one behind each invited signup, then open ones owners sent.
    inv = np.flatnonzero(invited)
    inviter = prof.inviter[inv]
    inviter_ws = workspace_created(draws, inviter, signup_times(draws, inviter, total_users))
    acc_sent = np.clip(signup[inv] - draws.exponential("invite.lead", ids[inv], DAY).astype(np.int64),
                       inviter_ws, signup[inv])
    extra = np.where(owner, draws.poisson("invite.count", ids, attr["invites_mean"], cap=40), 0)
    ex_u, _, ex_keys = child_keys(ids, extra)
    ex_keys = ex_keys + 256
    ex_sent = ws_created[ex_u] + draws.exponential("invite.sent", ex_keys, 2 * DAY).astype(np.int64)
    ex_keep = ex_sent < active_until[ex_u]
    ex_u, ex_keys, ex_sent = ex_u[ex_keep], ex_keys[ex_keep], ex_sent[ex_keep]
    expired = ex_sent < EPOCH_US - 14 * DAY
    ex_first = _FIRST_ASCII.take(pa.array(draws.integers("invite.first", ex_keys, 0, len(_FIRST_ASCII))))
    ex_last = _LAST_ASCII.take(pa.array(draws.integers("invite.last", ex_keys, 0, len(_LAST_ASCII))))
    ex_domain = pc.binary_join_element_wise(
        _COMPANY_ASCII.take(pa.array(draws.integers("ws.word", ids[ex_u], 0, len(P.COMPANY_WORDS)))),
        pa.array(["com"] * len(ex_u), pa.string()), ".")
    ex_email = pc.binary_join_element_wise(
        pc.binary_join_element_wise(ex_first, ex_last, "."), ex_domain, "@")
    n_inv = len(inv) + len(ex_u)
    # Rows follow the user they came from (invitee or sender), so ids do not depend on chunk size.
    by_user = np.argsort(np.concatenate([inv, ex_u]), kind="stable")
    invitations = pa.table({
        "workspace_id": np.concatenate([inviter, ids[ex_u]]),
        "inviter_user_id": np.concatenate([inviter, ids[ex_u]]),
        "invitee_email": pa.concat_arrays([prof.email.take(pa.array(inv)), ex_email.cast(pa.string())]),
        "status": _strings(("accepted", "pending", "expired"),
                           np.concatenate([np.zeros(len(inv), np.int64), np.where(expired, 2, 1)])),
        "accepted_user_id": pa.array(np.concatenate([ids[inv], np.zeros(len(ex_u), np.int64)]),
                                     mask=np.concatenate([np.zeros(len(inv), bool), np.ones(len(ex_u), bool)])),
        "sent_at": _ts(np.concatenate([acc_sent, ex_sent])),
        "accepted_at": _ts(np.concatenate([signup[inv], ex_sent]),
                           np.concatenate([np.ones(len(inv), bool), np.zeros(len(ex_u), bool)])),
        "created_at": _ts(np.concatenate([acc_sent, ex_sent])),
        "updated_at": _ts(np.concatenate([signup[inv], np.where(expired, ex_sent + 14 * DAY, ex_sent)])),
    }).take(pa.array(by_user))
    tables["invitations"] = invitations.add_column(0, "id", pa.array(_dense(next_ids, "invitations", n_inv)))
    np.maximum.at(last_seen, ex_u, ex_sent)

    # Subscriptions: a free row from signup; upgraders add a paid row (canceled if they churned).
    paid = np.flatnonzero(converted)
    yearly = draws.bernoulli("sub.yearly", ids[paid], attr["annual_p"][paid])
    seat_mean = attr["invites_mean"][paid] * np.array([0.2, 0.8, 3.0])[paid_plan[paid] - 1]
    seats = 1 + draws.poisson("sub.seats", ids[paid], np.round(seat_mean, 1), cap=200)
    seats = np.where(paid_plan[paid] == 3, np.maximum(seats, 10), seats)
    price = np.array([P.PLAN_PRICE_CENTS[p] for p in P.PLANS])[paid_plan[paid]]
    mrr = np.round(price * seats * np.where(yearly, 0.8, 1.0)).astype(np.int32)
    currency = _strings(P.COUNTRY_CURRENCY, prof.country)
    sub_user = np.concatenate([np.arange(n), paid])
    order_rows = np.argsort(sub_user, kind="stable")
    free_status = np.where(converted, 1, 0)
    paid_status = np.where(churned[paid], 2, 0)
    cancel = _strings(CANCEL_REASONS, draws.choice("sub.cancel", ids[paid], (30, 20, 15, 25, 10)))
    sub = pa.table({
        "user_id": ids[sub_user], "workspace_id": workspace_of[sub_user],
        "plan": _strings(P.PLANS, np.concatenate([np.zeros(n, np.int64), paid_plan[paid]])),
        "status": _strings(("active", "superseded", "canceled"), np.concatenate([free_status, paid_status])),
        "billing_interval": pa.concat_arrays([pa.nulls(n, pa.string()),
                                              _strings(("month", "year"), yearly.astype(np.int64))]),
        "seats": pa.array(np.concatenate([np.ones(n, np.int32), seats.astype(np.int32)])),
        "mrr_cents": pa.array(np.concatenate([np.zeros(n, np.int32), mrr])),
        "currency": pa.concat_arrays([currency, currency.take(pa.array(paid))]),
        "started_at": _ts(np.concatenate([signup, conv_at[paid]])),
        "ended_at": _ts(np.concatenate([conv_at, churn_at[paid]]),
                        np.concatenate([converted, churned[paid]])),
        "cancel_reason": pc.if_else(pa.array(np.concatenate([np.zeros(n, bool), churned[paid]])),
                                    pa.concat_arrays([pa.nulls(n, pa.string()), cancel]),
                                    pa.nulls(n + len(paid), pa.string())),
        "created_at": _ts(np.concatenate([signup, conv_at[paid]])),
        "updated_at": _ts(np.concatenate([np.where(converted, conv_at, signup),
                                          np.where(churned[paid], churn_at[paid], conv_at[paid])])),
    }).take(pa.array(order_rows))
    tables["subscriptions"] = sub.add_column(0, "id", pa.array(_dense(next_ids, "subscriptions", len(sub_user))))

    # Users last: last_seen_at gathers every activity above.
    last_seen = np.where(churned, np.minimum(last_seen, churn_at), last_seen)
    users_updated = np.maximum.reduce([signup, np.where(verified, verified_at, signup),
                                       np.where(converted, conv_at, signup), np.where(churned, churn_at, signup)])
    referred_code = referral_codes(np.maximum(prof.referred_by, 1))
    tables["users"] = pa.table({
        "id": ids, "email": prof.email, "full_name": prof.full_name, "phone": prof.phone,
        "ip_address": prof.ip_address, "country_code": _strings(P.COUNTRY_CODES, prof.country),
        "locale": _strings(P.COUNTRY_LOCALES, prof.country), "signup_source": _strings(P.SOURCES, prof.source),
        "utm_campaign": prof.campaign, "referral_code": prof.referral_code,
        "referred_by_code": pc.if_else(pa.array(prof.referred_by > 0), referred_code, pa.nulls(n, pa.string())),
        "device_type": _strings(P.DEVICES, prof.device), "os": _strings(P.OS_NAMES, prof.os),
        "browser": _strings(P.BROWSER_NAMES, prof.browser), "plan": _strings(P.PLANS, plan),
        "status": _strings(("active", "churned"), churned.astype(np.int64)),
        "marketing_opt_in": pa.array(prof.opt_in),
        "email_verified_at": _ts(verified_at, verified), "signed_up_at": _ts(signup),
        "last_seen_at": _ts(last_seen), "created_at": _ts(signup), "updated_at": _ts(users_updated),
    })
    tables["user_personas"] = pa.table({"user_id": ids, "persona": _strings(P.PERSONA_NAMES, persona)})
    return {name: tables[name] for name in (*COLUMNS, "user_personas")}


def _dense(next_ids: dict[str, int], table: str, count: int) -> np.ndarray:
    """Take ``count`` consecutive ids for ``table`` from the running counter."""
    start = next_ids.get(table, 1)
    next_ids[table] = start + count
    return np.arange(start, start + count, dtype=np.int64)
