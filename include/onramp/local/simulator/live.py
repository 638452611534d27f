"""Live mode: keep the app database changing and emit the matching Segment events at a steady rate.

Each action (a signup, an onboarding step, a feature use, an invitation, an upgrade, an account
deletion) commits its inserts/updates/deletes in the app database and emits the events a product's
SDK would send, with the same user ids. Live traffic is real time: row and event timestamps are the
wall clock; what happens, and every messageId, follows from the seed and the run number recorded in
``sim_truth.live_runs`` (so messageIds never repeat across runs and never collide in the collector).
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import numpy as np
import psycopg
from psycopg.rows import dict_row

from onramp import db
from onramp.local.simulator import personas as P
from onramp.local.simulator.generate import profiles
from onramp.local.simulator.rng import Draws
from onramp.local.simulator.sinks import EventSink

log = logging.getLogger(__name__)

LIBRARY = {"name": "onramp-simulator", "version": "0.1.0"}
SITE = "https://www.onramp.example"
APP = "https://app.onramp.example"
# Relative frequency of each action; signups outnumber deletions so the user base grows.
ACTIONS = {"signup": 25, "step": 25, "feature": 30, "invite": 8, "upgrade": 7, "delete": 5}
ABANDON_P = 0.2  # share of started signups that never complete
REFERRERS = {
    "organic": "https://www.google.com/", "paid_search": "https://www.google.com/",
    "paid_social": "https://www.facebook.com/", "social": "https://www.linkedin.com/",
    "referral": f"{SITE}/r/", "partner": "https://partners.example.com/",
    "content": "https://blog.onramp.example/onboarding-guide", "invite": "https://mail.google.com/",
}
_USER_COLUMNS = ("id, email, full_name, phone, host(ip_address) as ip, country_code, locale, signup_source,"
                 " utm_campaign, device_type, os, browser, plan, referral_code")
_PLAN_ORDER = {plan: i for i, plan in enumerate(P.PLANS)}


def deterministic_uuid(*parts: object) -> str:
    """A version-4-shaped UUID that is a pure function of ``parts`` (seeded message and anonymous ids)."""
    digest = hashlib.blake2b("\x1f".join(map(str, parts)).encode(), digest_size=16).digest()
    return str(uuid.UUID(bytes=digest, version=4))


def iso(at: datetime) -> str:
    """ISO-8601 UTC with milliseconds and a Z, as Segment libraries send it."""
    return at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _context(user: dict[str, Any], page: dict[str, str] | None = None) -> dict[str, Any]:
    """Segment ``context`` for a user: ip, user agent, locale, page and UTM campaign."""
    context: dict[str, Any] = {
        "ip": user["ip"], "userAgent": P.user_agent(user["os"], user["browser"], user["device_type"]), "locale": user["locale"],
        "library": LIBRARY,
        "device": {"type": user["device_type"]}, "os": {"name": user["os"]},
    }
    if page is not None:
        context["page"] = page
    campaign = campaign_of(user)
    if campaign:
        context["campaign"] = campaign
    return context


def campaign_of(user: dict[str, Any]) -> dict[str, str] | None:
    """UTM fields of the user's acquisition channel (none for organic or invited users)."""
    source = user["signup_source"]
    if source not in P.UTM_SOURCE:
        return None
    return {"source": P.UTM_SOURCE[source], "medium": P.UTM_MEDIUM[source],
            "name": user.get("utm_campaign") or P.UTM_CAMPAIGNS[source][0]}


def page_object(path: str, title: str, referrer: str = "", search: str = "", base: str = APP) -> dict[str, str]:
    """Segment page object (used for both ``context.page`` and page-call properties)."""
    url = f"{base}{path}{'?' + search if search else ''}"
    return {"path": path, "referrer": referrer, "search": search, "title": title, "url": url}


def landing_page(user: dict[str, Any]) -> dict[str, str]:
    """The site's home page as a visitor first lands on it: the channel's referrer and UTM query."""
    campaign = campaign_of(user)
    search = urlencode({"utm_source": campaign["source"], "utm_medium": campaign["medium"],
                        "utm_campaign": campaign["name"]}) if campaign else ""
    return page_object("/", "Onramp: onboarding that adapts", REFERRERS[user["signup_source"]], search, base=SITE)


