"""``onramp collector``: run the Segment-compatible collector service."""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import Annotated

import typer

from onramp.cli_support import friendly

app = typer.Typer(help="The Segment-compatible event collector (HTTP Tracking API -> Redis stream).",
                  no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False)


@app.command()
@friendly
def serve(
    host: Annotated[str, typer.Option(help="address to listen on (default ONRAMP_COLLECTOR_HOST or 127.0.0.1)")] = "",
    port: Annotated[int, typer.Option(help="port (default ONRAMP_COLLECTOR_PORT or 8090)")] = 0,
    workers: Annotated[int, typer.Option(help="worker processes, each with its own listening socket (default ONRAMP_COLLECTOR_WORKERS or 1)")] = 0,
    log_level: Annotated[str, typer.Option(help="uvicorn log level")] = "warning",
) -> None:
    """Serve /v1/track|identify|page|screen|group|alias|batch, /health, /metrics and /openapi.json."""
    import uvicorn

    from onramp.collector import workers as balanced
    from onramp.collector.config import DEMO_WRITE_KEY, CollectorConfig

    config = CollectorConfig.from_settings()
    host = host or config.host
    port = port or config.port
    workers = workers or config.workers
    if list(config.write_keys) == [DEMO_WRITE_KEY]:
        typer.echo(f"warning: no write keys configured; accepting only the demo key {DEMO_WRITE_KEY!r} "
                   "(set ONRAMP_COLLECTOR_WRITE_KEYS for anything but a local demo)", err=True)
    metrics_dir = None
    if workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        metrics_dir = tempfile.mkdtemp(prefix="onramp-collector-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    if workers > 1 and balanced.SUPPORTED:
        balanced.check_free(host, port)
    typer.echo(f"collector listening on http://{host}:{port} ({workers} worker{'s' if workers > 1 else ''}); "
               f"OpenAPI at /openapi.json")
    try:
        if workers > 1 and balanced.SUPPORTED:  # one listening socket per worker: connections spread over all
            balanced.serve(host, port, workers, log_level)
        else:
            uvicorn.run("onramp.collector.app:serve_app", factory=True, host=host, port=port, workers=workers,
                        log_level=log_level, access_log=False, loop="uvloop", http="httptools",
                        timeout_graceful_shutdown=10)
    finally:
        if metrics_dir:
            shutil.rmtree(metrics_dir, ignore_errors=True)


@app.command("openapi")
@friendly
def openapi() -> None:
    """Print the collector's OpenAPI document."""
    import json

    from onramp.collector.config import CollectorConfig
    from onramp.collector.openapi import document
    from onramp.collector.plan import TrackingPlan

    config = CollectorConfig.from_settings()
    plan = TrackingPlan(unknown_events=config.unknown_events)
    typer.echo(json.dumps(document(plan, config.max_event_bytes, config.max_request_bytes), indent=2))


def main() -> None:
    app()


if __name__ == "__main__":
    main()
