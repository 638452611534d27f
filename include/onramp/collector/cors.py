"""Browser access to the collector: which page origins may send with a write key, and the CORS answers.

Browser SDKs (analytics.js, RudderStack's) send ``Authorization: Basic`` and ``X-Retry-Count`` headers,
so every call from a page on another origin is preceded by an ``OPTIONS`` preflight. A preflight
carries no write key, so it cannot be judged per key: it is answered 204 for any origin, and the key's
allowlist is enforced on the call itself, which carries both the key and the ``Origin`` header (beacons
included, which skip the preflight). A call from an origin its key does not allow is refused with
``403 origin_not_allowed`` and nothing is stored.

Every answer to a request with an ``Origin`` header reflects that origin, errors included, so the SDK can
read the status (a 400 is final, a 429 or 503 is retried after ``Retry-After``, which is exposed to the
page) instead of seeing an opaque network error that it would retry until it gives up.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

ANY = "*"
# What the browser SDKs send beyond the CORS-safelisted headers: analytics.js (Authorization, X-Retry-Count),
# RudderStack v3 (AnonymousId, SentAt, and its Rsa-* delivery headers on retried or recovered batches).
ALLOWED_HEADERS = ", ".join((
    "Authorization", "Content-Type", "Content-Encoding", "X-Retry-Count",
    "AnonymousId", "SentAt", "Rsa-Recovered", "Rsa-Retry-Attempt", "Rsa-Retry-Reason", "Rsa-Since-First-Attempt",
    "Rsa-Since-Last-Attempt",
))
MAX_AGE_S = 86_400  # browsers cap it (Chromium at 2 h, Firefox at 24 h)
_DEFAULT_PORTS = {"http": 80, "https": 443}


class OriginPatternError(ValueError):
    """An allowed-origin entry is not ``*``, ``scheme://host[:port]`` or ``scheme://*.domain[:port]``."""


@dataclass(frozen=True)
class _Pattern:
    scheme: str
    host: str  # lower case; a leading "*." means any subdomain of the rest
    port: int


def _split(origin: str) -> tuple[str, str, int] | None:
    try:
        parts = urlsplit(origin.strip())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname or parts.path not in ("", "/") \
            or parts.query or parts.fragment or parts.username is not None:
        return None
    return parts.scheme, parts.hostname.lower(), port or _DEFAULT_PORTS[parts.scheme]


def parse_pattern(text: str) -> _Pattern | str:
    """``*`` or a compiled origin pattern; raises :class:`OriginPatternError` with what is wrong."""
    text = text.strip()
    if text == ANY:
        return ANY
    split = _split(text.replace("://*.", "://wildcard.", 1))
    if split is None:
        raise OriginPatternError(f"{text!r} is not an origin; write it as https://app.example.com, "
                                 "https://*.example.com, http://127.0.0.1:8091 or *")
    scheme, host, port = split
    if "://*." in text:
        host = "*." + host.removeprefix("wildcard.")
    return _Pattern(scheme, host, port)


class Origins:
    """The origins one write key accepts browser calls from."""

    def __init__(self, patterns: tuple[str, ...] = ()):
        compiled = [parse_pattern(p) for p in patterns]
        self.any = ANY in compiled
        self.patterns = tuple(p for p in compiled if p != ANY)
        self._cache: dict[str, bool] = {}

    def allows(self, origin: str) -> bool:
        if self.any:
            return True
        known = self._cache.get(origin)
        if known is not None:
            return known
        allowed = self._match(origin)
        if len(self._cache) < 10_000:
            self._cache[origin] = allowed
        return allowed

    def _match(self, origin: str) -> bool:
        split = _split(origin)
        if split is None:  # "null" (sandboxed frames, file: pages) and anything malformed: only "*" admits it
            return False
        scheme, host, port = split
        for p in self.patterns:
            if p.scheme != scheme or p.port != port:
                continue
            if p.host == host or (p.host.startswith("*.") and host.endswith(p.host[1:])):
                return True
        return False


def preflight_headers(origin: str | None) -> dict[str, str]:
    """The answer to an ``OPTIONS`` preflight (any origin: the call itself is judged per write key)."""
    headers = {
        "Access-Control-Allow-Methods": "POST",
        "Access-Control-Allow-Headers": ALLOWED_HEADERS,
        "Access-Control-Max-Age": str(MAX_AGE_S),
        "Vary": "Origin, Access-Control-Request-Headers",
    }
    if origin:
        headers["Access-Control-Allow-Origin"] = origin
    return headers


def response_headers(origin: str) -> dict[str, str]:
    """CORS headers for the answer to a call carrying ``Origin``: reflected, ``Retry-After`` readable."""
    return {"Access-Control-Allow-Origin": origin, "Access-Control-Expose-Headers": "Retry-After", "Vary": "Origin"}
