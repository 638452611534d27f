"""The example onboarding page (``examples/web/``), served from its own origin so browser SDKs really cross
to the collector: Segment's analytics.js and RudderStack's SDK, both from their npm packages.

``onramp web serve`` runs it in the foreground, ``onramp web up`` / ``down`` in the background (the demo).
The page reads its write key and collector URL from ``/config.js``, generated from the settings.
"""

from __future__ import annotations

import json
from pathlib import Path

from onramp.local import processes
from onramp.settings import PROJECT_ROOT, Settings, SettingsError

NAME = "web-example"
EXAMPLE_DIR = PROJECT_ROOT / "examples" / "web"
NODE_MODULES = EXAMPLE_DIR / "node_modules"
# URL path under /vendor -> the npm package folder it serves (browser builds only)
VENDOR = {
    "segment/analytics-next/bundles": NODE_MODULES / "@segment" / "analytics-next" / "dist" / "umd",
    "rudderstack": NODE_MODULES / "@rudderstack" / "analytics-js" / "dist" / "npm" / "modern" / "bundled" / "umd",
}
SDKS = ("segment", "rudderstack")


class WebExampleError(RuntimeError):
    """The example page cannot be served; the message says what to install or set."""


def url(settings: Settings) -> str:
    return f"http://{settings.web_host}:{settings.web_port}"


def log_path(settings: Settings) -> Path:
    return settings.home_path / "logs" / "web-example.log"


def collector_url(settings: Settings) -> str:
    """The collector as a browser on this machine reaches it."""
    if settings.web_collector_url:
        return settings.web_collector_url.rstrip("/")
    host = "127.0.0.1" if settings.collector_host in ("0.0.0.0", "::", "") else settings.collector_host
    return f"http://{host}:{settings.collector_port}"


def missing_sdks() -> list[str]:
    """The npm packages not installed under examples/web/node_modules (``make setup`` installs them)."""
    return [path.relative_to(NODE_MODULES).parts[0] + "/" + path.relative_to(NODE_MODULES).parts[1]
            for path in VENDOR.values() if not (path / "index.js").is_file()]


def page_config(settings: Settings) -> dict:
    """What the page needs: write key, collector URL, default SDK."""
    from onramp.collector.config import DEMO_WRITE_KEY, read_write_keys

    keys, origins = read_write_keys(settings)
    key = settings.web_write_key or (DEMO_WRITE_KEY if list(keys) == [DEMO_WRITE_KEY] else "")
    if not key:
        raise SettingsError("the collector has write keys configured: set ONRAMP_WEB_WRITE_KEY to the one the "
                            f"example page sends with, and allow its origin {url(settings)} for that key")
    if key not in keys:
        raise SettingsError("ONRAMP_WEB_WRITE_KEY is not one of the collector's write keys")
    from onramp.collector.cors import Origins

    if not Origins(origins[key]).allows(url(settings)):
        raise SettingsError(f"the example page's origin {url(settings)} is not allowed for its write key (source "
                            f"{keys[key]!r}); add it to that key's allowed_origins or ONRAMP_COLLECTOR_ALLOWED_ORIGINS")
    return {"writeKey": key, "collectorUrl": collector_url(settings), "sdk": "segment"}


def create_app(settings: Settings):
    """The Starlette app: the example's pages, ``/config.js``, and the SDK builds under ``/vendor``."""
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse, Response
    from starlette.routing import Mount, Route
    from starlette.staticfiles import StaticFiles

    missing = missing_sdks()
    if missing:
        raise WebExampleError(f"the browser SDKs are not installed ({', '.join(missing)}): run `make setup` on a "
                              "machine with npm (it runs `npm ci` in examples/web)")
    config = page_config(settings)
    script = f"window.ONRAMP_CONFIG = {json.dumps(config)};\n".encode()

    async def config_js(request) -> Response:
        return Response(script, media_type="application/javascript", headers={"Cache-Control": "no-store"})

    async def health(request) -> Response:
        return PlainTextResponse("ok")

    routes = [
        Route("/config.js", config_js),
        Route("/health", health),
        *(Mount(f"/vendor/{prefix}", StaticFiles(directory=path)) for prefix, path in VENDOR.items()),
        Mount("/", StaticFiles(directory=EXAMPLE_DIR, html=True)),
    ]
    return Starlette(routes=routes)


def serve(settings: Settings) -> None:
    import uvicorn

    uvicorn.run(create_app(settings), host=settings.web_host, port=settings.web_port, log_level="warning",
                access_log=False)


def start(settings: Settings, timeout: float = 30) -> str:
    """Serve the example page in the background (unless it runs already); returns its URL."""
    if missing := missing_sdks():
        raise WebExampleError(f"the browser SDKs are not installed ({', '.join(missing)}): run `make setup` on a "
                              "machine with npm")
    page_config(settings)  # a configuration problem is reported here, not in the background log
    processes.start_http_service(settings, NAME, ["web", "serve"], f"{url(settings)}/health", log_path(settings),
                                 timeout)
    return url(settings)


def stop(settings: Settings) -> list[str]:
    return processes.stop(settings, [NAME], timeout=10)
