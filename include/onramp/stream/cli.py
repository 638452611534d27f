"""``onramp stream``: drain the event stream into the lake and warehouse; replay dead letters."""

from __future__ import annotations

import json
import signal
import uuid
from typing import Annotated

import typer

from onramp.cli_support import friendly

app = typer.Typer(help="The event stream: Redis -> Parquet lake + warehouse raw.events; dead letters.",
                  no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False)


@app.command()
@friendly
def drain(
    follow: Annotated[bool, typer.Option("--follow", help="keep consuming (the long-running loader service)")] = False,
    max_seconds: Annotated[float, typer.Option(help="stop after this many seconds (0 = no limit)")] = 0,
    consumer: Annotated[str, typer.Option(help="consumer name in the group (default loader-<host>)")] = "",
    no_gate: Annotated[bool, typer.Option("--no-gate", help="skip the GX gate (never in production)")] = False,
) -> None:
    """Load micro-batches until the stream is empty (or forever with --follow); dead letters go to ops."""
    import logging

    from onramp.stream.service import drain as run_drain

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    stopping = {"now": False}

    def stop(signum, frame):
        stopping["now"] = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    report, dead = run_drain(follow=follow, max_seconds=max_seconds or None, consumer=consumer or None,
                             gate=not no_gate, should_stop=lambda: stopping["now"])
    typer.echo(json.dumps({"dead_letters": dead, **report.as_dict()}))


@app.command("dlq-replay")
@friendly
def dlq_replay(
    reason: Annotated[str, typer.Option(help="reason code, e.g. schema.enum, unknown_event (schema.* for a family)")] = "",
    event_name: Annotated[str, typer.Option(help="only this event name")] = "",
    since: Annotated[str, typer.Option(help="received at or after (ISO 8601)")] = "",
    until: Annotated[str, typer.Option(help="received before (ISO 8601)")] = "",
    schema_version: Annotated[str, typer.Option(help="failed against this schema, e.g. signup_started/v1")] = "",
    run_id: Annotated[str, typer.Option(help="name of this replay (default: a new id)")] = "",
) -> None:
    """Re-validate pending dead letters against the tracking plan in force; re-inject those that pass."""
    from onramp.stream.service import replay_dead_letters

    report, drained = replay_dead_letters(run_id or f"cli-{uuid.uuid4().hex[:12]}", reason=reason,
                                          event_name=event_name, since=since, until=until,
                                          schema_version=schema_version)
    typer.echo(json.dumps({"drained_dead_letters": drained, **report.as_dict()}))


def main() -> None:
    app()


if __name__ == "__main__":
    main()