class LiveRun:
    """One live session: picks actions from the seed, writes the app database, yields events."""

    def __init__(self, conn: psycopg.Connection, seed: int, run_no: int) -> None:
        self.conn = conn
        self.seed = seed
        self.run_no = run_no
        self.draws = Draws(seed * 1_000_003 + run_no)
        self.profile_draws = Draws(seed)
        self.counts: Counter[str] = Counter()
        self.action_no = 0
        self.max_user_id = conn.execute("select coalesce(max(id), 0) as max_id from app.users").fetchone()["max_id"]
        self._action_names = tuple(ACTIONS)
        self._action_weights = np.array(list(ACTIONS.values()), dtype=np.float64)

    # --- random helpers keyed by (run, action number): the same run replays the same choices ---
    def _u(self, stream: str) -> float:
        return float(self.draws.uniform(stream, np.array([self.action_no]))[0])

    def _pick(self, stream: str, options: tuple[str, ...], weights: np.ndarray | tuple[float, ...]) -> str:
        return options[int(self.draws.choice(stream, np.array([self.action_no]), weights)[0])]

    def actions(self) -> Iterator[dict[str, Any]]:
        """Endless stream of events (without messageId/timestamp: the emitter stamps them)."""
        handlers: dict[str, Callable[[], Iterator[dict[str, Any]]]] = {
            "signup": self.signup, "step": self.complete_step, "feature": self.use_feature,
            "invite": self.send_invite, "upgrade": self.upgrade, "delete": self.delete_account,
        }
        while True:
            self.action_no += 1
            action = self._pick("action", self._action_names, self._action_weights)
            if action != "signup" and self.max_user_id == 0:
                action = "signup"
            yield from handlers[action]()

    def _now(self) -> datetime:
        return datetime.now(UTC)

    def _random_user(self, where: str = "status = 'active'") -> dict[str, Any] | None:
        """An existing user, roughly uniform over ids, read from the database (the source of truth)."""
        target = 1 + int(self._u("target") * max(self.max_user_id, 1))
        for clause, param in (("id >= %s", target), ("id < %s", target)):
            row = self.conn.execute(
                f"select {_USER_COLUMNS} from app.users where {where} and {clause} order by id limit 1",
                (param,)).fetchone()
            if row:
                return row
        return None

    def _persona(self, user_id: int) -> P.Persona:
        row = self.conn.execute("select persona from sim_truth.user_personas where user_id = %s",
                                (user_id,)).fetchone()
        name = row["persona"] if row else "explorer"
        return P.PERSONAS[P.PERSONA_NAMES.index(name)] if name in P.PERSONA_NAMES else P.PERSONAS[0]

    def signup(self) -> Iterator[dict[str, Any]]:
        """Landing page, signup form, then (mostly) a new account: user, workspace, plan, first step."""
        user_id = int(self.conn.execute("select nextval(pg_get_serial_sequence('app.users', 'id'))").fetchone()[
            "nextval"])
        prof = profiles(self.profile_draws, np.array([user_id]))
        source = P.SOURCES[int(prof.source[0])]
        user = {
            "id": user_id, "email": prof.email[0].as_py(), "full_name": prof.full_name[0].as_py(),
            "phone": prof.phone[0].as_py(), "ip": prof.ip_address[0].as_py(),
            "country_code": P.COUNTRY_CODES[int(prof.country[0])], "locale": P.COUNTRY_LOCALES[int(prof.country[0])],
            "signup_source": source, "utm_campaign": prof.campaign[0].as_py(),
            "device_type": P.DEVICES[int(prof.device[0])], "os": P.OS_NAMES[int(prof.os[0])],
            "browser": P.BROWSER_NAMES[int(prof.browser[0])], "plan": "free",
            "referral_code": prof.referral_code[0].as_py(),
        }
        persona = P.PERSONA_NAMES[int(prof.persona[0])]
        anonymous_id = deterministic_uuid(self.seed, self.run_no, "anon", self.action_no)
        landing = landing_page(user)
        signup_page = page_object("/signup", "Create your account", landing["url"])
        yield {"type": "page", "anonymousId": anonymous_id, "name": "Home", "properties": landing,
               "context": _context(user, landing)}
        yield {"type": "track", "event": "signup_started", "anonymousId": anonymous_id,
               "properties": {"signup_source": source, "method": "email"}, "context": _context(user, signup_page)}
        yield {"type": "track", "event": "form_filled", "anonymousId": anonymous_id,
               "properties": {"form": "signup", "fields": ["email", "full_name", "password"]
                              + (["phone"] if user["phone"] else [])},
               "context": _context(user, signup_page)}
        if self._u("abandon") < ABANDON_P:
            self.counts["abandoned_signups"] += 1
            return
        workspace_id = self._insert_user(user, persona, prof)
        self.max_user_id = max(self.max_user_id, user_id)
        self.counts["signups"] += 1
        welcome = page_object("/welcome", "Welcome", signup_page["url"])
        yield {"type": "identify", "userId": str(user_id), "anonymousId": anonymous_id,
               "traits": {"email": user["email"], "name": user["full_name"], "phone": user["phone"],
                          "plan": "free", "country": user["country_code"], "createdAt": iso(self._now()),
                          "workspaceId": str(workspace_id)},
               "context": _context(user, welcome)}
        yield {"type": "track", "event": "signup_completed", "userId": str(user_id), "anonymousId": anonymous_id,
               "properties": {"signup_source": source, "plan": "free", "workspace_id": str(workspace_id),
                              "referral_code": user["referral_code"]},
               "context": _context(user, welcome)}

    def _insert_user(self, user: dict[str, Any], persona: str, prof: Any) -> int:
        """Write a new account the way the app would: one transaction, every row stamped now."""
        now = self._now()
        with self.conn.transaction():
            joined = None
            if user["signup_source"] == "invite":
                joined = self.conn.execute(
                    "select id, owner_user_id from app.workspaces where id >= %s order by id limit 1",
                    (1 + int(self._u("invite.ws") * max(self.max_user_id, 1)),)).fetchone()
                if joined is None:
                    user["signup_source"] = "organic"
            referred_by = None
            if user["signup_source"] == "referral":
                row = self._random_user("true")
                referred_by = row["referral_code"] if row else None
            self.conn.execute(
                "insert into app.users (id, email, full_name, phone, ip_address, country_code, locale,"
                " signup_source, utm_campaign, referral_code, referred_by_code, device_type, os, browser, plan,"
                " status, marketing_opt_in, signed_up_at, last_seen_at, created_at, updated_at)"
                " values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, 'free', 'active', %s,"
                " %s, %s, %s, %s)",
                (user["id"], user["email"], user["full_name"], user["phone"], user["ip"], user["country_code"],
                 user["locale"], user["signup_source"], user["utm_campaign"], user["referral_code"], referred_by,
                 user["device_type"], user["os"], user["browser"], bool(prof.opt_in[0]), now, now, now, now))
            if joined is not None:
                workspace_id = joined["id"]
                role = "member"
                self.conn.execute(
                    "insert into app.invitations (workspace_id, inviter_user_id, invitee_email, status,"
                    " accepted_user_id, sent_at, accepted_at, created_at, updated_at)"
                    " values (%s, %s, %s, 'accepted', %s, %s, %s, %s, %s)",
                    (workspace_id, joined["owner_user_id"], user["email"], user["id"], now - timedelta(hours=2),
                     now, now - timedelta(hours=2), now))
            else:
                workspace_id = user["id"]  # the batch convention: an owner's workspace shares the user id
                role = "owner"
                word = P.COMPANY_WORDS[int(self._u("ws.word") * len(P.COMPANY_WORDS))]
                suffix = P.COMPANY_SUFFIXES[int(self._u("ws.suffix") * len(P.COMPANY_SUFFIXES))]
                self.conn.execute(
                    "insert into app.workspaces (id, owner_user_id, name, industry, company_size, created_at,"
                    " updated_at) values (%s, %s, %s, %s, %s, %s, %s)",
                    (workspace_id, user["id"], f"{word} {suffix}",
                     self._pick("ws.industry", P.INDUSTRIES, P.INDUSTRY_WEIGHTS),
                     self._pick("ws.size", P.COMPANY_SIZES, P.COMPANY_SIZE_TABLE[P.PERSONA_NAMES.index(persona)]),
                     now, now))
            self.conn.execute(
                "insert into app.workspace_members (workspace_id, user_id, role, joined_at, created_at, updated_at)"
                " values (%s, %s, %s, %s, %s, %s)", (workspace_id, user["id"], role, now, now, now))
            self.conn.execute(
                "insert into app.subscriptions (user_id, workspace_id, plan, status, seats, mrr_cents, currency,"
                " started_at, created_at, updated_at) values (%s, %s, 'free', 'active', 1, 0, %s, %s, %s, %s)",
                (user["id"], workspace_id, P.COUNTRY_CURRENCY[P.COUNTRY_CODES.index(user["country_code"])],
                 now, now, now))
            self.conn.execute(
                "insert into app.user_onboarding_progress (user_id, step_id, status, started_at, created_at,"
                " updated_at) values (%s, 1, 'in_progress', %s, %s, %s)", (user["id"], now, now, now))
            self.conn.execute("insert into sim_truth.user_personas (user_id, persona) values (%s, %s)"
                              " on conflict (user_id) do update set persona = excluded.persona",
                              (user["id"], persona))
        return workspace_id

    def complete_step(self) -> Iterator[dict[str, Any]]:
        """A user finishes their next onboarding step (an upsert into user_onboarding_progress)."""
        user = self._random_user()
        if user is None:
            return
        now = self._now()
        with self.conn.transaction():
            step = self.conn.execute(
                "select s.id, s.key, s.name, s.sort_order from app.onboarding_steps s where not exists ("
                " select 1 from app.user_onboarding_progress p where p.user_id = %s and p.step_id = s.id"
                " and p.status = 'completed') order by s.sort_order limit 1", (user["id"],)).fetchone()
            if step is None:
                return
            self.conn.execute(
                "insert into app.user_onboarding_progress (user_id, step_id, status, started_at, completed_at,"
                " created_at, updated_at) values (%s, %s, 'completed', %s, %s, %s, %s)"
                " on conflict (user_id, step_id) do update set status = 'completed',"
                " completed_at = excluded.completed_at, updated_at = excluded.updated_at",
                (user["id"], step["id"], now, now, now, now))
            self.conn.execute(
                "update app.users set last_seen_at = %s, updated_at = %s,"
                " email_verified_at = case when %s then %s else email_verified_at end where id = %s",
                (now, now, step["key"] == "verify_email", now, user["id"]))
        self.counts["steps_completed"] += 1
        page = page_object(f"/onboarding/{step['key']}", step["name"], f"{APP}/onboarding")
        yield {"type": "page", "userId": str(user["id"]), "name": step["name"], "properties": page,
               "context": _context(user, page)}
        yield {"type": "track", "event": "onboarding_step_completed", "userId": str(user["id"]),
               "properties": {"step_id": step["id"], "step_key": step["key"], "step_name": step["name"],
                              "sort_order": step["sort_order"]},
               "context": _context(user, page)}

    def use_feature(self) -> Iterator[dict[str, Any]]:
        """A user uses a feature their persona favours (an upsert into feature_usage)."""
        user = self._random_user()
        if user is None:
            return
        persona = self._persona(user["id"])
        feature = self._pick("feature", P.FEATURES, P.FEATURE_TABLE[P.PERSONA_NAMES.index(persona.name)])
        now = self._now()
        with self.conn.transaction():
            member = self.conn.execute("select workspace_id from app.workspace_members where user_id = %s"
                                       " order by id limit 1", (user["id"],)).fetchone()
            workspace_id = member["workspace_id"] if member else None
            usage = self.conn.execute(
                "insert into app.feature_usage (user_id, workspace_id, feature, usage_count, first_used_at,"
                " last_used_at, created_at, updated_at) values (%s, %s, %s, 1, %s, %s, %s, %s)"
                " on conflict (user_id, feature) do update set usage_count = app.feature_usage.usage_count + 1,"
                " last_used_at = excluded.last_used_at, updated_at = excluded.updated_at returning usage_count",
                (user["id"], workspace_id, feature, now, now, now, now)).fetchone()
            self.conn.execute("update app.users set last_seen_at = %s, updated_at = %s where id = %s",
                              (now, now, user["id"]))
        self.counts["features_used"] += 1
        page = page_object(f"/{feature.replace('_', '-')}", feature.replace("_", " ").title(), f"{APP}/home")
        yield {"type": "track", "event": "feature_used", "userId": str(user["id"]),
               "properties": {"feature": feature, "workspace_id": str(workspace_id) if workspace_id else None,
                              "usage_count": usage["usage_count"]},
               "context": _context(user, page)}

    def send_invite(self) -> Iterator[dict[str, Any]]:
        """A workspace owner invites a teammate (a pending invitation row)."""
        owner = self._random_user("status = 'active' and exists (select 1 from app.workspaces w"
                                  " where w.owner_user_id = app.users.id)")
        if owner is None:
            return
        first = P.NAME_POOLS["en"][0][int(self._u("invitee.first") * len(P.NAME_POOLS["en"][0]))].lower()
        last = P.NAME_POOLS["en"][1][int(self._u("invitee.last") * len(P.NAME_POOLS["en"][1]))].lower()
        now = self._now()
        with self.conn.transaction():
            ws = self.conn.execute("select id, name from app.workspaces where owner_user_id = %s order by id limit 1",
                                   (owner["id"],)).fetchone()
            email = f"{first}.{last}@{ws['name'].split()[0].lower()}.com"
            invite = self.conn.execute(
                "insert into app.invitations (workspace_id, inviter_user_id, invitee_email, status, sent_at,"
                " created_at, updated_at) values (%s, %s, %s, 'pending', %s, %s, %s) returning id",
                (ws["id"], owner["id"], email, now, now, now)).fetchone()
            self.conn.execute("update app.users set last_seen_at = %s, updated_at = %s where id = %s",
                              (now, now, owner["id"]))
        self.counts["invites_sent"] += 1
        page = page_object("/settings/members", "Members", f"{APP}/home")
        yield {"type": "track", "event": "invite_sent", "userId": str(owner["id"]),
               "properties": {"workspace_id": str(ws["id"]), "invitation_id": str(invite["id"]),
                              "invitee_email": email, "role": "member"},
               "context": _context(owner, page)}

    def upgrade(self) -> Iterator[dict[str, Any]]:
        """A user moves to a higher plan: users.plan updated, old subscription superseded, new one added."""
        user = self._random_user("status = 'active' and plan <> 'enterprise'")
        if user is None:
            return
        persona = self._persona(user["id"])
        higher = [p for p in P.PAID_PLANS if _PLAN_ORDER[p] > _PLAN_ORDER[user["plan"]]]
        weights = [persona.paid_plans.get(p, 0.0) + 0.01 for p in higher]
        to_plan = self._pick("upgrade.plan", tuple(higher), tuple(weights))
        interval = "year" if self._u("upgrade.yearly") < persona.annual_p else "month"
        seats = 10 if to_plan == "enterprise" else 1 + int(self._u("upgrade.seats") * 5)
        mrr = round(P.PLAN_PRICE_CENTS[to_plan] * seats * (0.8 if interval == "year" else 1.0))
        currency = P.COUNTRY_CURRENCY[P.COUNTRY_CODES.index(user["country_code"])]
        now = self._now()
        with self.conn.transaction():
            current = self.conn.execute(
                "update app.subscriptions set status = 'superseded', ended_at = %s, updated_at = %s"
                " where user_id = %s and status = 'active' returning workspace_id", (now, now, user["id"])).fetchone()
            self.conn.execute(
                "insert into app.subscriptions (user_id, workspace_id, plan, status, billing_interval, seats,"
                " mrr_cents, currency, started_at, created_at, updated_at)"
                " values (%s, %s, %s, 'active', %s, %s, %s, %s, %s, %s, %s)",
                (user["id"], current["workspace_id"] if current else None, to_plan, interval, seats, mrr, currency,
                 now, now, now))
            self.conn.execute("update app.users set plan = %s, last_seen_at = %s, updated_at = %s where id = %s",
                              (to_plan, now, now, user["id"]))
        self.counts["upgrades"] += 1
        page = page_object("/billing/checkout", "Checkout", f"{APP}/billing")
        context = _context(user, page)
        yield {"type": "track", "event": "plan_upgraded", "userId": str(user["id"]),
               "properties": {"from_plan": user["plan"], "to_plan": to_plan, "billing_interval": interval,
                              "seats": seats, "mrr_cents": mrr, "currency": currency},
               "context": context}
        yield {"type": "identify", "userId": str(user["id"]), "traits": {"plan": to_plan}, "context": context}

    def delete_account(self) -> Iterator[dict[str, Any]]:
        """A user deletes their account: the row and (by cascade) their rows elsewhere disappear."""
        user = self._random_user("true")
        if user is None:
            return
        with self.conn.transaction():
            self.conn.execute("delete from app.users where id = %s", (user["id"],))
        self.counts["deletions"] += 1
        return
        yield  # a generator with no events: deletions are only visible through CDC


