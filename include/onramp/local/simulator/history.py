"""The event history of the simulated users: what they did before SIM_EPOCH, as Segment messages.

:func:`history_events` yields Segment-format dicts (``type``, ``event``/``name``, ``userId``, ``anonymousId``,
``previousId``, ``properties``/``traits``, ``context``, ``timestamp``, ``messageId``) for a range of user ids,
chunk by chunk. Each chunk calls :func:`~onramp.local.simulator.generate.generate_chunk` for the same users and
derives the events from its rows (:mod:`onramp.local.simulator.timeline`), so the history agrees with the app
database ``onramp simulate`` writes for the same seed and users. The contract, per event:

* before signup, anonymous (``anonymousId`` only): page views; the person's first one carries the acquisition
  channel (referrer, UTM query, ``context.campaign``); ``signup_started`` {signup_source, method,
  referral_code: the code they came with or null}; ``form_filled`` {form: signup, fields: those filled,
  fields_total, duration_ms: ms since signup_started};
* at ``users.signed_up_at``: ``identify`` (2 ms before, traits as live mode), for some an ``alias``
  (previousId = the anonymous id, 1 ms before), then ``signup_completed`` at signed_up_at itself;
* after it, with ``userId`` and the same ``anonymousId``: ``onboarding_step_completed`` {step_id, step_key,
  step_name, sort_order} at each completed progress row's completed_at; ``email_verified``
  {seconds_since_signup} at users.email_verified_at; ``onboarding_completed`` {steps_completed,
  steps_skipped} at the completion of the last required step; ``feature_used`` {feature, workspace_id,
  usage_count: running count, duration_s} at first_used_at (usage_count 1) and last_used_at (the row's
  usage_count), repeats between; ``invite_sent`` {workspace_id, invitation_id, role} at sent_at by the
  inviter; ``plan_upgraded`` {from_plan, to_plan, billing_interval, seats, mrr_cents, currency} when a paid
  subscription starts; page views (web) or screen views (mobile app) in sessions 30+ min apart.

Times are the app's truncated to the millisecond. Two keys starting with ``_sim_`` are simulator truth for
the sender and tests, never sent: ``_sim_clock_skew_ms`` (the device clock was off by that much: ``timestamp``
is shifted, and the sender shifts ``sentAt`` alike) and ``_sim_invalid`` (the event breaks the tracking plan
on purpose; the value is the reason code the collector will give).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from functools import lru_cache
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from onramp.local.simulator import personas as P
from onramp.local.simulator.batch import format_timestamps
from onramp.local.simulator.generate import COUNTED_TABLES, TS, generate_chunk, profiles
from onramp.local.simulator.live import (
    APP,
    LIBRARY,
    SITE,
    campaign_of,
    deterministic_uuid,
    landing_page,
    page_object,
)
from onramp.local.simulator.rng import Draws
from onramp.local.simulator.timeline import RESEARCH_PAGES, Facts, Kind, Timeline, build

SKEW_KEY = "_sim_clock_skew_ms"
INVALID_KEY = "_sim_invalid"
DEFAULT_CHUNK = 5_000
CALIBRATION_BLOCKS, CALIBRATION_BLOCK = 16, 200  # users sampled across the id range to pick the density
APP_INFO = {"name": "Onramp", "version": "3.4.1", "build": "3401", "namespace": "example.onramp.app"}
SIGNUP_KINDS = frozenset(range(Kind.LANDING, Kind.SIGNUP_COMPLETED + 1))
ANONYMOUS_KINDS = frozenset((Kind.LANDING, Kind.RESEARCH, Kind.SIGNUP_PAGE, Kind.SIGNUP_STARTED, Kind.FORM_FILLED))
NAV_PAGES = (("/home", "Home"), *((f"/{f.replace('_', '-')}", f.replace("_", " ").title()) for f in P.FEATURES),
             ("/settings", "Settings"), ("/settings/members", "Members"), ("/billing", "Billing"),
             ("/onboarding", "Get started"), ("/help", "Help center"))
_EMAIL_FORM = ("email", "full_name", "password", "phone", "marketing_opt_in")
_OAUTH_FORM = ("full_name", "phone", "marketing_opt_in")


def history_events(seed: int, total_users: int, *, events_per_user: float = 20.0, start_id: int = 1,
                   stop_id: int | None = None, chunk_size: int = DEFAULT_CHUNK,
                   next_ids: dict[str, int] | None = None) -> Iterator[dict[str, Any]]:
    """Events of users ``start_id <= id < stop_id`` (default: all) of the app built with (seed, total_users).

    About ``events_per_user`` on average, never fewer than the app rows imply (about 20; 0 = none). Same
    arguments, same events byte for byte, whatever ``chunk_size``; memory grows with ``chunk_size`` only.
    ``next_ids``: the child tables' dense ids at ``start_id`` when the caller knows them (else the users
    before ``start_id`` are generated to find them).
    """
    stop_id = total_users + 1 if stop_id is None else stop_id
    if not 1 <= start_id <= stop_id <= total_users + 1:
        raise ValueError(f"user ids {start_id}..{stop_id - 1} are not within the {total_users:,} simulated users")
    if chunk_size < 1 or events_per_user < 0:
        raise ValueError("chunk_size must be at least 1 and events_per_user at least 0")
    return _generate(seed, total_users, float(events_per_user), start_id, stop_id, chunk_size, next_ids)


def _generate(seed: int, total_users: int, events_per_user: float, start_id: int, stop_id: int,
              chunk_size: int, next_ids: dict[str, int] | None) -> Iterator[dict[str, Any]]:
    if events_per_user == 0 or start_id == stop_id:
        return
    lam = density_for(seed, total_users, events_per_user)
    draws = Draws(seed)
    next_ids = dict(next_ids) if next_ids is not None else dense_offsets(draws, start_id, total_users, chunk_size)
    tag = f"{total_users}/{events_per_user:g}"  # messageIds differ between histories of different shapes
    for start in range(start_id, stop_id, chunk_size):
        tables = generate_chunk(draws, start, min(start + chunk_size, stop_id), total_users, next_ids)
        timeline, facts = build(draws, tables, lam, total_users)
        yield from _Renderer(seed, tag, draws, tables, timeline, facts).events()


def dense_offsets(draws: Draws, start_id: int, total_users: int, chunk_size: int) -> dict[str, int]:
    """The next dense id of each child table at user ``start_id`` (generating the users before it)."""
    next_ids = dict.fromkeys(COUNTED_TABLES, 1)
    for start in range(1, start_id, chunk_size):
        generate_chunk(draws, start, min(start + chunk_size, start_id), total_users, next_ids)
    return next_ids


@lru_cache(maxsize=32)
def density_for(seed: int, total_users: int, events_per_user: float) -> float:
    """The ``lam`` of :func:`~onramp.local.simulator.timeline.build` whose mean is ``events_per_user`` per user.

    Measured on blocks of users spread over the id range (early users have had more time), by bisection;
    0 when the app rows alone already imply that many events.
    """
    draws = Draws(seed)
    blocks = [(1, total_users + 1)]
    if total_users > CALIBRATION_BLOCKS * CALIBRATION_BLOCK:  # one block in the middle of each stratum of ids
        middles = (np.arange(CALIBRATION_BLOCKS) + 0.5) * total_users / CALIBRATION_BLOCKS
        blocks = [(s, s + CALIBRATION_BLOCK) for s in (1 + middles - CALIBRATION_BLOCK / 2).astype(int).tolist()]
    samples = [generate_chunk(draws, a, b, total_users, {}) for a, b in blocks]
    users = sum(t["users"].num_rows for t in samples)

    def mean(lam: float) -> float:
        return sum(len(build(draws, tables, lam, total_users)[0]) for tables in samples) / users

    if mean(0.0) >= events_per_user:
        return 0.0
    low, high = 0.0, 1.0
    while mean(high) < events_per_user and high < 1e4:
        low, high = high, high * 2
    for _ in range(14):  # to within high/16,000: far below the mean's sampling noise
        middle = (low + high) / 2
        low, high = (middle, high) if mean(middle) < events_per_user else (low, middle)
    return high


def iso_ms(values: np.ndarray) -> list[str]:
    """Epoch milliseconds as ISO-8601 UTC with milliseconds and a Z (what SDKs send), vectorised."""
    text = format_timestamps(pa.array(np.asarray(values, dtype=np.int64) * 1000, type=TS))
    text = pc.utf8_replace_slice(pc.utf8_replace_slice(text, 10, 11, "T"), 23, 27, "Z")
    return text.to_pylist()


def _uuid(text: str) -> str:
    """``live.deterministic_uuid`` of already joined parts, without building a ``uuid.UUID`` (a third of the time)."""
    digest = bytearray(hashlib.blake2b(text.encode(), digest_size=16).digest())
    digest[6] = digest[6] & 0x0F | 0x40  # version 4
    digest[8] = digest[8] & 0x3F | 0x80  # RFC 4122 variant
    h = digest.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _view_name(title: str) -> str:
    """A page name a buggy client builds from the whole document title: too long for the plan (500)."""
    return " | ".join([title] * (500 // max(len(title), 1) + 2))


class _Renderer:
    """Turns one chunk's timeline into Segment dicts, reading the chunk's rows as Python lists once."""

    def __init__(self, seed: int, tag: str, draws: Draws, tables: dict[str, pa.Table], timeline: Timeline,
                 facts: Facts) -> None:
        self.seed, self.tag, self.t, self.facts = seed, tag, timeline, facts
        users = tables["users"]
        self.users = {name: users[name].to_pylist() for name in (
            "id", "email", "full_name", "phone", "ip_address", "country_code", "locale", "signup_source",
            "utm_campaign", "referral_code", "referred_by_code", "device_type", "os", "browser", "marketing_opt_in")}
        self.workspace = [str(w) for w in tables["workspace_members"]["workspace_id"].to_pylist()]
        self.step_id = tables["user_onboarding_progress"]["step_id"].to_pylist()
        usage = tables["feature_usage"]
        self.feature, self.feature_ws = usage["feature"].to_pylist(), usage["workspace_id"].to_pylist()
        invitations = tables["invitations"]
        self.invitation_id = invitations["id"].to_pylist()
        self.invitation_ws = invitations["workspace_id"].to_pylist()
        subs = tables["subscriptions"]
        self.subs = {name: subs[name].to_pylist() for name in (
            "plan", "billing_interval", "seats", "mrr_cents", "currency")}
        self.signup_iso = iso_ms(facts.signup_ms)
        self.stamps = iso_ms(timeline.ts + timeline.skew)
        self.base: dict[int, tuple[dict[str, Any], bool, str]] = {}  # user id -> (context, mobile, anonymousId)
        self._foreign(draws, np.unique(timeline.actor[timeline.actor != np.asarray(self.users["id"])[timeline.gen]]))
        own = np.flatnonzero(timeline.actor == np.asarray(self.users["id"], dtype=np.int64)[timeline.gen])
        self.first_touch = set(own[np.r_[True, timeline.gen[own][1:] != timeline.gen[own][:-1]]].tolist()) \
            if len(own) else set()

    def _foreign(self, draws: Draws, actor_ids: np.ndarray) -> None:
        """Contexts of inviters outside this chunk, from their profiles (time-independent, like their rows)."""
        if not len(actor_ids):
            return
        prof = profiles(draws, actor_ids)
        ips = prof.ip_address.to_pylist()
        for i, user_id in enumerate(actor_ids.tolist()):
            device, os_, browser = (P.DEVICES[prof.device[i]], P.OS_NAMES[prof.os[i]],
                                    P.BROWSER_NAMES[prof.browser[i]])
            self.base[user_id] = (_context_base(ips[i], os_, browser, device, P.COUNTRY_LOCALES[prof.country[i]]),
                                  device == "mobile", deterministic_uuid(self.seed, "anon", user_id))

    def _person(self, user_id: int, row: int) -> tuple[dict[str, Any], bool, str]:
        found = self.base.get(user_id)
        if found is None:
            u = self.users
            found = self.base[user_id] = (
                _context_base(u["ip_address"][row], u["os"][row], u["browser"][row], u["device_type"][row],
                              u["locale"][row]),
                bool(self.facts.mobile[row]), deterministic_uuid(self.seed, "anon", user_id))
        return found

    def events(self) -> Iterator[dict[str, Any]]:
        t = self.t
        kinds, gens, actors, refs = t.kind.tolist(), t.gen.tolist(), t.actor.tolist(), t.ref.tolist()
        nums, nums2, skews, invalid, ks = t.num.tolist(), t.num2.tolist(), t.skew.tolist(), t.invalid.tolist(), \
            t.k.tolist()
        ids = self.users["id"]
        prefix = f"{self.seed}\x1fhistory\x1f{self.tag}\x1f"  # deterministic_uuid(seed, "history", tag, user, k)
        for i in range(len(kinds)):
            kind, row, actor = kinds[i], gens[i], actors[i]
            base, mobile, anonymous_id = self._person(actor, row)
            in_app = mobile and kind not in SIGNUP_KINDS
            message = self._message(i, kind, row, refs[i], nums[i], nums2[i], base, in_app)
            if kind == Kind.ALIAS:
                message.update(type="alias", previousId=anonymous_id, userId=str(actor))
            elif kind in ANONYMOUS_KINDS:
                message["anonymousId"] = anonymous_id
            else:
                message.update(userId=str(actor), anonymousId=anonymous_id)
            message = {k: message[k] for k in _KEY_ORDER if k in message}
            message["timestamp"] = self.stamps[i]
            message["messageId"] = _uuid(f"{prefix}{ids[row]}\x1f{ks[i]}")
            if skews[i]:
                message[SKEW_KEY] = skews[i]
            if invalid[i]:
                message[INVALID_KEY] = _corrupt(message)
            yield message

    def _message(self, i: int, kind: int, row: int, ref: int, num: int, num2: int, base: dict[str, Any],
                 in_app: bool) -> dict[str, Any]:
        """The call without ids, timestamp and messageId."""
        u = self.users
        if kind in (Kind.LANDING, Kind.RESEARCH):
            if i in self.first_touch:
                user = {"signup_source": u["signup_source"][row], "utm_campaign": u["utm_campaign"][row]}
                page = landing_page(user)
                context = _context(base, page)
                campaign = campaign_of(user)
                if campaign:
                    context["campaign"] = campaign
                return {"type": "page", "name": "Home", "properties": page, "context": context}
            path, title = RESEARCH_PAGES[ref] if kind == Kind.RESEARCH else RESEARCH_PAGES[0]
            return self._view(path, title, "", base, False, SITE)
        if kind == Kind.SIGNUP_PAGE:
            return self._view("/signup", "Create your account", f"{SITE}/", base, False, SITE)
        if kind == Kind.OPEN_VIEW:
            return self._view("/home", "Home", "", base, in_app)
        if kind == Kind.STEP_VIEW:
            step = P.STEPS[self.step_id[ref] - 1]
            return self._view(f"/onboarding/{step.key}", step.name, f"{APP}/onboarding", base, in_app)
        if kind == Kind.NAV_VIEW:
            path, title = NAV_PAGES[ref % len(NAV_PAGES)] if ref >= 0 else NAV_PAGES[0]
            return self._view(path, title, f"{APP}/home", base, in_app)
        return self._call(kind, row, ref, num, num2, base, in_app)

    def _view(self, path: str, title: str, referrer: str, base: dict[str, Any], in_app: bool,
              site: str = APP) -> dict[str, Any]:
        if in_app:
            return {"type": "screen", "name": title, "properties": {"path": path}, "context": _context(base)}
        page = page_object(path, title, referrer, base=site)
        return {"type": "page", "name": title, "properties": page, "context": _context(base, page)}

    def _call(self, kind: int, row: int, ref: int, num: int, num2: int, base: dict[str, Any],
              in_app: bool) -> dict[str, Any]:
        """Track and identify calls (alias: only the context), on the page where they happen."""
        path, title = _CALL_PAGES[kind]
        if kind == Kind.STEP_COMPLETED:
            step = P.STEPS[self.step_id[ref] - 1]
            path, title = f"/onboarding/{step.key}", step.name
        elif kind == Kind.FEATURE_USED:
            feature = self.feature[ref]
            path, title = f"/{feature.replace('_', '-')}", feature.replace("_", " ").title()
        context = _context(base, _page(path, title, in_app))
        if kind == Kind.ALIAS:
            return {"context": context}
        if kind in (Kind.IDENTIFY, Kind.IDENTIFY_PLAN):
            return {"type": "identify", "traits": self._traits(kind, row, ref), "context": context}
        properties = _PROPERTIES[kind](self, row, ref, num, num2)
        return {"type": "track", "event": _EVENT_NAMES[kind], "properties": properties, "context": context}

    def _traits(self, kind: int, row: int, ref: int) -> dict[str, Any]:
        if kind == Kind.IDENTIFY_PLAN:
            return {"plan": self.subs["plan"][ref]}
        u = self.users
        return {"email": u["email"][row], "name": u["full_name"][row], "phone": u["phone"][row], "plan": "free",
                "country": u["country_code"][row], "createdAt": self.signup_iso[row],
                "workspaceId": self.workspace[row]}

    def _signup_started(self, row: int, ref: int, num: int, num2: int) -> dict[str, Any]:
        u = self.users
        return {"signup_source": u["signup_source"][row], "method": P.SIGNUP_METHODS[self.facts.method[row]],
                "referral_code": u["referred_by_code"][row]}

    def _form_filled(self, row: int, ref: int, num: int, num2: int) -> dict[str, Any]:
        form = _EMAIL_FORM if self.facts.method[row] == 0 else _OAUTH_FORM
        filled = {"phone": self.users["phone"][row] is not None,
                  "marketing_opt_in": self.users["marketing_opt_in"][row]}
        return {"form": "signup", "fields": [f for f in form if filled.get(f, True)], "fields_total": len(form),
                "duration_ms": num}

    def _signup_completed(self, row: int, ref: int, num: int, num2: int) -> dict[str, Any]:
        return {"signup_source": self.users["signup_source"][row], "plan": "free",
                "workspace_id": self.workspace[row], "referral_code": self.users["referral_code"][row]}

    def _email_verified(self, row: int, ref: int, num: int, num2: int) -> dict[str, Any]:
        return {"seconds_since_signup": num2}

    def _step_completed(self, row: int, ref: int, num: int, num2: int) -> dict[str, Any]:
        step = P.STEPS[self.step_id[ref] - 1]
        return {"step_id": step.id, "step_key": step.key, "step_name": step.name, "sort_order": step.id}

    def _onboarding_completed(self, row: int, ref: int, num: int, num2: int) -> dict[str, Any]:
        return {"steps_completed": num, "steps_skipped": num2}

    def _feature_used(self, row: int, ref: int, num: int, num2: int) -> dict[str, Any]:
        return {"feature": self.feature[ref], "workspace_id": str(self.feature_ws[ref]), "usage_count": num,
                "duration_s": num2}

    def _invite_sent(self, row: int, ref: int, num: int, num2: int) -> dict[str, Any]:
        return {"workspace_id": str(self.invitation_ws[ref]), "invitation_id": str(self.invitation_id[ref]),
                "role": ("member", "admin")[num]}

    def _plan_upgraded(self, row: int, ref: int, num: int, num2: int) -> dict[str, Any]:
        s = self.subs
        return {"from_plan": "free", "to_plan": s["plan"][ref], "billing_interval": s["billing_interval"][ref],
                "seats": s["seats"][ref], "mrr_cents": s["mrr_cents"][ref], "currency": s["currency"][ref]}


# the properties of each track call; plain functions, so a renderer holds no cycle and is freed with its chunk
_PROPERTIES = {
    Kind.SIGNUP_STARTED: _Renderer._signup_started, Kind.FORM_FILLED: _Renderer._form_filled,
    Kind.SIGNUP_COMPLETED: _Renderer._signup_completed, Kind.EMAIL_VERIFIED: _Renderer._email_verified,
    Kind.STEP_COMPLETED: _Renderer._step_completed, Kind.ONBOARDING_COMPLETED: _Renderer._onboarding_completed,
    Kind.FEATURE_USED: _Renderer._feature_used, Kind.INVITE_SENT: _Renderer._invite_sent,
    Kind.PLAN_UPGRADED: _Renderer._plan_upgraded}
_EVENT_NAMES = {Kind.SIGNUP_STARTED: "signup_started", Kind.FORM_FILLED: "form_filled",
                Kind.SIGNUP_COMPLETED: "signup_completed", Kind.EMAIL_VERIFIED: "email_verified",
                Kind.STEP_COMPLETED: "onboarding_step_completed", Kind.ONBOARDING_COMPLETED: "onboarding_completed",
                Kind.FEATURE_USED: "feature_used", Kind.INVITE_SENT: "invite_sent",
                Kind.PLAN_UPGRADED: "plan_upgraded"}
_CALL_PAGES = {Kind.SIGNUP_STARTED: ("/signup", "Create your account"),
               Kind.FORM_FILLED: ("/signup", "Create your account"), Kind.IDENTIFY: ("/welcome", "Welcome"),
               Kind.ALIAS: ("/welcome", "Welcome"), Kind.SIGNUP_COMPLETED: ("/welcome", "Welcome"),
               Kind.EMAIL_VERIFIED: ("/verify-email", "Email verified"), Kind.STEP_COMPLETED: ("/onboarding", ""),
               Kind.ONBOARDING_COMPLETED: ("/onboarding", "Get started"), Kind.FEATURE_USED: ("/home", ""),
               Kind.INVITE_SENT: ("/settings/members", "Members"), Kind.PLAN_UPGRADED: ("/billing/checkout", "Checkout"),
               Kind.IDENTIFY_PLAN: ("/billing/checkout", "Checkout")}
_SITE_PAGES = frozenset(("/signup",))


def _page(path: str, title: str, in_app: bool) -> dict[str, str] | None:
    """``context.page`` of a call made on that page (none in the mobile app)."""
    if in_app:
        return None
    if path in _SITE_PAGES:
        return page_object(path, title, f"{SITE}/", base=SITE)
    return page_object(path, title, f"{APP}/home")


def _context_base(ip: str, os_: str, browser: str, device: str, locale: str) -> dict[str, Any]:
    """What every event of one person's device carries (live mode's context, without page and campaign)."""
    return {"ip": ip, "userAgent": P.user_agent(os_, browser, device), "locale": locale, "library": LIBRARY,
            "device": {"type": device}, "os": {"name": os_}}


def _context(base: dict[str, Any], page: dict[str, str] | None = None) -> dict[str, Any]:
    if page is None:
        return {**base, "app": APP_INFO}
    return {**base, "page": page}


# one key order for every message: stable JSON, easy to read
_KEY_ORDER = ("type", "event", "name", "userId", "anonymousId", "previousId", "properties", "traits", "context")


def _corrupt(message: dict[str, Any]) -> str:
    """Break the message the way a buggy client would; returns the reason code the collector will give."""
    props = message.get("properties")
    if message["type"] in ("page", "screen"):
        message["name"] = _view_name(message["name"])
        return "schema.maxLength"
    props = message["properties"] = dict(props)
    event = message["event"]
    if event in ("signup_started", "invite_sent", "plan_upgraded"):
        field, value = {"signup_started": ("method", "apple"), "invite_sent": ("role", "owner"),
                        "plan_upgraded": ("billing_interval", "annual")}[event]
        props[field] = value
        return "schema.enum"
    if event == "form_filled":
        props["fields"] = []
        return "schema.minItems"
    if event == "email_verified":
        props["seconds_since_signup"] = -1
        return "schema.minimum"
    if event == "feature_used":
        props["feature"] = props["feature"].replace("_", " ").title()
        return "schema.pattern"
    del props[{"signup_completed": "workspace_id", "onboarding_step_completed": "step_key",
               "onboarding_completed": "steps_completed"}[event]]
    return "schema.required"