def run_live(app_db_url: str, seed: int, rate: float, duration_s: float | None, max_events: int | None,
             sink: EventSink) -> dict[str, int]:
    """Produce live changes and ``rate`` events/s until duration, max_events or Ctrl-C; closes ``sink``."""
    from onramp import migrations

    if rate <= 0:
        raise ValueError(f"rate must be positive events per second, got {rate}")
    migrations.migrate(app_db_url, "app")
    started = datetime.now(UTC)
    # Not a `with` block: Ctrl-C can land mid-query and leave this session unusable ("another command is
    # already in progress"), and leaving the block would then fail on its COMMIT instead of returning counts.
    conn = db.connect(app_db_url, "simulator", autocommit=True, row_factory=dict_row)
    try:
        run_no = conn.execute(
            "insert into sim_truth.live_runs (run_no, seed, started_at)"
            " select coalesce(max(run_no), 0) + 1, %s, %s from sim_truth.live_runs returning run_no",
            (seed, started)).fetchone()["run_no"]
        run = LiveRun(conn, seed, run_no)
        events = Counter[str]()
        interrupted = False
        stream = run.actions()
        began = clock_start = time.monotonic()
        n = 0
        try:
            while max_events is None or n < max_events:
                # Pace before pulling: the action's database write happens just before its event is sent.
                due = clock_start + n / rate
                now = time.monotonic()
                if duration_s is not None and max(now, due) - began >= duration_s:
                    break
                if due > now:
                    time.sleep(due - now)
                elif now - due > 1.0:
                    clock_start = now - n / rate  # fell behind (slow database): do not burst to catch up
                event = next(stream)
                message = {"messageId": deterministic_uuid(seed, run_no, "msg", n), "timestamp": iso(run._now()),
                           **event}
                n += 1
                sink.send(message)
                events[message["type"]] += 1
                if event.get("event"):
                    events[message["event"]] += 1
                if n % 100 == 0:
                    sink.flush()
        except KeyboardInterrupt:
            interrupted = True
            log.info("live simulation interrupted after %d events; flushing the sink", n)
        finally:
            stream.close()
            try:
                sink.flush()
            finally:
                sink.close()
        counts = {"events": sum(v for k, v in events.items() if k in ("track", "identify", "page")),
                  **{k: v for k, v in sorted(events.items())}, **dict(sorted(run.counts.items()))}
    finally:
        conn.close()
    # recorded on a fresh connection, for the same reason
    try:
        with db.connect(app_db_url, "simulator", autocommit=True) as conn:
            conn.execute("update sim_truth.live_runs set stopped_at = %s, counts = %s where run_no = %s",
                         (datetime.now(UTC), json.dumps({**counts, "interrupted": interrupted}), run_no))
    except (psycopg.Error, db.DatabaseUnavailable) as exc:  # the counts are still returned
        log.warning("could not record live run %s in sim_truth.live_runs: %s", run_no, exc)
    return counts
